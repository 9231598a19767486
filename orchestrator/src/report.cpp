#include "report.hpp"

#include <linux/netlink.h>

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
    VFSTEER_ASSIGN_OR_RETURN(auto tcs, readPortTc(*nl, a.ifindex));
    const bool attached = tcs.ours && std::get<netlink::tc::Bpf>(tcs.ours->spec).progId == dp->ingressProgId();
    datapath["attachments"].push_back({{"ifname", a.ifname}, {"ifindex", a.ifindex}, {"attached", attached}});
  }
  doc["datapath"] = datapath;

  if (dp->present()) {
    VFSTEER_ASSIGN_OR_RETURN(auto g, dp->globalCounters());
    doc["host_totals"] = {{"malformed", g.malformed},   {"unmatched", g.unmatched},
                          {"policed", g.policed},       {"bpf_stage_missing", g.tailcallFailures},
                          {"action_errors", g.actionErrors}};
  }
  for (auto& c : doc["chains"]) {
    auto it = state.chainIds.find(c["name"].get<std::string>());
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
