// A YAML document built from libyaml's event API, with the position of
// every node, stored flat: nodes, child links and scalar characters in three
// vectors, and nodes handed out as small handles (YamlNode) into them. A
// node is built without an allocation of its own, and the items of one
// sequence (a policy's chains) can be handed to a callback as each one ends
// and then dropped, the vectors keeping their room for the next one: a
// document of 100,000 chains is never in memory as a whole. libyaml, not
// yaml-cpp's event API: its scanner is about five times faster, and
// scanning is most of the time a large policy takes to plan.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace vfsteer::policies::detail {

class YamlDocument;

// A node of a YamlDocument: valid while the document lives (and, for an
// item handed to a YamlStream callback, during the call only). A default
// node is undefined: what a missing key or index gives.
class YamlNode {
 public:
  enum class Type : uint8_t { kUndefined, kNull, kScalar, kSequence, kMap };
  struct Mark {
    int line = -1;  // 0-based, as libyaml counts; -1 when unknown
    int column = -1;
    bool unknown() const { return line < 0; }
  };

  YamlNode() = default;

  Type type() const;
  bool IsDefined() const { return doc_ != nullptr; }
  bool IsNull() const { return type() == Type::kNull; }
  bool IsScalar() const { return type() == Type::kScalar; }
  bool IsSequence() const { return type() == Type::kSequence; }
  bool IsMap() const { return type() == Type::kMap; }
  explicit operator bool() const { return IsDefined(); }
  // A scalar's text; empty for other nodes.
  std::string_view Scalar() const;
  Mark mark() const;

  // Items of a sequence, entries of a map (keys need not be scalars).
  size_t size() const;
  YamlNode operator[](size_t i) const;
  // The key and the value of a map's entry i (i < size()).
  YamlNode key(size_t i) const;
  YamlNode value(size_t i) const;
  // The value of the first entry whose key is the scalar `key`; an
  // undefined node when there is none (or this is not a map).
  YamlNode operator[](std::string_view key) const;

 private:
  friend class YamlDocument;
  YamlNode(const YamlDocument* doc, uint32_t id) : doc_(doc), id_(id) {}
  YamlNode child(size_t i) const;
  const YamlDocument* doc_ = nullptr;
  uint32_t id_ = 0;
};

class YamlDocument {
 public:
  YamlDocument() = default;
  // Handles point at the document: it stays where it is while they live.
  YamlDocument(const YamlDocument&) = delete;
  YamlDocument& operator=(const YamlDocument&) = delete;
  YamlDocument(YamlDocument&&) = default;
  YamlDocument& operator=(YamlDocument&&) = default;

  YamlNode root() const { return node(root_); }

 private:
  friend class YamlNode;
  friend class YamlTreeBuilder;
  struct Node {
    YamlNode::Type type = YamlNode::Type::kNull;
    YamlNode::Mark mark;
    // A scalar's characters in chars_, or a container's children in
    // links_ (a map's keys and values in turn: key, value, key, ...).
    uint32_t begin = 0;
    uint32_t length = 0;
    // Nodes it stands for with every alias in it expanded (saturating).
    uint64_t expanded = 1;
  };
  YamlNode node(uint32_t id) const { return YamlNode(this, id); }

  std::vector<Node> nodes_;
  std::vector<uint32_t> links_;  // children, by node id; an alias links to its anchor's node
  std::string chars_;
  uint32_t root_ = 0;
};

// The accessors are inline: a policy's reader calls them for every field.
inline YamlNode::Type YamlNode::type() const { return doc_ ? doc_->nodes_[id_].type : Type::kUndefined; }

inline std::string_view YamlNode::Scalar() const {
  if (!IsScalar()) return {};
  const auto& n = doc_->nodes_[id_];
  return std::string_view(doc_->chars_.data() + n.begin, n.length);
}

inline YamlNode::Mark YamlNode::mark() const { return doc_ ? doc_->nodes_[id_].mark : Mark{}; }

inline size_t YamlNode::size() const {
  switch (type()) {
    case Type::kMap: return doc_->nodes_[id_].length / 2;
    case Type::kSequence: return doc_->nodes_[id_].length;
    default: return 0;
  }
}

inline YamlNode YamlNode::child(size_t i) const { return doc_->node(doc_->links_[doc_->nodes_[id_].begin + i]); }

inline YamlNode YamlNode::operator[](size_t i) const { return IsSequence() && i < size() ? child(i) : YamlNode(); }
inline YamlNode YamlNode::key(size_t i) const { return IsMap() && i < size() ? child(2 * i) : YamlNode(); }
inline YamlNode YamlNode::value(size_t i) const { return IsMap() && i < size() ? child(2 * i + 1) : YamlNode(); }

inline YamlNode YamlNode::operator[](std::string_view key) const {
  if (!IsMap()) return {};
  const auto& n = doc_->nodes_[id_];
  for (uint32_t i = 0; i < n.length; i += 2)
    if (YamlNode k = doc_->node(doc_->links_[n.begin + i]); k.IsScalar() && k.Scalar() == key)
      return doc_->node(doc_->links_[n.begin + i + 1]);
  return {};
}

// Where to stream: the items of the sequence under this key of the
// document's top-level map go to `onItem` (with their index) as each one
// ends; the document keeps that sequence empty.
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

// Parses the first document of `in`. Returns the document (its root kNull
// for an empty one) or the syntax error. Plain `~`, `null` and empty values
// are null nodes; everything else is left to the reader to interpret.
// Besides YAML's own errors it refuses nesting deeper than kMaxYamlDepth and
// aliases that expand to more than kMaxAliasNodes nodes in all.
std::variant<YamlDocument, YamlSyntaxError> parseYaml(std::istream& in, const YamlStream* stream = nullptr);

}  // namespace vfsteer::policies::detail
