#include "yaml_tree.hpp"

#include <yaml.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>

namespace vfsteer::policies::detail {

namespace {

YamlNode::Mark markOf(const yaml_mark_t& m) { return {static_cast<int>(m.line), static_cast<int>(m.column)}; }

std::string_view text(const yaml_char_t* s) { return s ? reinterpret_cast<const char*>(s) : ""; }

// YAML's core schema: a plain scalar that is empty or spells null.
bool isNull(const yaml_event_t& e) {
  const auto& s = e.data.scalar;
  const std::string_view tag = text(s.tag);
  if (tag == YAML_NULL_TAG) return true;
  if (s.style != YAML_PLAIN_SCALAR_STYLE || !tag.empty()) return false;
  const std::string_view v(reinterpret_cast<const char*>(s.value), s.length);
  return v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL";
}

int readStream(void* data, unsigned char* buffer, size_t size, size_t* read) {
  auto* in = static_cast<std::istream*>(data);
  in->read(reinterpret_cast<char*>(buffer), static_cast<std::streamsize>(size));
  *read = static_cast<size_t>(in->gcount());
  return in->bad() ? 0 : 1;
}

// libyaml's words, with where the construct it was reading began.
YamlSyntaxError syntaxError(const yaml_parser_t& p) {
  if (p.error == YAML_MEMORY_ERROR) return {"out of memory", {}};
  if (p.error == YAML_READER_ERROR) {
    // The reader's mark is a byte offset, not a line.
    return {std::string(p.problem ? p.problem : "unreadable input") + " at byte " + std::to_string(p.problem_offset), {}};
  }
  std::string message = p.problem ? p.problem : "malformed YAML";
  const bool elsewhere = p.context_mark.line != p.problem_mark.line || p.context_mark.column != p.problem_mark.column;
  if (p.context && elsewhere)
    message += std::string(" (") + p.context + " that starts at line " + std::to_string(p.context_mark.line + 1) +
               ", column " + std::to_string(p.context_mark.column + 1) + ")";
  return {message, markOf(p.problem_mark)};
}

// YAML does not allow tabs in indentation, and libyaml says only that it
// found a character that cannot start a token. When the line of an error
// is indented with a tab, say so, at the tab.
std::optional<YamlSyntaxError> tabIndentation(std::istream& in, const YamlNode::Mark& at) {
  if (at.unknown()) return std::nullopt;
  in.clear();
  if (!in.seekg(0)) return std::nullopt;
  std::string line;
  for (int n = 0; n <= at.line; ++n)
    if (!std::getline(in, line)) return std::nullopt;
  const size_t indent = line.find_first_not_of(" \t");
  const size_t tab = line.find('\t');
  if (tab == std::string::npos || (indent != std::string::npos && tab > indent)) return std::nullopt;
  return YamlSyntaxError{"a tab indents this line; YAML allows only spaces for indentation", {at.line, static_cast<int>(tab)}};
}

}  // namespace

// Builds the document from libyaml's events, one at a time.
class YamlTreeBuilder {
 public:
  explicit YamlTreeBuilder(const YamlStream* stream) : stream_(stream) {}

  YamlDocument takeDocument() {
    if (!hasRoot_) doc_.root_ = add({YamlNode::Type::kNull, {0, 0}});
    return std::move(doc_);
  }

  // One event; a problem of the document's shape comes back as an error.
  std::optional<YamlSyntaxError> take(const yaml_event_t& e) {
    const YamlNode::Mark mark = markOf(e.start_mark);
    // Offsets are 32 bits: a chain is a few hundred bytes, and what the
    // stream has handed over is dropped.
    const size_t chars = e.type == YAML_SCALAR_EVENT ? e.data.scalar.length : 0;
    if (doc_.chars_.size() + chars > kMaxOffset || doc_.nodes_.size() > kMaxOffset || doc_.links_.size() > kMaxOffset)
      return YamlSyntaxError{"the document is too large to read (more than 4 GiB of text or nodes)", mark};
    switch (e.type) {
      case YAML_SCALAR_EVENT: {
        YamlDocument::Node node{isNull(e) ? YamlNode::Type::kNull : YamlNode::Type::kScalar, mark};
        if (node.type == YamlNode::Type::kScalar) {
          node.begin = static_cast<uint32_t>(doc_.chars_.size());
          node.length = static_cast<uint32_t>(e.data.scalar.length);
          doc_.chars_.append(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
        }
        finish(add(node), text(e.data.scalar.anchor));
        return std::nullopt;
      }
      case YAML_ALIAS_EVENT: {
        auto it = anchors_.find(text(e.data.alias.anchor));
        if (it == anchors_.end())
          return YamlSyntaxError{"alias *" + std::string(text(e.data.alias.anchor)) + " names no anchor before it", mark};
        aliasNodes_ += doc_.nodes_[it->second].expanded;
        if (aliasNodes_ > kMaxAliasNodes)
          return YamlSyntaxError{"aliases expand to more than " + std::to_string(kMaxAliasNodes) +
                                     " nodes; a policy needs far fewer",
                                 mark};
        // The alias shares the anchored node (its position is the anchor's).
        finish(it->second, "");
        return std::nullopt;
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        if (stack_.size() >= kMaxYamlDepth)
          return YamlSyntaxError{"the document nests deeper than " + std::to_string(kMaxYamlDepth) +
                                     " levels; a policy needs a handful",
                                 mark};
        const bool sequence = e.type == YAML_SEQUENCE_START_EVENT;
        Frame f{sequence ? YamlNode::Type::kSequence : YamlNode::Type::kMap, mark,
                std::string(text(sequence ? e.data.sequence_start.anchor : e.data.mapping_start.anchor)),
                pending_.size()};
        // The stream's sequence: the value of its key in the top-level map.
        if (sequence && stream_ && stack_.size() == 1) {
          const YamlNode key = waitingKey(stack_[0]);
          f.streamed = key.IsScalar() && key.Scalar() == stream_->key;
        }
        if (f.streamed) keepFromHere(f);
        stack_.push_back(std::move(f));
        return std::nullopt;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: {
        Frame f = std::move(stack_.back());
        stack_.pop_back();
        YamlDocument::Node node{f.type, f.mark};
        node.begin = static_cast<uint32_t>(doc_.links_.size());
        node.length = static_cast<uint32_t>(pending_.size() - f.pendingStart);
        for (size_t i = f.pendingStart; i < pending_.size(); ++i) {
          node.expanded += doc_.nodes_[pending_[i]].expanded;
          node.expanded = std::min<uint64_t>(node.expanded, kMaxAliasNodes + 1);
        }
        doc_.links_.insert(doc_.links_.end(), pending_.begin() + static_cast<std::ptrdiff_t>(f.pendingStart),
                           pending_.end());
        pending_.resize(f.pendingStart);
        finish(add(node), f.anchor);
        return std::nullopt;
      }
      default: return std::nullopt;  // stream and document boundaries
    }
  }

 private:
  static constexpr size_t kMaxOffset = UINT32_MAX - 1;

  struct Frame {
    YamlNode::Type type;
    YamlNode::Mark mark;
    std::string anchor;
    size_t pendingStart = 0;  // its children so far: pending_[pendingStart..]
    bool streamed = false;
    size_t count = 0;  // items handed to the stream
    // A streamed sequence: the document's sizes before the current item,
    // to go back to once the item has been handed over.
    size_t keepNodes = 0, keepLinks = 0, keepChars = 0;
  };

  uint32_t add(const YamlDocument::Node& node) {
    doc_.nodes_.push_back(node);
    return static_cast<uint32_t>(doc_.nodes_.size() - 1);
  }

  // A map's last key when it is still waiting for its value.
  YamlNode waitingKey(const Frame& f) const {
    const size_t children = pending_.size() - f.pendingStart;
    return f.type == YamlNode::Type::kMap && children % 2 == 1 ? doc_.node(pending_.back()) : YamlNode();
  }

  void keepFromHere(Frame& f) {
    f.keepNodes = doc_.nodes_.size();
    f.keepLinks = doc_.links_.size();
    f.keepChars = doc_.chars_.size();
    anchoredInItem_ = false;
  }

  void finish(uint32_t id, std::string_view anchor) {
    if (!anchor.empty()) {
      anchors_.insert_or_assign(std::string(anchor), id);
      anchoredInItem_ = true;
    }
    if (stack_.empty()) {
      doc_.root_ = id;
      hasRoot_ = true;
      return;
    }
    Frame& top = stack_.back();
    if (!top.streamed) {
      pending_.push_back(id);
      return;
    }
    stream_->onItem(doc_.node(id), top.count++);
    // The item is read: its nodes go, unless an alias later on may name
    // one of them.
    if (anchoredInItem_) {
      keepFromHere(top);
      return;
    }
    doc_.nodes_.resize(top.keepNodes);
    doc_.links_.resize(top.keepLinks);
    doc_.chars_.resize(top.keepChars);
  }

  const YamlStream* stream_;
  YamlDocument doc_;
  bool hasRoot_ = false;
  std::vector<Frame> stack_;
  std::vector<uint32_t> pending_;  // children of the open containers, innermost last
  std::map<std::string, uint32_t, std::less<>> anchors_;
  bool anchoredInItem_ = false;
  size_t aliasNodes_ = 0;
};

std::variant<YamlDocument, YamlSyntaxError> parseYaml(std::istream& in, const YamlStream* stream) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return YamlSyntaxError{"out of memory", {}};
  struct ParserGuard {
    yaml_parser_t* p;
    ~ParserGuard() { yaml_parser_delete(p); }
  } parserGuard{&parser};
  yaml_parser_set_input(&parser, readStream, &in);

  YamlTreeBuilder builder(stream);
  for (;;) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) {
      YamlSyntaxError e = syntaxError(parser);
      if (auto tab = tabIndentation(in, e.mark)) return *tab;
      return e;
    }
    struct EventGuard {
      yaml_event_t* e;
      ~EventGuard() { yaml_event_delete(e); }
    } eventGuard{&event};
    // The first document only, as `---` separates documents.
    const bool end = event.type == YAML_DOCUMENT_END_EVENT || event.type == YAML_STREAM_END_EVENT;
    if (auto problem = builder.take(event)) return *problem;
    if (end) break;
  }
  return builder.takeDocument();
}

}  // namespace vfsteer::policies::detail
