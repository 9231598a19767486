// The floors of reading a YAML policy: a parser's event stream with nothing
// done with the events (no node tree, no checks). libyaml is what vfsteer
// reads policies with; yaml-cpp's event API is the baseline the engine
// issue set (vfsteer read policies with yaml-cpp before). The benchmarks
// measure vfsteer's own reading against these, in the same run.
#pragma once

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>
#include <yaml.h>

#include <cstdio>
#include <fstream>
#include <memory>
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

inline void scanYamlCpp(const std::string& file) {
  std::ifstream in(file);
  YAML::Parser parser(in);
  NullHandler handler;
  parser.HandleNextDocument(handler);
}

// Every event of the file's first document; false when it does not parse.
inline bool scanLibyaml(const std::string& file) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(file.c_str(), "rb"), std::fclose);
  if (!f) return false;
  yaml_parser_t parser;
  yaml_parser_initialize(&parser);
  yaml_parser_set_input_file(&parser, f.get());
  bool ok = true;
  for (bool end = false; !end;) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) {
      ok = false;
      break;
    }
    end = event.type == YAML_DOCUMENT_END_EVENT || event.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&event);
  }
  yaml_parser_delete(&parser);
  return ok;
}

}  // namespace vfsteer::bench
