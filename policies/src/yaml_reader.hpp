// Strict reading of operator YAML: every access checks the node's type and
// range and records an error with file:line:column instead of throwing.
// Unknown and duplicate keys are errors; unknown keys get a suggestion.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vfsteer/common/result.hpp"
#include "vfsteer/policies/loader.hpp"
#include "vfsteer/policies/source.hpp"
#include "yaml_tree.hpp"

namespace vfsteer::policies::detail {

// The closest candidate to `word` when it is near enough to be a likely typo.
std::optional<std::string> suggest(std::string_view word,
                                   const std::vector<std::string_view>& candidates);

class YamlReader {
 public:
  explicit YamlReader(std::string file) : file_(std::move(file)) {}

  // Parses a document; a syntax error is recorded with its position. The
  // items of `stream`'s sequence go to its callback and are not kept.
  std::optional<YamlNode> parse(std::istream& in, const YamlStream* stream = nullptr);
  std::optional<YamlNode> parse(std::string_view text);

  SourcePos pos(const YamlNode& node) const;
  void error(const YamlNode& at, std::string_view path, std::string message);
  void errorAt(const SourcePos& at, std::string_view path, std::string message);
  bool failed() const { return !errors_.empty(); }
  // All recorded problems as one kInvalidInput error, one per line.
  Error toError() const;
  const std::vector<LoadProblem>& problems() const { return errors_; }

  // The node must be a map whose keys are all in `allowed` and unique.
  bool expectMap(const YamlNode& node, std::string_view path,
                 std::initializer_list<std::string_view> allowed);
  bool expectSequence(const YamlNode& node, std::string_view path);
  // A required key of a map already checked with expectMap.
  bool require(const YamlNode& map, std::string_view key, std::string_view path);

  std::optional<uint64_t> unsignedInt(const YamlNode& node, std::string_view path,
                                      uint64_t min, uint64_t max);
  std::optional<bool> boolean(const YamlNode& node, std::string_view path);
  std::optional<std::string> string(const YamlNode& node, std::string_view path);
  // A string that must be one of `choices` (with a suggestion when it is not).
  std::optional<std::string> oneOf(const YamlNode& node, std::string_view path,
                                   std::initializer_list<std::string_view> choices);
  std::optional<std::string> oneOf(const YamlNode& node, std::string_view path,
                                   std::span<const std::string_view> choices);

  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<LoadProblem> errors_;
};

// "chains[2].match" style paths.
inline std::string child(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return std::string(path) + "." + std::string(key);
}
inline std::string element(std::string_view path, size_t index) {
  return std::string(path) + "[" + std::to_string(index) + "]";
}

}  // namespace vfsteer::policies::detail
