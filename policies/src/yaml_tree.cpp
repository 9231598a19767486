#include "yaml_tree.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <map>
#include <optional>

namespace vfsteer::policies::detail {

namespace {

const YamlNode& undefined() {
  static const YamlNode none;
  return none;
}

YamlNode::Mark markOf(const YAML::Mark& m) {
  if (m.is_null()) return {};
  return {m.line, m.column};
}

}  // namespace

const YamlNode& YamlNode::operator[](size_t i) const {
  return type_ == Type::kSequence && i < items_.size() ? items_[i] : undefined();
}

const YamlNode& YamlNode::operator[](std::string_view key) const {
  if (type_ != Type::kMap) return undefined();
  for (const auto& [k, v] : entries_)
    if (k.IsScalar() && k.scalar_ == key) return v;
  return undefined();
}

class YamlTreeBuilder : public YAML::EventHandler {
 public:
  explicit YamlTreeBuilder(const YamlStream* stream) : stream_(stream) {}

  YamlNode takeRoot() { return root_ ? std::move(*root_) : YamlNode(YamlNode::Type::kNull, {0, 0}); }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    finish(YamlNode(YamlNode::Type::kNull, markOf(mark)), anchor);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    YamlNode node = it != anchors_.end() ? it->second : YamlNode(YamlNode::Type::kNull, markOf(mark));
    finish(std::move(node), 0);
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string& value) override {
    YamlNode node(YamlNode::Type::kScalar, markOf(mark));
    node.scalar_ = value;
    finish(std::move(node), anchor);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    // The stream's sequence: the value of its key in the top-level map.
    const bool streamed = stream_ && stack_.size() == 1 && stack_[0].node.IsMap() && stack_[0].key &&
                          stack_[0].key->IsScalar() && stack_[0].key->Scalar() == stream_->key;
    stack_.push_back({YamlNode(YamlNode::Type::kSequence, markOf(mark)), anchor, std::nullopt, streamed, 0});
  }
  void OnSequenceEnd() override { pop(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    stack_.push_back({YamlNode(YamlNode::Type::kMap, markOf(mark)), anchor, std::nullopt, false, 0});
  }
  void OnMapEnd() override { pop(); }

 private:
  struct Frame {
    YamlNode node;
    YAML::anchor_t anchor = 0;
    std::optional<YamlNode> key;  // a map's key waiting for its value
    bool streamed = false;
    size_t count = 0;             // items handed to the stream
  };

  void pop() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    finish(std::move(f.node), f.anchor);
  }

  void finish(YamlNode node, YAML::anchor_t anchor) {
    if (anchor) anchors_[anchor] = node;
    if (stack_.empty()) {
      root_ = std::move(node);
      return;
    }
    Frame& top = stack_.back();
    if (top.node.IsSequence()) {
      if (top.streamed) {
        stream_->onItem(node, top.count++);
        return;
      }
      top.node.items_.push_back(std::move(node));
      return;
    }
    if (!top.key) {
      top.key = std::move(node);
      return;
    }
    top.node.entries_.emplace_back(std::move(*top.key), std::move(node));
    top.key.reset();
  }

  const YamlStream* stream_;
  std::vector<Frame> stack_;
  std::optional<YamlNode> root_;
  std::map<YAML::anchor_t, YamlNode> anchors_;
};

std::variant<YamlNode, YamlSyntaxError> parseYaml(std::istream& in, const YamlStream* stream) {
  YamlTreeBuilder builder(stream);
  try {
    YAML::Parser parser(in);
    parser.HandleNextDocument(builder);
  } catch (const YAML::DeepRecursion& e) {
    return YamlSyntaxError{"the document nests deeper than " + std::to_string(e.depth() - 1) +
                               " levels; a policy needs a handful",
                           markOf(e.mark)};
  } catch (const YAML::Exception& e) {
    return YamlSyntaxError{e.msg, markOf(e.mark)};
  }
  return builder.takeRoot();
}

}  // namespace vfsteer::policies::detail
