#include "report.hpp"

#include <linux/netlink.h>

#include "host_xdp.hpp"
#include "nic_program.hpp"
#include "nic_rules.hpp"
#include "tc_ops.hpp"
#include "vfsteer/representors/datapath.hpp"

namespace vfsteer::orchestrator {

using nlohmann::json;

Result<json> buildReport(const InstanceState& state, PortFactory& ports) {
  json doc = state.plan;
  doc.erase("vfsteer_plan");
  doc["vfsteer_report"] = kReportJsonVersion;
  doc["instance"] = state.instance;

  VFSTEER_ASSIGN_OR_RETURN(auto dp, ports.datapath(representors::Datapath::pinDir(state.instance)));
  VFSTEER_ASSIGN_OR_RETURN(auto nl, ports.netlink(state.netns, NETLINK_ROUTE));
  json datapath{{"pinned", representors::Datapath::pinDir(state.instance)},
                {"loaded", dp->present()},
                {"generation", dp->activeGeneration()},
                {"prog_id", dp->ingressProgId()}};
  datapath["attachments"] = json::array();
  for (const auto& a : state.attachments) {
    VFSTEER_ASSIGN_OR_RETURN(auto tcs, readPortTc(*nl, a.ifindex, state.instance));
    const bool attached = tcs.ours && std::get<netlink::tc::Bpf>(tcs.ours->spec).progId == dp->ingressProgId();
    datapath["attachments"].push_back({{"ifname", a.ifname}, {"ifindex", a.ifindex}, {"attached", attached}});
  }
  // The XDP entry where the state says it is, as the kernel reports it.
  datapath["xdp_attachments"] = json::array();
  if (!state.xdpAttachments.empty()) {
    std::map<int, std::string> where;
    for (const auto& a : state.xdpAttachments) where[a.ifindex] = a.ifname;
    VFSTEER_ASSIGN_OR_RETURN(auto slots, readXdpPorts(*nl, nullptr, where));
    for (const auto& a : state.xdpAttachments) {
      const uint32_t id = programIn(slots.at(a.ifindex), a.mode == "native" ? policies::HostXdp::kNative
                                                                             : policies::HostXdp::kGeneric);
      datapath["xdp_attachments"].push_back({{"ifname", a.ifname}, {"ifindex", a.ifindex}, {"mode", a.mode},
                                            {"prog_id", dp->xdpProgId()},
                                            {"attached", id != 0 && id == dp->xdpProgId()}});
    }
  }
  doc["datapath"] = datapath;

  if (dp->present()) {
    VFSTEER_ASSIGN_OR_RETURN(auto g, dp->globalCounters());
    doc["host_totals"] = {{"malformed", g.malformed},   {"unmatched", g.unmatched},
                          {"policed", g.policed},       {"bpf_stage_missing", g.tailcallFailures},
                          {"action_errors", g.actionErrors}};
  }
  // The NIC part as the kernel reports it now: in_hw flags, never only
  // what vfsteer asked for.
  std::map<int, std::vector<netlink::tc::Filter>> nicFilters;
  for (const auto& r : state.nicRules) {
    if (nicFilters.contains(r.ifindex)) continue;
    auto owned = ownedNicFilters(*nl, r.ifindex, ownerCookie(state.instance));
    nicFilters[r.ifindex] = owned.ok() ? *owned : std::vector<netlink::tc::Filter>{};
  }
  doc["nic_emulated"] = state.nicEmulated;
  json nicProgram;
  if (state.nicProgram) {
    const auto& p = *state.nicProgram;
    nicProgram = {{"hook", p.hook}, {"device", p.device}, {"prog_id", p.progId}, {"chains", p.chains}};
    auto hook = parseHookName(p.hook);
    auto slot = hook ? readNicProgramSlot(*nl, *hook, p.ifindex, state.instance) : Result<NicProgramSlot>(NicProgramSlot{});
    nicProgram["attached"] = slot.ok() && slot->progId == p.progId;
    nicProgram["in_hw"] = slot.ok() && slot->progId == p.progId && slot->inHw;
    doc["nic_program"] = nicProgram;
  }
  for (auto& c : doc["chains"]) {
    const std::string name = c["name"];
    // Each of the plan's NIC rules, with what the kernel holds for it.
    const bool viaProgram = state.nicProgram && std::count(state.nicProgram->chains.begin(),
                                                           state.nicProgram->chains.end(), name);
    for (auto& rule : c["nic_rules"]) {
      if (viaProgram) {
        rule["device"] = state.nicProgram->device;
        rule["via"] = "demux program";
        rule["present"] = nicProgram["attached"];
        rule["in_hw"] = nicProgram["in_hw"];
        continue;
      }
      const uint32_t prio = rule["tc_priority"];
      rule["present"] = false;
      for (const auto& r : state.nicRules) {
        if (r.chain != name || r.priority != prio) continue;
        rule["device"] = r.device;
        rule["via"] = "flower";
        for (const auto& f : nicFilters[r.ifindex]) {
          if (f.priority != r.priority || f.protocol != r.protocol) continue;
          const auto& flower = std::get<netlink::tc::Flower>(f.spec);
          rule["present"] = true;
          rule["in_hw"] = f.inHw();
          rule["in_hw_count"] = flower.inHwCount;
          rule["packets"] = flower.actions.empty() ? 0 : flower.actions.front().packets;
          rule["bytes"] = flower.actions.empty() ? 0 : flower.actions.front().bytes;
        }
      }
    }
    auto it = state.chainIds.find(name);
    if (it == state.chainIds.end() || !dp->present()) continue;
    VFSTEER_ASSIGN_OR_RETURN(auto counters, dp->chainCounters(it->second));
    // Counters describe what the host saw: packets the NIC fully handled
    // never reach it.
    c["counters"] = {{"packets", counters.packets}, {"bytes", counters.bytes}, {"seen_by", "host"}};
    for (auto& st : c["stages"]) {
      const size_t i = st["index"];
      if (st["runs_in"] != "host" || i >= counters.stagePackets.size()) continue;
      st["packets"] = counters.stagePackets[i];
      st["bytes"] = counters.stageBytes[i];
    }
  }
  return doc;
}

}  // namespace vfsteer::orchestrator
