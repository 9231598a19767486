// The floor of reading a YAML policy: yaml-cpp's parser calling an event
// handler that does nothing (no node tree, no checks). The benchmarks
// measure vfsteer's own reading against it, in the same run.
#pragma once

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <string>

namespace vfsteer::bench {

class NullHandler : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

inline void scanYaml(const std::string& file) {
  std::ifstream in(file);
  YAML::Parser parser(in);
  NullHandler handler;
  parser.HandleNextDocument(handler);
}

}  // namespace vfsteer::bench
