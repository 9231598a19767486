#include "cli/plan_output.hpp"

#include "engine/split_json.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace vfsteer::cli {

using demux::ChainPlan;
using demux::Handover;
using nlohmann::json;

namespace {

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
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

std::string handoverText(const json& c) {
  const std::string h = c["handover"];
  if (h == "none") return "all in NIC";
  if (h == "continue") return "NIC, then host in tc chain " + hex(c["host"]["tc_chain"].get<uint32_t>());
  if (h == "trap") return "NIC demux, trap to host";
  return "host only";
}

std::string counterText(const json& node) {
  if (!node.contains("packets")) return "";
  return std::to_string(node["packets"].get<uint64_t>()) + " pkts " +
         std::to_string(node["bytes"].get<uint64_t>()) + " B";
}

}  // namespace

json reportJson(const engine::LiveReport& r) {
  json doc = engine::toJson(r.split);
  doc.erase("vfsteer_plan");
  doc["vfsteer_report"] = kReportJsonVersion;
  doc["instance"] = r.instance;
  const auto& d = r.datapath;
  json datapath{{"pinned", d.pinned}, {"loaded", d.loaded}, {"generation", d.generation}, {"prog_id", d.progId}};
  datapath["attachments"] = json::array();
  for (const auto& e : d.entries)
    datapath["attachments"].push_back({{"ifname", e.device}, {"ifindex", e.ifindex}, {"attached", e.attached}});
  datapath["xdp_attachments"] = json::array();
  for (const auto& x : d.xdp)
    datapath["xdp_attachments"].push_back({{"ifname", x.device},
                                           {"ifindex", x.ifindex},
                                           {"mode", std::string(policies::name(x.mode))},
                                           {"prog_id", d.xdpProgId},
                                           {"attached", x.attached}});
  doc["datapath"] = datapath;
  if (r.totals) {
    const auto& g = *r.totals;
    doc["host_totals"] = {{"malformed", g.malformed},   {"unmatched", g.unmatched},
                          {"policed", g.policed},       {"bpf_stage_missing", g.tailcallFailures},
                          {"action_errors", g.actionErrors}};
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
      json& rule = c["nic_rules"][i];
      const auto& s = statuses[i];
      rule["via"] = s.viaProgram ? "demux program" : "flower";
      rule["present"] = s.present;
      rule["in_hw"] = s.inHw;
      if (!s.viaProgram && s.present) {
        rule["in_hw_count"] = s.inHwCount;
        rule["packets"] = s.packets;
        rule["bytes"] = s.bytes;
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

std::string chainsTable(const json& doc) {
  std::ostringstream out;
  out << "policy " << doc["policy"].get<std::string>() << ", profile "
      << doc["profile"].get<std::string>() << " (engine " << doc["engine"].get<std::string>() << ")\n";
  for (const auto& c : doc["chains"]) {
    out << "\nchain " << c["name"].get<std::string>() << "  priority " << c["priority"]
        << "  from " << c["from"].get<std::string>() << "  offload "
        << c["offload"].get<std::string>() << "\n";
    out << "  match   " << c["match"].get<std::string>() << "  ["
        << (c["demux_in_nic"].get<bool>() ? "nic" : "host") << "]";
    if (c.contains("counters")) out << "  " << counterText(c["counters"]);
    out << "\n";
    out << "  split   " << c["split"] << "/" << c["stages"].size() << " stages in the NIC: "
        << handoverText(c) << "\n";
    // Known once applied: where the host runs its stages.
    if (c.contains("host_hook")) {
      out << "  hook    " << c["host_hook"].get<std::string>();
      if (c.contains("host_hook_reason")) out << " (not XDP: " << c["host_hook_reason"].get<std::string>() << ")";
      out << "\n";
    }
    const size_t split = c["split"];
    for (const auto& st : c["stages"]) {
      const size_t index = st["index"];
      const std::string desc = st["description"];
      std::string line = "  " + std::to_string(index) + " " + pad(desc, std::max<size_t>(22, desc.size() + 1));
      line += pad(st["runs_in"], 5);
      if (st.contains("packets")) line += " " + pad(counterText(st), 22);
      if (index == split && !st["reason"].get<std::string>().empty())
        line += " " + st["reason"].get<std::string>();
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out << line << "\n";
    }
  }
  if (doc.contains("errors") && !doc["errors"].empty()) {
    out << "\nrefused:\n";
    for (const auto& e : doc["errors"])
      out << "  " << e["position"].get<std::string>() << ": " << e["message"].get<std::string>() << "\n";
  }
  return out.str();
}

std::string chainsDot(const json& doc) {
  // One cluster per chain, split into a NIC cluster and a host cluster so the
  // split is visible at a glance; the handover is the edge that crosses.
  std::ostringstream out;
  out << "digraph vfsteer_plan {\n"
      << "  graph [rankdir=LR, fontname=\"Helvetica\", label=\""
      << dotEscape(doc["policy"].get<std::string>()) << " on profile "
      << dotEscape(doc["profile"].get<std::string>()) << "\", labelloc=t];\n"
      << "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];\n"
      << "  edge [fontname=\"Helvetica\", fontsize=9];\n";
  size_t i = 0;
  for (const auto& c : doc["chains"]) {
    const std::string id = "c" + std::to_string(i++);
    const size_t split = c["split"];
    const std::string handover = c["handover"];
    const bool demuxInNic = c["demux_in_nic"];
    out << "  subgraph cluster_" << id << " {\n"
        << "    label=\"chain " << dotEscape(c["name"]) << " (priority " << c["priority"] << ", "
        << c["offload"].get<std::string>() << ")\";\n";
    auto node = [&](const std::string& nid, const std::string& label, const std::string& tip) {
      out << "      " << nid << " [label=\"" << dotEscape(label) << "\"";
      if (!tip.empty()) out << ", tooltip=\"" << dotEscape(tip) << "\"";
      out << "];\n";
    };
    std::string matchLabel = "match\n" + c["match"].get<std::string>();
    if (c.contains("counters")) matchLabel += "\n" + counterText(c["counters"]);
    auto stageLabel = [](const json& st) {
      std::string l = st["description"];
      if (st.contains("packets")) l += "\n" + counterText(st);
      return l;
    };
    out << "    subgraph cluster_" << id << "_nic {\n"
        << "      label=\"NIC\"; style=filled; fillcolor=\"#dbe9f6\"; node [fillcolor=\"#9ecae1\"];\n";
    if (demuxInNic) node(id + "_m", matchLabel, "");
    for (const auto& st : c["stages"])
      if (st["index"].get<size_t>() < split) node(id + "_s" + std::to_string(st["index"].get<size_t>()), stageLabel(st), "");
    out << "    }\n";
    out << "    subgraph cluster_" << id << "_host {\n"
        << "      label=\"host\"; style=filled; fillcolor=\"#fdf0d5\"; node [fillcolor=\"#fdd49e\"];\n";
    if (!demuxInNic) node(id + "_m", matchLabel, c["reason"]);
    if (handover == "trap") node(id + "_hm", "classify again", "");
    for (const auto& st : c["stages"])
      if (st["index"].get<size_t>() >= split)
        node(id + "_s" + std::to_string(st["index"].get<size_t>()), stageLabel(st), st["reason"]);
    out << "    }\n";
    std::string prev = id + "_m";
    if (handover == "trap") {
      out << "    " << prev << " -> " << id << "_hm [label=\"trap\", style=dashed, color=red];\n";
      prev = id + "_hm";
    }
    for (const auto& st : c["stages"]) {
      const size_t s = st["index"];
      std::string cur = id + "_s" + std::to_string(s);
      out << "    " << prev << " -> " << cur;
      if (s == split && handover == "continue")
        out << " [label=\"goto chain " << hex(c["host"]["tc_chain"].get<uint32_t>())
            << "\", style=dashed, color=red]";
      out << ";\n";
      prev = cur;
    }
    if (!c["reason"].get<std::string>().empty())
      out << "    " << id << "_why [shape=note, fillcolor=white, label=\""
          << dotEscape(c["reason"]) << "\"];\n";
    out << "  }\n";
  }
  out << "}\n";
  return out.str();
}

}  // namespace vfsteer::cli
