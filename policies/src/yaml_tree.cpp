#include "yaml_tree.hpp"

#include <yaml.h>

#include <map>
#include <optional>

namespace vfsteer::policies::detail {

namespace {

const YamlNode& undefined() {
  static const YamlNode none;
  return none;
}

YamlNode::Mark markOf(const yaml_mark_t& m) { return {static_cast<int>(m.line), static_cast<int>(m.column)}; }

std::string text(const yaml_char_t* s) { return s ? reinterpret_cast<const char*>(s) : ""; }

// YAML's core schema: a plain scalar that is empty or spells null.
bool isNull(const yaml_event_t& e) {
  const auto& s = e.data.scalar;
  const std::string tag = text(s.tag);
  if (tag == YAML_NULL_TAG) return true;
  if (s.style != YAML_PLAIN_SCALAR_STYLE || !tag.empty()) return false;
  const std::string_view v(reinterpret_cast<const char*>(s.value), s.length);
  return v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL";
}

size_t nodesIn(const YamlNode& n) {
  size_t count = 1;
  for (size_t i = 0; i < n.size(); ++i) count += n.IsMap() ? nodesIn(n.key(i)) + nodesIn(n.value(i)) : nodesIn(n[i]);
  return count;
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

const YamlNode& YamlNode::operator[](size_t i) const {
  return type_ == Type::kSequence && i < children_.size() ? children_[i] : undefined();
}

const YamlNode& YamlNode::operator[](std::string_view key) const {
  if (type_ != Type::kMap) return undefined();
  for (size_t i = 0; i < size(); ++i)
    if (this->key(i).IsScalar() && this->key(i).scalar_ == key) return value(i);
  return undefined();
}

// Builds the tree from libyaml's events, one at a time.
class YamlTreeBuilder {
 public:
  explicit YamlTreeBuilder(const YamlStream* stream) : stream_(stream) {}

  YamlNode takeRoot() { return root_ ? std::move(*root_) : YamlNode(YamlNode::Type::kNull, {0, 0}); }

  // One event; a problem of the document's shape comes back as an error.
  std::optional<YamlSyntaxError> take(const yaml_event_t& e) {
    const YamlNode::Mark mark = markOf(e.start_mark);
    switch (e.type) {
      case YAML_SCALAR_EVENT: {
        YamlNode node(isNull(e) ? YamlNode::Type::kNull : YamlNode::Type::kScalar, mark);
        if (node.IsScalar())
          node.scalar_.assign(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
        finish(std::move(node), text(e.data.scalar.anchor));
        return std::nullopt;
      }
      case YAML_ALIAS_EVENT: {
        auto it = anchors_.find(text(e.data.alias.anchor));
        if (it == anchors_.end())
          return YamlSyntaxError{"alias *" + text(e.data.alias.anchor) + " names no anchor before it", mark};
        aliasNodes_ += it->second.nodes;
        if (aliasNodes_ > kMaxAliasNodes)
          return YamlSyntaxError{"aliases expand to more than " + std::to_string(kMaxAliasNodes) +
                                     " nodes; a policy needs far fewer",
                                 mark};
        finish(YamlNode(it->second.node), "");
        return std::nullopt;
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        if (stack_.size() >= kMaxYamlDepth)
          return YamlSyntaxError{"the document nests deeper than " + std::to_string(kMaxYamlDepth) +
                                     " levels; a policy needs a handful",
                                 mark};
        const bool sequence = e.type == YAML_SEQUENCE_START_EVENT;
        // The stream's sequence: the value of its key in the top-level map.
        const bool streamed = sequence && stream_ && stack_.size() == 1 && waitingKey(stack_[0]) &&
                              waitingKey(stack_[0])->IsScalar() && waitingKey(stack_[0])->Scalar() == stream_->key;
        const yaml_char_t* anchor = sequence ? e.data.sequence_start.anchor : e.data.mapping_start.anchor;
        stack_.push_back({YamlNode(sequence ? YamlNode::Type::kSequence : YamlNode::Type::kMap, mark), text(anchor),
                          streamed, 0});
        // Room for a chain's keys and values (its largest map) at once,
        // instead of growing 1, 2, 4, 8.
        stack_.back().node.children_.reserve(sequence ? 2 : 8);
        return std::nullopt;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: {
        Frame f = std::move(stack_.back());
        stack_.pop_back();
        finish(std::move(f.node), f.anchor);
        return std::nullopt;
      }
      default: return std::nullopt;  // stream and document boundaries
    }
  }

 private:
  struct Frame {
    YamlNode node;
    std::string anchor;
    bool streamed = false;
    size_t count = 0;  // items handed to the stream
  };

  // A map's last key when it is still waiting for its value.
  static const YamlNode* waitingKey(const Frame& f) {
    return f.node.IsMap() && f.node.children_.size() % 2 == 1 ? &f.node.children_.back() : nullptr;
  }
  struct Anchored {
    YamlNode node;
    size_t nodes = 0;
  };

  void finish(YamlNode node, const std::string& anchor) {
    if (!anchor.empty()) anchors_[anchor] = {node, nodesIn(node)};
    if (stack_.empty()) {
      root_ = std::move(node);
      return;
    }
    Frame& top = stack_.back();
    if (top.streamed) {
      stream_->onItem(node, top.count++);
      return;
    }
    top.node.children_.push_back(std::move(node));
  }

  const YamlStream* stream_;
  std::vector<Frame> stack_;
  std::optional<YamlNode> root_;
  std::map<std::string, Anchored> anchors_;
  size_t aliasNodes_ = 0;
};

std::variant<YamlNode, YamlSyntaxError> parseYaml(std::istream& in, const YamlStream* stream) {
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
  return builder.takeRoot();
}

}  // namespace vfsteer::policies::detail
