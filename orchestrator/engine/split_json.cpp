#include "engine/split_json.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <type_traits>
#include <utility>
#include <variant>

#include "engine/json_writer.hpp"
#include "vfsteer/netlink/tc.hpp"

namespace vfsteer::engine {

using demux::SplitReport;
using nlohmann::json;
// Output keeps the order fields are written in: a document's identity
// ("vfsteer_plan", a chain's "name") comes first, as a reader expects.
using ordered = nlohmann::ordered_json;

namespace {

constexpr std::array kL3Names = {std::pair{policies::IpVersion::kV4, "ipv4"}, std::pair{policies::IpVersion::kV6, "ipv6"},
                                 std::pair{policies::IpVersion::kNone, "all"}, std::pair{policies::IpVersion::kAny, "any"}};
constexpr std::array kExitNames = {std::pair{demux::NicExit::kTerminal, "terminal"},
                                   std::pair{demux::NicExit::kGotoChain, "goto_chain"},
                                   std::pair{demux::NicExit::kTrap, "trap"}};
constexpr std::array kEntryNames = {std::pair{demux::HostEntry::kClassify, "classify"},
                                    std::pair{demux::HostEntry::kContinuation, "continuation"}};

template <class E, size_t N>
const char* nameIn(const std::array<std::pair<E, const char*>, N>& table, E value) {
  for (const auto& [v, n] : table)
    if (v == value) return n;
  return "?";
}

// The value named `text` by `names(value)` for one of `values`, or a json
// exception (the caller reports a damaged document).
template <class E, class Values, class Namer>
E parseBy(const std::string& text, const Values& values, Namer names) {
  for (E v : values)
    if (names(v) == text) return v;
  throw json::other_error::create(501, "unknown value \"" + text + "\"", nullptr);
}

template <class E, size_t N>
E parseIn(const std::array<std::pair<E, const char*>, N>& table, const std::string& text) {
  for (const auto& [v, n] : table)
    if (text == n) return v;
  throw json::other_error::create(501, "unknown value \"" + text + "\"", nullptr);
}

}  // namespace

namespace {

void writeMatchFields(JsonWriter& w, const std::vector<policies::MatchField>& fields) {
  // A key given twice keeps its last value, as a JSON object would.
  std::vector<const policies::MatchField*> last;
  for (const auto& f : fields) {
    auto same = std::find_if(last.begin(), last.end(), [&](const auto* l) { return l->key == f.key; });
    if (same != last.end()) *same = &f;
    else last.push_back(&f);
  }
  w.beginObject();
  for (const auto* f : last) {
    w.key(f->key);
    std::visit([&](const auto& v) { w.value(v); }, f->value);
  }
  w.endObject();
}

void writeChain(JsonWriter& w, const SplitReport::Chain& c, policies::NicEngine engine) {
  w.beginObject();
  w.key("name").value(c.name);
  w.key("priority").value(c.priority);
  w.key("from").value(c.from);
  w.key("offload").value(policies::name(c.mode));
  w.key("match").value(c.match);
  w.key("match_fields");
  writeMatchFields(w, c.matchFields);
  w.key("demux_in_nic").value(c.demuxInNic);
  w.key("split").value(c.split);
  w.key("handover").value(demux::name(c.handover));
  w.key("reason").value(c.reason);
  w.key("conditions").value(c.conditions);
  if (!c.hostHook.empty()) w.key("host_hook").value(c.hostHook);
  if (!c.hostHookReason.empty()) w.key("host_hook_reason").value(c.hostHookReason);
  if (!c.rxMetadata.empty()) w.key("rx_metadata").value(c.rxMetadata);
  w.key("stages").beginArray();
  for (size_t s = 0; s < c.stages.size(); ++s) {
    const auto& st = c.stages[s];
    w.beginObject();
    w.key("index").value(s);
    w.key("stage").value(policies::name(st.kind));
    w.key("description").value(st.description);
    w.key("runs_in").value(demux::name(st.where));
    w.key("reason").value(st.reason);
    w.endObject();
  }
  w.endArray();
  w.key("nic_rules").beginArray();
  for (const auto& n : c.nicRules) {
    w.beginObject();
    w.key("tc_priority").value(n.tcPriority);
    w.key("tc_handle").value(n.tcHandle);
    w.key("protocol").value(nameIn(kL3Names, n.l3));
    w.key("tc_protocol").value(netlink::tc::protocolName(n.tcProtocol));
    w.key("stages").value(n.stages);
    w.key("exit").value(nameIn(kExitNames, n.exit));
    if (engine == policies::NicEngine::kNtuple) w.key("location").value(n.location);
    if (n.exit == demux::NicExit::kGotoChain) w.key("goto_tc_chain").value(n.gotoTcChain);
    if (!n.device.empty()) w.key("device").value(n.device);
    w.endObject();
  }
  w.endArray();
  w.key("host");
  if (c.host) {
    w.beginObject();
    w.key("entry").value(nameIn(kEntryNames, c.host->entry));
    w.key("start_stage").value(c.host->startStage);
    if (c.host->entry == demux::HostEntry::kContinuation) w.key("tc_chain").value(c.host->tcChain);
    w.endObject();
  } else {
    w.null();
  }
  w.endObject();
}

}  // namespace

void writeJson(std::string& out, const SplitReport& r) {
  JsonWriter w(out);
  w.beginObject();
  w.key("vfsteer_plan").value(kPlanJsonVersion);
  w.key("policy").value(r.policy);
  w.key("profile").value(r.profile);
  w.key("engine").value(policies::name(r.engine));
  w.key("ok").value(r.ok());
  w.key("errors").beginArray();
  for (const auto& e : r.errors) {
    w.beginObject();
    w.key("chain").value(e.chain);
    w.key("message").value(e.message);
    w.key("position").value(e.pos.str());
    w.endObject();
  }
  w.endArray();
  w.key("chains").beginArray();
  for (const auto& c : r.chains) writeChain(w, c, r.engine);
  w.endArray();
  w.endObject();
}

ordered toJson(const SplitReport& r) {
  std::string text;
  writeJson(text, r);
  return ordered::parse(text);
}

std::string fingerprint(const SplitReport& r) {
  // FNV-1a's constants, eight bytes a step (a byte a step was 3% of a
  // no-op apply); the shift lets a word's high bits reach the low ones. It
  // only tells whether the report changed since the last apply.
  constexpr uint64_t kPrime = 1099511628211ULL;
  uint64_t h = 1469598103934665603ULL;
  auto bytes = [&](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (; n >= 8; b += 8, n -= 8) {
      uint64_t word;
      std::memcpy(&word, b, sizeof word);
      h = (h ^ word) * kPrime;
      h ^= h >> 29;
    }
    for (; n > 0; ++b, --n) h = (h ^ *b) * kPrime;
  };
  auto str = [&](const std::string& s) {
    const uint64_t n = s.size();
    bytes(&n, sizeof n);
    bytes(s.data(), s.size());
  };
  auto num = [&](uint64_t v) { bytes(&v, sizeof v); };
  str(r.policy);
  str(r.profile);
  num(static_cast<uint64_t>(r.engine));
  for (const auto& e : r.errors) {
    str(e.chain);
    str(e.message);
    str(e.pos.str());
  }
  for (const auto& c : r.chains) {
    str(c.name);
    num(c.priority);
    str(c.from);
    num(static_cast<uint64_t>(c.mode));
    str(c.match);
    for (const auto& f : c.matchFields) {
      str(f.key);
      num(f.value.index());
      std::visit([&](const auto& v) {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::string>) str(v);
        else num(v);
      }, f.value);
    }
    num(c.demuxInNic);
    num(c.split);
    num(static_cast<uint64_t>(c.handover));
    str(c.reason);
    str(c.hostHook);
    str(c.hostHookReason);
    str(c.rxMetadata);
    for (const auto& st : c.stages) {
      num(static_cast<uint64_t>(st.kind));
      str(st.description);
      num(static_cast<uint64_t>(st.where));
      str(st.reason);
    }
    for (const auto& n : c.nicRules) {
      num(n.tcPriority);
      num(static_cast<uint64_t>(n.l3));
      num(n.tcProtocol);
      num(n.stages);
      num(static_cast<uint64_t>(n.exit));
      num(n.gotoTcChain);
      str(n.device);
    }
    num(c.host.has_value());
    if (c.host) {
      num(static_cast<uint64_t>(c.host->entry));
      num(c.host->startStage);
      num(c.host->tcChain);
    }
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

Result<SplitReport> splitReportFromJson(const json& doc) {
  SplitReport r;
  try {
    r.policy = doc.at("policy");
    r.profile = doc.at("profile");
    r.engine = parseBy<policies::NicEngine>(doc.at("engine"),
                                            std::array{policies::NicEngine::kNone, policies::NicEngine::kFlower,
                                                       policies::NicEngine::kBpf, policies::NicEngine::kU32,
                                                       policies::NicEngine::kNtuple},
                                            [](auto v) { return policies::name(v); });
    for (const auto& e : doc.at("errors")) {
      demux::Diagnostic d;
      d.chain = e.at("chain");
      d.message = e.at("message");
      d.pos.file = e.at("position");  // kept as written: "file:line:column"
      r.errors.push_back(std::move(d));
    }
    for (const auto& jc : doc.at("chains")) {
      SplitReport::Chain c;
      c.name = jc.at("name");
      c.priority = jc.at("priority");
      c.from = jc.at("from");
      const std::string mode = jc.at("offload");
      auto parsedMode = policies::parseOffloadMode(mode);
      if (!parsedMode) throw json::other_error::create(501, "unknown offload \"" + mode + "\"", nullptr);
      c.mode = *parsedMode;
      c.match = jc.at("match");
      const json fields = jc.value("match_fields", json::object());
      for (const auto& [key, value] : fields.items()) {
        if (value.is_string()) c.matchFields.push_back({key, value.get<std::string>()});
        else c.matchFields.push_back({key, value.get<uint64_t>()});
      }
      c.demuxInNic = jc.at("demux_in_nic");
      c.split = jc.at("split");
      c.handover = parseBy<demux::Handover>(
          jc.at("handover"),
          std::array{demux::Handover::kNone, demux::Handover::kContinue, demux::Handover::kTrap,
                     demux::Handover::kHostOnly},
          [](auto v) { return demux::name(v); });
      c.reason = jc.at("reason");
      c.conditions = jc.value("conditions", std::vector<std::string>{});
      c.hostHook = jc.value("host_hook", "");
      c.hostHookReason = jc.value("host_hook_reason", "");
      c.rxMetadata = jc.value("rx_metadata", "");
      for (const auto& js : jc.at("stages")) {
        SplitReport::Stage st;
        const std::string kind = js.at("stage");
        auto parsedKind = policies::parseStageKind(kind);
        if (!parsedKind) throw json::other_error::create(501, "unknown stage \"" + kind + "\"", nullptr);
        st.kind = *parsedKind;
        st.description = js.at("description");
        st.where = js.at("runs_in") == "nic" ? demux::Placement::kNic : demux::Placement::kHost;
        st.reason = js.at("reason");
        c.stages.push_back(std::move(st));
      }
      for (const auto& jr : jc.at("nic_rules")) {
        SplitReport::NicRuleView n;
        n.tcPriority = jr.at("tc_priority");
        n.tcHandle = jr.value("tc_handle", demux::kSoleRuleHandle);
        n.location = jr.value("location", 0u);
        n.l3 = parseIn(kL3Names, jr.at("protocol").get<std::string>());
        const std::string protocol = jr.value("tc_protocol", std::string("all"));
        const auto known = netlink::tc::protocolByName(protocol);
        if (!known) throw json::other_error::create(501, "unknown tc protocol \"" + protocol + "\"", nullptr);
        n.tcProtocol = *known;
        n.stages = jr.at("stages");
        n.exit = parseIn(kExitNames, jr.at("exit").get<std::string>());
        n.gotoTcChain = jr.value("goto_tc_chain", 0u);
        n.device = jr.value("device", "");
        c.nicRules.push_back(std::move(n));
      }
      if (const auto& jh = jc.at("host"); !jh.is_null()) {
        SplitReport::HostView h;
        h.entry = parseIn(kEntryNames, jh.at("entry").get<std::string>());
        h.startStage = jh.at("start_stage");
        h.tcChain = jh.value("tc_chain", 0u);
        c.host = h;
      }
      r.chains.push_back(std::move(c));
    }
  } catch (const json::exception& e) {
    return Error(ErrorCode::kInternal, std::string("the recorded split report is damaged (") + e.what() + ")");
  }
  return r;
}

}  // namespace vfsteer::engine
