#include "yaml_reader.hpp"

#include "vfsteer/common/names.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <sstream>

namespace vfsteer::policies::detail {
namespace {

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

const char* typeName(const YamlNode& node) {
  switch (node.type()) {
    case YamlNode::Type::kNull: return "nothing";
    case YamlNode::Type::kScalar: return "a scalar";
    case YamlNode::Type::kSequence: return "a list";
    case YamlNode::Type::kMap: return "a map";
    default: return "an undefined node";
  }
}

std::string joinChoices(std::span<const std::string_view> choices) {
  std::string out;
  for (auto c : choices) {
    if (!out.empty()) out += ", ";
    out += c;
  }
  return out;
}

}  // namespace

std::optional<std::string> suggest(std::string_view word,
                                   const std::vector<std::string_view>& candidates) {
  // Case does not count: "MLX5" suggests "mlx5".
  auto lower = [](std::string_view s) {
    std::string out(s);
    for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
  };
  const std::string w = lower(word);
  std::optional<std::string> best;
  size_t bestDistance = std::max<size_t>(2, word.size() / 3) + 1;
  for (auto c : candidates) {
    size_t d = editDistance(w, lower(c));
    if (d < bestDistance) {
      bestDistance = d;
      best = std::string(c);
    }
  }
  return best;
}

std::string YamlPath::str() const {
  std::string head = parent_ ? parent_->str() : std::string();
  if (index_ != kNoIndex) return head + "[" + std::to_string(index_) + "]";
  if (head.empty()) return std::string(key_);
  return head + "." + std::string(key_);
}

std::optional<YamlDocument> YamlReader::parse(std::istream& in, const YamlStream* stream) {
  auto parsed = parseYaml(in, stream);
  if (auto* e = std::get_if<YamlSyntaxError>(&parsed)) {
    SourcePos at{file_, e->mark.line + 1, e->mark.column + 1};
    if (e->mark.unknown()) at.line = 0;
    errorAt(at, "", "YAML syntax error: " + e->message);
    return std::nullopt;
  }
  return std::get<YamlDocument>(std::move(parsed));
}

std::optional<YamlDocument> YamlReader::parse(std::string_view text) {
  std::istringstream in{std::string(text)};
  return parse(in);
}

SourcePos YamlReader::pos(const YamlNode& node) const {
  const auto mark = node.mark();
  if (mark.unknown()) return SourcePos{file_, 0, 0};
  return SourcePos{file_, mark.line + 1, mark.column + 1};
}

void YamlReader::error(const YamlNode& at, const YamlPath& path, std::string message) {
  errorAt(pos(at), path.str(), std::move(message));
}

void YamlReader::errorAt(const SourcePos& at, std::string where, std::string message) {
  errors_.push_back({at, std::move(where), std::move(message)});
}

Error YamlReader::toError() const {
  std::string text;
  for (const auto& e : errors_) {
    if (!text.empty()) text += "\n";
    text += e.str();
  }
  return Error(ErrorCode::kInvalidInput, text);
}

bool YamlReader::expectMap(const YamlNode& node, const YamlPath& path,
                           std::initializer_list<std::string_view> allowed) {
  if (!node.IsMap()) {
    error(node, path, std::string("expected a map with keys {") + joinChoices(allowed) +
                          "}, found " + typeName(node));
    return false;
  }
  // Maps here have a handful of keys: scanning the ones before is cheaper
  // than a set, and this runs for every map of every chain.
  bool ok = true;
  for (size_t i = 0; i < node.size(); ++i) {
    const YamlNode& keyNode = node.key(i);
    if (!keyNode.IsScalar()) {
      error(keyNode, path, "keys must be plain words");
      ok = false;
      continue;
    }
    const std::string_view key = keyNode.Scalar();
    bool duplicate = false;
    for (size_t before = 0; before < i && !duplicate; ++before)
      duplicate = node.key(before).IsScalar() && node.key(before).Scalar() == key;
    if (duplicate) {
      error(keyNode, child(path, key), "duplicate key; each key may appear once");
      ok = false;
      continue;
    }
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string msg = "unknown key " + names::quoted(key);
      if (auto s = suggest(key, std::vector<std::string_view>(allowed))) msg += "; did you mean \"" + *s + "\"?";
      msg += " (allowed here: " + joinChoices(allowed) + ")";
      error(keyNode, path, msg);
      ok = false;
    }
  }
  return ok;
}

bool YamlReader::expectSequence(const YamlNode& node, const YamlPath& path) {
  if (node.IsSequence()) return true;
  error(node, path, std::string("expected a list, found ") + typeName(node));
  return false;
}

bool YamlReader::require(const YamlNode& map, std::string_view key, const YamlPath& path) {
  if (map[key]) return true;
  error(map, path, "missing required key \"" + std::string(key) + "\"");
  return false;
}

std::optional<uint64_t> YamlReader::unsignedInt(const YamlNode& node, const YamlPath& path,
                                                uint64_t min, uint64_t max) {
  auto range = [&] { return std::to_string(min) + ".." + std::to_string(max); };
  if (!node.IsScalar()) {
    error(node, path, "expected an integer " + range() + ", found " + typeName(node));
    return std::nullopt;
  }
  std::string_view text = node.Scalar();
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    error(node, path, "expected an integer " + range() + ", found " + names::quoted(node.Scalar()));
    return std::nullopt;
  }
  if (value < min || value > max) {
    error(node, path, "value " + std::string(node.Scalar()) + " is out of range; expected " + range());
    return std::nullopt;
  }
  return value;
}

std::optional<bool> YamlReader::boolean(const YamlNode& node, const YamlPath& path) {
  if (node.IsScalar()) {
    if (node.Scalar() == "true") return true;
    if (node.Scalar() == "false") return false;
    error(node, path, "expected true or false, found " + names::quoted(node.Scalar()));
    return std::nullopt;
  }
  error(node, path, std::string("expected true or false, found ") + typeName(node));
  return std::nullopt;
}

std::optional<std::string> YamlReader::string(const YamlNode& node, const YamlPath& path) {
  if (node.IsScalar() && !node.Scalar().empty()) return std::string(node.Scalar());
  error(node, path, std::string("expected a non-empty string, found ") + typeName(node));
  return std::nullopt;
}

std::optional<std::string> YamlReader::oneOf(const YamlNode& node, const YamlPath& path,
                                             std::initializer_list<std::string_view> choices) {
  return oneOf(node, path, std::span<const std::string_view>(choices.begin(), choices.size()));
}

std::optional<std::string> YamlReader::oneOf(const YamlNode& node, const YamlPath& path,
                                             std::span<const std::string_view> choices) {
  if (!node.IsScalar()) {
    error(node, path, "expected one of " + joinChoices(choices) + ", found " + typeName(node));
    return std::nullopt;
  }
  const std::string_view value = node.Scalar();
  for (auto c : choices)
    if (c == value) return std::string(value);
  std::string msg = names::quoted(value) + " is not one of " + joinChoices(choices);
  if (auto s = suggest(value, std::vector<std::string_view>(choices.begin(), choices.end())))
    msg += "; did you mean \"" + *s + "\"?";
  error(node, path, msg);
  return std::nullopt;
}

}  // namespace vfsteer::policies::detail
