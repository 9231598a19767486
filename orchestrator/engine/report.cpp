#include "engine/report.hpp"

#include <linux/netlink.h>

#include "engine/observe.hpp"

namespace vfsteer::engine {

namespace tc = netlink::tc;

Result<LiveReport> buildReport(const InstanceState& state, const demux::SplitReport& split, PortFactory& ports) {
  LiveReport r;
  r.instance = state.instance;
  r.split = split;
  r.nicEmulated = state.nicEmulated;
  r.nicCounters = state.nicCounters;

  VFSTEER_ASSIGN_OR_RETURN(auto pinDir, representors::Datapath::pinDir(state.instance));
  VFSTEER_ASSIGN_OR_RETURN(auto dp, ports.datapath(pinDir));
  VFSTEER_ASSIGN_OR_RETURN(auto route, ports.netlink(state.netns, NETLINK_ROUTE));
  ObserveScope scope;
  scope.instance = state.instance;
  scope.devices = state.devices;
  scope.tables = false;  // the report reads counters, not the tables
  scope.records = recordsOf(&state, nullptr);
  std::unique_ptr<EthtoolPort> ethtool;
  if (!scope.records.flowRules.empty()) {
    VFSTEER_ASSIGN_OR_RETURN(ethtool, ports.ethtool(state.netns));
  }
  ObservePorts observePorts{*route, nullptr, *dp, ethtool.get()};
  VFSTEER_ASSIGN_OR_RETURN(ObservedState kernel, observe(scope, observePorts));
  auto owned = [&](const Key& key) -> const Object* {
    auto it = kernel.owned.find(key);
    return it == kernel.owned.end() ? nullptr : &it->second;
  };
  auto ifindexOf = [&](const std::string& device) {
    auto it = kernel.ifindex.find(device);
    return it == kernel.ifindex.end() ? 0 : it->second.value;
  };

  auto& d = r.datapath;
  d.pinned = pinDir;
  d.loaded = kernel.datapath.present;
  d.generation = kernel.datapath.activeGeneration;
  d.progId = kernel.datapath.ingressProgId;
  d.xdpProgId = kernel.datapath.xdpProgId;
  if (d.loaded) {
    d.classifierProgId = dp->classifierProgId(d.generation);
    d.classifier = d.classifierProgId ? "specialized" : "tables";
  }
  for (const auto& device : state.hostEntries) {
    const auto* e = owned(Key{Kind::kHostEntry, device});
    d.entries.push_back({device, ifindexOf(device),
                         e && d.loaded && std::get<HostEntry>(*e).progId == kernel.datapath.ingressProgId});
  }
  for (const auto& x : state.xdpEntries) {
    const auto* e = owned(Key{Kind::kXdpEntry, x.device});
    const auto* held = e ? &std::get<XdpEntry>(*e) : nullptr;
    d.xdp.push_back({x.device, ifindexOf(x.device), x.mode, x.rxMetadata,
                     held && d.loaded && held->mode == x.mode && held->rxMetadata == x.rxMetadata &&
                         (x.rxMetadata || held->progId == kernel.datapath.xdpProgId),
                     held ? held->progId : 0});
  }
  if (d.loaded) {
    VFSTEER_ASSIGN_OR_RETURN(r.totals, dp->globalCounters());
  }

  if (state.demuxProgram) {
    const DemuxProgram& rec = *state.demuxProgram;
    LiveReport::DemuxStatus s{rec, false, false};
    if (const auto* o = owned(Key{Kind::kDemuxProgram, rec.device, static_cast<uint32_t>(rec.hook)})) {
      const auto& held = std::get<DemuxProgram>(*o);
      s.attached = held.progId == rec.progId;
      s.inHw = s.attached && held.inHw;
    }
    r.demuxProgram = s;
  }
  for (const auto& chain : r.split.chains) {
    const bool viaProgram = state.demuxProgram && std::count(state.demuxProgram->chains.begin(),
                                                             state.demuxProgram->chains.end(), chain.name);
    auto& statuses = r.nicRules[chain.name];
    for (const auto& view : chain.nicRules) {
      LiveReport::NicRuleStatus s;
      s.viaProgram = viaProgram;
      if (viaProgram) {
        s.present = r.demuxProgram->attached;
        s.inHw = r.demuxProgram->inHw;
        statuses.push_back(s);
        continue;
      }
      if (split.engine == policies::NicEngine::kNtuple) {
        // An ethtool rule is in the NIC or nowhere.
        if (const auto* o = owned(Key{Kind::kFlowRule, view.device, view.location})) {
          s.present = s.inHw = true;
          s.flowRule = netlink::rxnfc::ethtoolArgs(std::get<FlowRule>(*o).rule);
        }
        statuses.push_back(s);
        continue;
      }
      // The rule at its priority and handle on its device, whichever
      // protocol.
      for (auto it = kernel.owned.lower_bound(Key{Kind::kNicRule, view.device, view.tcPriority});
           it != kernel.owned.end() && it->first.kind == Kind::kNicRule && it->first.device == view.device &&
           it->first.index == view.tcPriority;
           ++it) {
        if (it->first.handle != view.tcHandle) continue;
        const tc::Filter& f = std::get<NicRule>(it->second).filter;
        s.present = true;
        s.inHw = f.inHw();
        const auto* flower = std::get_if<tc::Flower>(&f.spec);
        if (flower) s.inHwCount = flower->inHwCount;
        const auto& actions = flower ? flower->actions : std::get<tc::U32>(f.spec).actions;
        if (!actions.empty()) {
          s.packets = actions.front().packets;
          s.bytes = actions.front().bytes;
        }
      }
      statuses.push_back(s);
    }
    auto id = state.chainIds.find(chain.name);
    if (id == state.chainIds.end() || !d.loaded) continue;
    VFSTEER_ASSIGN_OR_RETURN(r.counters[chain.name], dp->chainCounters(id->second));
  }
  return r;
}

}  // namespace vfsteer::engine
