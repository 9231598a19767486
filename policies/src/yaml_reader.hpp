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

// Where a node is in the document, "chains[2].match.dst_ip": a chain of
// references to the enclosing paths, spelled out only when an error needs it.
// Nearly every field reads without error, and building each field's path as
// a string cost a tenth of loading a large policy. A path refers to its
// parent and (for a key) to the key's characters: both must outlive it, so
// child() and element() take named paths only, never temporaries.
class YamlPath {
 public:
  YamlPath() = default;  // the document itself
  // A path from the top of the document, written out ("device.vfs").
  YamlPath(const char* spelled) : key_(spelled) {}

  std::string str() const;

 private:
  friend YamlPath child(const YamlPath& parent, std::string_view key);
  friend YamlPath element(const YamlPath& parent, size_t index);
  static constexpr size_t kNoIndex = ~size_t{0};
  const YamlPath* parent_ = nullptr;
  std::string_view key_;
  size_t index_ = kNoIndex;  // an element of the parent sequence, or a key
};

inline YamlPath child(const YamlPath& parent, std::string_view key) {
  YamlPath p;
  p.parent_ = &parent;
  p.key_ = key;
  return p;
}
inline YamlPath element(const YamlPath& parent, size_t index) {
  YamlPath p;
  p.parent_ = &parent;
  p.index_ = index;
  return p;
}
// A temporary parent would be gone before the path is used.
YamlPath child(YamlPath&& parent, std::string_view key) = delete;
YamlPath element(YamlPath&& parent, size_t index) = delete;

class YamlReader {
 public:
  explicit YamlReader(std::string file) : file_(std::move(file)) {}

  // Parses a document; a syntax error is recorded with its position. The
  // items of `stream`'s sequence go to its callback and are not kept.
  std::optional<YamlDocument> parse(std::istream& in, const YamlStream* stream = nullptr);
  std::optional<YamlDocument> parse(std::string_view text);

  SourcePos pos(const YamlNode& node) const;
  void error(const YamlNode& at, const YamlPath& path, std::string message);
  // `where` spelled out: a path, or words for a problem between fields.
  void errorAt(const SourcePos& at, std::string where, std::string message);
  bool failed() const { return !errors_.empty(); }
  // All recorded problems as one kInvalidInput error, one per line.
  Error toError() const;
  const std::vector<LoadProblem>& problems() const { return errors_; }

  // The node must be a map whose keys are all in `allowed` and unique.
  bool expectMap(const YamlNode& node, const YamlPath& path,
                 std::initializer_list<std::string_view> allowed);
  bool expectSequence(const YamlNode& node, const YamlPath& path);
  // A required key of a map already checked with expectMap.
  bool require(const YamlNode& map, std::string_view key, const YamlPath& path);

  std::optional<uint64_t> unsignedInt(const YamlNode& node, const YamlPath& path,
                                      uint64_t min, uint64_t max);
  std::optional<bool> boolean(const YamlNode& node, const YamlPath& path);
  std::optional<std::string> string(const YamlNode& node, const YamlPath& path);
  // A string that must be one of `choices` (with a suggestion when it is not).
  std::optional<std::string> oneOf(const YamlNode& node, const YamlPath& path,
                                   std::initializer_list<std::string_view> choices);
  std::optional<std::string> oneOf(const YamlNode& node, const YamlPath& path,
                                   std::span<const std::string_view> choices);

  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<LoadProblem> errors_;
};
}  // namespace vfsteer::policies::detail
