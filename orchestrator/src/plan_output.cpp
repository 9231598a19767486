#include "plan_output.hpp"

#include <cstdio>
#include <sstream>

namespace vfsteer::orchestrator {

using demux::ChainPlan;
using demux::Handover;
using demux::Placement;
using nlohmann::json;

namespace {

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

std::string handoverText(const ChainPlan& c) {
  switch (c.handover) {
    case Handover::kNone: return "all in NIC";
    case Handover::kContinue: return "NIC, then host in tc chain " + hex(c.continueTcChain);
    case Handover::kTrap: return "NIC demux, trap to host";
    case Handover::kHostOnly: return "host only";
  }
  return "?";
}

std::string l3Name(policies::IpVersion v) {
  switch (v) {
    case policies::IpVersion::kV4: return "ipv4";
    case policies::IpVersion::kV6: return "ipv6";
    default: return "all";
  }
}

std::string exitName(demux::NicExit e) {
  switch (e) {
    case demux::NicExit::kTerminal: return "terminal";
    case demux::NicExit::kGotoChain: return "goto_chain";
    case demux::NicExit::kTrap: return "trap";
  }
  return "?";
}

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

}  // namespace

std::string planTable(const policies::Policy& policy, const demux::Plan& plan) {
  std::ostringstream out;
  out << "policy " << policy.file << ", profile " << plan.profile << " (engine "
      << policies::name(plan.engine) << ")\n";
  for (size_t i = 0; i < plan.chains.size(); ++i) {
    const ChainPlan& c = plan.chains[i];
    out << "\nchain " << c.name << "  priority " << c.priority << "  from " << c.from.str()
        << "  offload " << policies::name(c.mode) << "\n";
    out << "  match   " << policy.chains[i].match.describe() << "  ["
        << (c.demuxInNic ? "nic" : "host") << "]\n";
    out << "  split   " << c.split << "/" << c.stages.size() << " stages in the NIC: "
        << handoverText(c) << "\n";
    for (size_t s = 0; s < c.stages.size(); ++s) {
      const auto& st = c.stages[s];
      out << "  " << s << " " << pad(st.description, 22);
      if (!st.reason.empty() && s == c.split)
        out << pad(std::string(name(st.where)), 5) << " " << st.reason;
      else
        out << name(st.where);
      out << "\n";
    }
  }
  if (!plan.errors.empty()) {
    out << "\nrefused:\n";
    for (const auto& e : plan.errors) out << "  " << e.pos.str() << ": " << e.message << "\n";
  }
  return out.str();
}

json planJson(const policies::Policy& policy, const demux::Plan& plan) {
  json doc;
  doc["vfsteer_plan"] = kPlanJsonVersion;
  doc["policy"] = policy.file;
  doc["profile"] = plan.profile;
  doc["engine"] = std::string(policies::name(plan.engine));
  doc["ok"] = plan.ok();
  doc["errors"] = json::array();
  for (const auto& e : plan.errors)
    doc["errors"].push_back({{"chain", e.chain}, {"message", e.message}, {"position", e.pos.str()}});
  doc["chains"] = json::array();
  for (size_t i = 0; i < plan.chains.size(); ++i) {
    const ChainPlan& c = plan.chains[i];
    json jc;
    jc["name"] = c.name;
    jc["priority"] = c.priority;
    jc["from"] = c.from.str();
    jc["offload"] = std::string(policies::name(c.mode));
    jc["match"] = policy.chains[i].match.describe();
    jc["demux_in_nic"] = c.demuxInNic;
    jc["split"] = c.split;
    jc["handover"] = std::string(demux::name(c.handover));
    jc["reason"] = c.reason;
    jc["stages"] = json::array();
    for (size_t s = 0; s < c.stages.size(); ++s) {
      const auto& st = c.stages[s];
      jc["stages"].push_back({{"index", s},
                              {"stage", std::string(policies::name(st.kind))},
                              {"description", st.description},
                              {"runs_in", std::string(demux::name(st.where))},
                              {"reason", st.reason}});
    }
    jc["nic_rules"] = json::array();
    for (const auto& r : plan.nicRules) {
      if (r.chain != i) continue;
      json jr{{"tc_priority", r.tcPriority},
              {"protocol", l3Name(r.l3)},
              {"stages", r.stageCount},
              {"exit", exitName(r.exit)}};
      if (r.exit == demux::NicExit::kGotoChain) jr["goto_tc_chain"] = r.gotoTcChain;
      jc["nic_rules"].push_back(jr);
    }
    jc["host"] = nullptr;
    for (const auto& h : plan.hostRules) {
      if (h.chain != i) continue;
      json jh{{"entry", h.entry == demux::HostEntry::kClassify ? "classify" : "continuation"},
              {"start_stage", h.startStage}};
      if (h.entry == demux::HostEntry::kContinuation) jh["tc_chain"] = h.tcChain;
      jc["host"] = jh;
    }
    doc["chains"].push_back(jc);
  }
  return doc;
}

std::string planDot(const policies::Policy& policy, const demux::Plan& plan) {
  // One cluster per chain, split into a NIC cluster and a host cluster so the
  // split is visible at a glance; the handover is the edge that crosses.
  std::ostringstream out;
  out << "digraph vfsteer_plan {\n"
      << "  graph [rankdir=LR, fontname=\"Helvetica\", label=\"" << dotEscape(policy.file)
      << " on profile " << dotEscape(plan.profile) << "\", labelloc=t];\n"
      << "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];\n"
      << "  edge [fontname=\"Helvetica\", fontsize=9];\n";
  for (size_t i = 0; i < plan.chains.size(); ++i) {
    const ChainPlan& c = plan.chains[i];
    const std::string id = "c" + std::to_string(i);
    out << "  subgraph cluster_" << id << " {\n"
        << "    label=\"chain " << dotEscape(c.name) << " (priority " << c.priority << ", "
        << policies::name(c.mode) << ")\";\n";
    auto node = [&](const std::string& nid, const std::string& label, const std::string& tip) {
      out << "      " << nid << " [label=\"" << dotEscape(label) << "\"";
      if (!tip.empty()) out << ", tooltip=\"" << dotEscape(tip) << "\"";
      out << "];\n";
    };
    const std::string matchLabel = "match\n" + policy.chains[i].match.describe();
    out << "    subgraph cluster_" << id << "_nic {\n"
        << "      label=\"NIC\"; style=filled; fillcolor=\"#dbe9f6\"; node [fillcolor=\"#9ecae1\"];\n";
    if (c.demuxInNic) node(id + "_m", matchLabel, "");
    for (size_t s = 0; s < c.split; ++s) node(id + "_s" + std::to_string(s), c.stages[s].description, "");
    out << "    }\n";
    out << "    subgraph cluster_" << id << "_host {\n"
        << "      label=\"host\"; style=filled; fillcolor=\"#fdf0d5\"; node [fillcolor=\"#fdd49e\"];\n";
    if (!c.demuxInNic) node(id + "_m", matchLabel, c.reason);
    if (c.handover == Handover::kTrap) node(id + "_hm", "classify again", "");
    for (size_t s = c.split; s < c.stages.size(); ++s)
      node(id + "_s" + std::to_string(s), c.stages[s].description, c.stages[s].reason);
    out << "    }\n";
    // Edges along the chain.
    std::string prev = id + "_m";
    if (c.handover == Handover::kTrap) {
      out << "    " << prev << " -> " << id << "_hm [label=\"trap\", style=dashed, color=red];\n";
      prev = id + "_hm";
    }
    for (size_t s = 0; s < c.stages.size(); ++s) {
      std::string cur = id + "_s" + std::to_string(s);
      out << "    " << prev << " -> " << cur;
      if (s == c.split && c.handover == Handover::kContinue)
        out << " [label=\"goto chain " << hex(c.continueTcChain) << "\", style=dashed, color=red]";
      out << ";\n";
      prev = cur;
    }
    if (!c.reason.empty())
      out << "    " << id << "_why [shape=note, fillcolor=white, label=\""
          << dotEscape(c.reason) << "\"];\n";
    out << "  }\n";
  }
  out << "}\n";
  return out.str();
}

}  // namespace vfsteer::orchestrator
