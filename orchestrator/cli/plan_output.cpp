#include "cli/plan_output.hpp"

#include <algorithm>
#include <cstdio>
#include <ostream>

#include "engine/split_json.hpp"
#include "vfsteer/common/names.hpp"

namespace vfsteer::cli {

using demux::Handover;
using nlohmann::json;

namespace {

std::string pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

// Escapes a string for a double-quoted dot label.
std::string dotEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

using Chain = demux::SplitReport::Chain;

std::string handoverText(const Chain& c) {
  switch (c.handover) {
    case Handover::kNone: return "all in NIC";
    case Handover::kContinue: return "NIC, then host in tc chain " + std::to_string(c.host ? c.host->tcChain : 0);
    case Handover::kTrap: return "NIC demux, trap to host";
    case Handover::kHostOnly: break;
  }
  return "host only";
}

std::string counterText(uint64_t packets, uint64_t bytes) {
  return std::to_string(packets) + " pkts " + std::to_string(bytes) + " B";
}

// The host's counters of a chain, when there are any.
const representors::ChainCounters* countersOf(const engine::LiveReport* live, const Chain& c) {
  if (!live) return nullptr;
  auto it = live->counters.find(c.name);
  return it == live->counters.end() ? nullptr : &it->second;
}

std::string stageCounters(const representors::ChainCounters* k, const Chain& c, size_t i) {
  if (!k || c.stages[i].where != demux::Placement::kHost || i >= k->stagePackets.size()) return "";
  return counterText(k->stagePackets[i], k->stageBytes[i]);
}

}  // namespace

Status keepChains(demux::SplitReport& split, const std::vector<std::string>& names) {
  if (names.empty()) return okStatus();
  for (const auto& name : names) {
    const bool known = std::any_of(split.chains.begin(), split.chains.end(),
                                   [&](const auto& c) { return c.name == name; });
    if (known) continue;
    std::string have;
    for (size_t i = 0; i < split.chains.size() && i < 20; ++i) have += (i ? ", " : "") + split.chains[i].name;
    if (split.chains.size() > 20) have += ", ... (" + std::to_string(split.chains.size()) + " chains)";
    return Error(ErrorCode::kInvalidInput, "--chain " + names::quoted(name) + ": the policy has no such chain" +
                                               (have.empty() ? " (it has none)" : "; it has " + have));
  }
  std::erase_if(split.chains, [&](const auto& c) { return std::find(names.begin(), names.end(), c.name) == names.end(); });
  return okStatus();
}

nlohmann::ordered_json reportJson(const engine::LiveReport& r) {
  using ordered = nlohmann::ordered_json;
  // The report's identity first, then the plan document's fields.
  ordered doc{{"vfsteer_report", kReportJsonVersion}, {"instance", r.instance}};
  ordered plan = engine::toJson(r.split);
  for (auto& [key, value] : plan.items())
    if (key != "vfsteer_plan") doc[key] = std::move(value);
  const auto& d = r.datapath;
  json datapath{{"pinned", d.pinned}, {"loaded", d.loaded}, {"generation", d.generation}, {"prog_id", d.progId}};
  if (!d.classifier.empty()) datapath["classifier"] = d.classifier;
  if (d.classifierProgId) datapath["classifier_prog_id"] = d.classifierProgId;
  datapath["attachments"] = json::array();
  for (const auto& e : d.entries)
    datapath["attachments"].push_back({{"ifname", e.device}, {"ifindex", e.ifindex}, {"attached", e.attached}});
  datapath["xdp_attachments"] = json::array();
  for (const auto& x : d.xdp)
    datapath["xdp_attachments"].push_back({{"ifname", x.device},
                                           {"ifindex", x.ifindex},
                                           {"mode", std::string(policies::name(x.mode))},
                                           {"rx_metadata", x.rxMetadata},
                                           {"prog_id", x.rxMetadata ? x.progId : d.xdpProgId},
                                           {"attached", x.attached}});
  doc["datapath"] = datapath;
  if (r.totals) {
    const auto& g = *r.totals;
    doc["host_totals"] = {{"malformed", g.malformed},   {"unmatched", g.unmatched},
                          {"policed", g.policed},       {"bpf_stage_missing", g.tailcallFailures},
                          {"action_errors", g.actionErrors}, {"classified_in_xdp", g.fromXdp}};
  }
  doc["nic_emulated"] = r.nicEmulated;
  if (r.demuxProgram) {
    const auto& p = *r.demuxProgram;
    doc["nic_program"] = {{"hook", std::string(engine::hookName(p.record.hook))},
                          {"device", p.record.device},
                          {"prog_id", p.record.progId},
                          {"chains", p.record.chains},
                          {"attached", p.attached},
                          {"in_hw", p.inHw}};
  }
  for (auto& c : doc["chains"]) {
    const std::string name = c["name"];
    const auto& statuses = r.nicRules.at(name);
    for (size_t i = 0; i < c["nic_rules"].size() && i < statuses.size(); ++i) {
      auto& rule = c["nic_rules"][i];
      const auto& s = statuses[i];
      const bool flowRule = r.split.engine == policies::NicEngine::kNtuple;
      rule["via"] = s.viaProgram ? "demux program" : flowRule ? "ethtool flow rule" : "flower";
      rule["present"] = s.present;
      rule["in_hw"] = s.inHw;
      if (flowRule && s.present) rule["ethtool"] = s.flowRule;
      if (!s.viaProgram && !flowRule && s.present) {
        rule["in_hw_count"] = s.inHwCount;
        rule["counted"] = r.nicCounters;
        if (r.nicCounters) {
          rule["packets"] = s.packets;
          rule["bytes"] = s.bytes;
        }
      }
    }
    auto counters = r.counters.find(name);
    if (counters == r.counters.end()) continue;
    const auto& k = counters->second;
    // Counters describe what the host saw: packets the NIC fully handled
    // never reach it.
    c["counters"] = {{"packets", k.packets}, {"bytes", k.bytes}, {"seen_by", "host"}};
    for (auto& st : c["stages"]) {
      const size_t i = st["index"];
      if (st["runs_in"] != "host" || i >= k.stagePackets.size()) continue;
      st["packets"] = k.stagePackets[i];
      st["bytes"] = k.stageBytes[i];
    }
  }
  return doc;
}

void writeTable(std::ostream& out, const demux::SplitReport& r, const engine::LiveReport* live) {
  out << "policy " << r.policy << ", profile " << r.profile << " (engine " << policies::name(r.engine) << ")\n";
  for (const auto& c : r.chains) {
    const auto* k = countersOf(live, c);
    out << "\nchain " << c.name << "  priority " << c.priority << "  from " << c.from << "  offload "
        << policies::name(c.mode) << "\n";
    out << "  match   " << c.match << "  [" << (c.demuxInNic ? "nic" : "host") << "]";
    if (k) out << "  " << counterText(k->packets, k->bytes);
    out << "\n";
    out << "  split   " << c.split << "/" << c.stages.size() << " stages in the NIC: " << handoverText(c) << "\n";
    // Why the NIC part ends where it does, on a line of its own: the reason
    // is often about a later stage than the first host one.
    if (c.split < c.stages.size() && !c.stages[c.split].reason.empty())
      out << "  why     " << c.stages[c.split].reason << "\n";
    for (const auto& cond : c.conditions) out << "  needs   " << cond << "\n";
    // Known once applied: where the host runs its stages.
    if (!c.hostHook.empty()) {
      out << "  hook    " << c.hostHook;
      if (!c.hostHookReason.empty()) out << " (not XDP: " << c.hostHookReason << ")";
      out << "\n";
    }
    if (!c.rxMetadata.empty()) out << "  meta    " << c.rxMetadata << "\n";
    for (size_t i = 0; i < c.stages.size(); ++i) {
      const auto& st = c.stages[i];
      std::string line = "  " + std::to_string(i) + " " + pad(st.description, std::max<size_t>(22, st.description.size() + 1));
      line += pad(std::string(demux::name(st.where)), 5);
      if (k) line += " " + pad(stageCounters(k, c, i), 22);
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out << line << "\n";
    }
  }
  // The whole split in one line: how many chains hand over how.
  auto count = [&](Handover h) {
    return std::count_if(r.chains.begin(), r.chains.end(), [h](const Chain& c) { return c.handover == h; });
  };
  out << "\n" << r.chains.size() << (r.chains.size() == 1 ? " chain: " : " chains: ") << count(Handover::kNone)
      << " all in NIC, " << count(Handover::kContinue) << " NIC then host, " << count(Handover::kTrap)
      << " NIC demux then trap, " << count(Handover::kHostOnly) << " host only\n";
  if (!r.errors.empty()) {
    out << "\nrefused:\n";
    for (const auto& e : r.errors) out << "  " << e.pos.str() << ": " << e.message << "\n";
  }
}

void writeDot(std::ostream& out, const demux::SplitReport& r, const engine::LiveReport* live) {
  // One cluster per chain, split into a NIC cluster and a host cluster so the
  // split is visible at a glance; the handover is the edge that crosses.
  out << "digraph vfsteer_plan {\n"
      << "  graph [rankdir=LR, fontname=\"Helvetica\", label=\"" << dotEscape(r.policy) << " on profile "
      << dotEscape(r.profile) << "\", labelloc=t];\n"
      << "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];\n"
      << "  edge [fontname=\"Helvetica\", fontsize=9];\n";
  // dot stacks the clusters of a left-to-right graph bottom up, in the order
  // they are written: written last to first, they read in priority order,
  // top down. Their ids stay the chains' positions.
  for (size_t n = r.chains.size(); n-- > 0;) {
    const auto& c = r.chains[n];
    const auto* k = countersOf(live, c);
    const std::string id = "c" + std::to_string(n);
    out << "  subgraph cluster_" << id << " {\n"
        << "    label=\"chain " << dotEscape(c.name) << " (priority " << c.priority << ", " << policies::name(c.mode)
        << ")\";\n";
    auto node = [&](const std::string& nid, const std::string& label, const std::string& tip) {
      out << "      " << nid << " [label=\"" << dotEscape(label) << "\"";
      if (!tip.empty()) out << ", tooltip=\"" << dotEscape(tip) << "\"";
      out << "];\n";
    };
    std::string matchLabel = "match\n" + c.match;
    if (k) matchLabel += "\n" + counterText(k->packets, k->bytes);
    auto stageLabel = [&](size_t i) {
      std::string l = c.stages[i].description;
      if (const std::string counted = stageCounters(k, c, i); !counted.empty()) l += "\n" + counted;
      return l;
    };
    out << "    subgraph cluster_" << id << "_nic {\n"
        << "      label=\"NIC\"; style=filled; fillcolor=\"#dbe9f6\"; node [fillcolor=\"#9ecae1\"];\n";
    if (c.demuxInNic) node(id + "_m", matchLabel, "");
    for (size_t i = 0; i < c.split && i < c.stages.size(); ++i) node(id + "_s" + std::to_string(i), stageLabel(i), "");
    out << "    }\n";
    out << "    subgraph cluster_" << id << "_host {\n"
        << "      label=\"host\"; style=filled; fillcolor=\"#fdf0d5\"; node [fillcolor=\"#fdd49e\"];\n";
    if (!c.demuxInNic) node(id + "_m", matchLabel, c.reason);
    if (c.handover == Handover::kTrap) node(id + "_hm", "classify again", "");
    for (size_t i = c.split; i < c.stages.size(); ++i)
      node(id + "_s" + std::to_string(i), stageLabel(i), c.stages[i].reason);
    out << "    }\n";
    std::string prev = id + "_m";
    if (c.handover == Handover::kTrap) {
      out << "    " << prev << " -> " << id << "_hm [label=\"trap\", style=dashed, color=red];\n";
      prev = id + "_hm";
    }
    for (size_t i = 0; i < c.stages.size(); ++i) {
      std::string cur = id + "_s" + std::to_string(i);
      out << "    " << prev << " -> " << cur;
      if (i == c.split && c.handover == Handover::kContinue)
        out << " [label=\"goto chain " << std::to_string(c.host ? c.host->tcChain : 0) << "\", style=dashed, color=red]";
      out << ";\n";
      prev = cur;
    }
    if (!c.reason.empty())
      out << "    " << id << "_why [shape=note, fillcolor=white, label=\"" << dotEscape(c.reason) << "\"];\n";
    out << "  }\n";
  }
  out << "}\n";
}

}  // namespace vfsteer::cli
