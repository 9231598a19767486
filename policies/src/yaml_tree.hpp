// A YAML document as a small tree built from libyaml's event API, with the
// position of every node. A node tree of yaml-cpp costs about 11 KiB per
// policy chain; this one holds a chain in about 2 KiB, and only while it is
// read: the items of one sequence (a policy's chains) can be handed to a
// callback as each one ends and then dropped, so a document of 100,000
// chains is never in memory as a whole. libyaml, not yaml-cpp's event API:
// its scanner is about five times faster, and scanning is most of the time
// a large policy takes to plan.
#pragma once

#include <cstddef>
#include <functional>
#include <istream>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace vfsteer::policies::detail {

class YamlNode {
 public:
  enum class Type { kUndefined, kNull, kScalar, kSequence, kMap };
  struct Mark {
    int line = -1;  // 0-based, as libyaml counts; -1 when unknown
    int column = -1;
    bool unknown() const { return line < 0; }
  };

  YamlNode() = default;
  YamlNode(Type type, Mark mark) : type_(type), mark_(mark) {}

  Type type() const { return type_; }
  bool IsDefined() const { return type_ != Type::kUndefined; }
  bool IsNull() const { return type_ == Type::kNull; }
  bool IsScalar() const { return type_ == Type::kScalar; }
  bool IsSequence() const { return type_ == Type::kSequence; }
  bool IsMap() const { return type_ == Type::kMap; }
  explicit operator bool() const { return IsDefined(); }
  const std::string& Scalar() const { return scalar_; }
  Mark mark() const { return mark_; }

  // Items of a sequence, entries of a map (keys need not be scalars).
  size_t size() const { return type_ == Type::kMap ? children_.size() / 2 : children_.size(); }
  const YamlNode& operator[](size_t i) const;
  // The key and the value of a map's entry i (i < size()).
  const YamlNode& key(size_t i) const { return children_[2 * i]; }
  const YamlNode& value(size_t i) const { return children_[2 * i + 1]; }
  // The value of the first entry whose key is the scalar `key`; an
  // undefined node when there is none (or this is not a map).
  const YamlNode& operator[](std::string_view key) const;

 private:
  friend class YamlTreeBuilder;
  Type type_ = Type::kUndefined;
  Mark mark_;
  std::string scalar_;
  // A sequence's items, or a map's keys and values in turn (key, value,
  // key, ...): one vector, so a node is smaller and a map's key needs no
  // separate holding place while its value is read.
  std::vector<YamlNode> children_;
};

// Where to stream: the items of the sequence under this key of the
// document's top-level map go to `onItem` (with their index) as each one
// ends; the tree keeps that sequence empty.
struct YamlStream {
  std::string key;
  std::function<void(const YamlNode& item, size_t index)> onItem;
};

constexpr size_t kMaxYamlDepth = 64;
constexpr size_t kMaxAliasNodes = 1000000;

struct YamlSyntaxError {
  std::string message;
  YamlNode::Mark mark;
};

// Parses the first document of `in`. Returns the root (kNull for an empty
// document) or the syntax error. Plain `~`, `null` and empty values are
// null nodes; everything else is left to the reader to interpret. Besides
// YAML's own errors it refuses nesting deeper than kMaxYamlDepth and
// aliases that expand to more than kMaxAliasNodes nodes in all.
std::variant<YamlNode, YamlSyntaxError> parseYaml(std::istream& in, const YamlStream* stream = nullptr);

}  // namespace vfsteer::policies::detail
