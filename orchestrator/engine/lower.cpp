#include "engine/lower.hpp"

#include <unordered_map>

#include "engine/demux_rules.hpp"
#include "engine/flower_rules.hpp"
#include "engine/ntuple_rules.hpp"
#include "engine/u32_rules.hpp"
#include "vfsteer/netlink/netdev.hpp"
#include "vfsteer/representors/bpf_classifier.hpp"

namespace vfsteer::engine {

using policies::HostXdp;
namespace nd = netlink::netdev;

void bindXdpPorts(HostBindings& b, const std::map<std::string, XdpPortFacts>& ports,
                  const std::map<std::string, IfIndex>& ifindex) {
  const bool native = b.xdpMode == HostXdp::kNative;
  for (const auto& [name, p] : ports) {
    auto index = ifindex.find(name);
    if (index == ifindex.end()) continue;
    const IfIndex port = index->second;
    for (uint32_t id : {p.driverProg, p.genericProg, p.offloadProg}) {
      if (id == 0 || id == p.vfsteerProg) continue;
      b.noXdpEntry[port] = name + " holds an XDP program vfsteer did not attach (id " + std::to_string(id) +
                           "); vfsteer leaves it alone";
    }
    if (!native) {
      b.noRxMetadata.emplace(port, "generic XDP reads no RX metadata (its kfuncs need the driver's own XDP)");
      continue;
    }
    if (!p.rxMetadata)
      b.noRxMetadata.emplace(port, "the kernel does not report " + name + "'s XDP RX metadata (Linux 6.8+)");
    else if (*p.rxMetadata == 0)
      b.noRxMetadata.emplace(port, name + "'s driver implements none of the XDP RX metadata kfuncs");
    else {
      std::string fields;
      for (auto [bit, field] : {std::pair{nd::kRxMetadataHash, "rx_hash"}, {nd::kRxMetadataTimestamp, "rx_timestamp"},
                                {nd::kRxMetadataVlanTag, "vlan_tag"}})
        if (*p.rxMetadata & bit) fields += (fields.empty() ? "" : ", ") + std::string(field);
      b.rxFields.emplace(port, fields);
    }
    // Native XDP needs the driver's word for both ends; without it vfsteer
    // does not guess (a redirect to a device that cannot take the frame
    // drops it without a trace).
    if (!p.features) {
      const std::string why = "the kernel does not report " + name + "'s xdp-features (netdev netlink family, Linux 6.3+)";
      b.noXdpEntry.emplace(port, why);
      b.noXdpTarget.emplace(port, why);
      continue;
    }
    if ((*p.features & (nd::kXdpBasic | nd::kXdpRedirect)) != (nd::kXdpBasic | nd::kXdpRedirect))
      b.noXdpEntry.emplace(port, name + " has no driver XDP with redirect (xdp-features)");
    if (!(*p.features & nd::kXdpNdoXmit))
      b.noXdpTarget.emplace(port, name + " does not take redirected XDP frames (no ndo-xmit in its "
                                         "xdp-features; a veth needs GRO or an XDP program on its peer)");
  }
}

namespace {

HostBindings hostBindings(const LowerInputs& in) {
  const auto& t = in.topology;
  HostBindings b;
  b.uplinkIfindex = IfIndex{t.pfIfindex};
  b.uplinkName = t.pf;
  for (const auto& r : t.reps) {
    b.repIfindex[VfIndex{r.vf}] = IfIndex{r.ifindex};
    b.repName[VfIndex{r.vf}] = r.ifname;
  }
  b.xdpMode = in.policy.device.hostXdp ? in.profile.hostXdp : HostXdp::kNone;
  b.xdpOff = !in.policy.device.hostXdp
                 ? "the policy sets device.host_xdp: off"
                 : "profile " + in.profile.name + " runs the host datapath in tc only (host.xdp: none)";
  bindXdpPorts(b, in.observed.xdp, in.observed.ifindex);
  return b;
}

// The host datapath: its programs, tables and entries on every port.
void lowerHost(const LowerInputs& in, const HostProgram& host, DesiredState& out) {
  out.add(Datapath{});
  for (const auto& p : host.programs) out.add(p);
  HostTables tables{host.tables, {}};
  if (in.policy.device.hostSpecialize && representors::specializable(host.tables))
    tables.tables.classifier = representors::HostTables::Classifier::kSpecialized;
  for (const auto& [name, id] : host.chainIds) {
    const bool known = in.previous && in.previous->chainIds.contains(name) && in.previous->chainIds.at(name) == id;
    if (!known) tables.freshChainIds.push_back(id);  // a new chain does not inherit counts
  }
  out.add(std::move(tables));
  for (const auto& [ifindex, name] : host.attach) {
    out.add(Clsact{name});
    out.add(HostEntry{name, 0});
  }
  for (const auto& [ifindex, name] : host.xdpAttach) {
    // A port whose driver reads RX metadata gets its own entry that hands
    // it on (native mode only: the kernel binds such a program to a device).
    auto facts = in.observed.xdp.find(name);
    const bool rx = host.xdpMode == HostXdp::kNative && facts != in.observed.xdp.end() &&
                    facts->second.rxMetadata.value_or(0) != 0;
    out.add(XdpEntry{name, host.xdpMode, 0, rx});
  }
}

Status lowerFlower(const LowerInputs& in, const HostProgram& host, DesiredState& out) {
  for (const auto& dev : tunnelDevicesFor(in.policy, in.plan)) out.add(dev);
  FlowerBindings b;
  b.uplinkIfindex = IfIndex{in.topology.pfIfindex};
  b.uplinkName = in.topology.pf;
  for (const auto& r : in.topology.reps) {
    b.repIfindex[VfIndex{r.vf}] = IfIndex{r.ifindex};
    b.repName[VfIndex{r.vf}] = r.ifname;
  }
  b.cookie = ownerCookie(in.topology.instance());
  b.emulated = in.emulateNic;
  VFSTEER_ASSIGN_OR_RETURN(auto rules, buildFlowerRules(in.policy, in.plan, b));
  // Rules come device by device: the clsact of the last rule's device is
  // there already (adding it again would change nothing, at a map insert).
  std::string clsactAdded;
  for (auto& rule : rules) {
    if (rule.device != clsactAdded) {
      out.add(Clsact{rule.device});
      clsactAdded = rule.device;
    }
    if (rule.exit == demux::NicExit::kGotoChain) {
      // The host's entry in the tc chain the rule jumps to.
      const uint32_t tcChain = rule.gotoTcChain;
      auto cont = host.continuations.find(tcChain);
      if (cont == host.continuations.end())
        return Error(ErrorCode::kInternal, "chain " + rule.chain + " continues in tc chain " + std::to_string(tcChain) +
                                               ", which the host tables lack");
      out.add(Continuation{rule.device, tcChain, cont->second.chainId, cont->second.startStage, 0});
    }
    out.add(std::move(rule));
  }
  return okStatus();
}

Status lowerU32(const LowerInputs& in, DesiredState& out) {
  if (in.plan.nicRules.empty()) return okStatus();
  U32Bindings b;
  b.pfIfindex = IfIndex{in.topology.pfIfindex};
  b.pfName = in.topology.pf;
  for (uint16_t vf = 0; vf < 256; ++vf) {
    const auto name = vfNetdevName(in.topology, vf);
    if (!name) continue;
    if (auto it = in.observed.ifindex.find(*name); it != in.observed.ifindex.end()) b.vfIfindex[VfIndex{vf}] = it->second;
  }
  b.cookie = ownerCookie(in.topology.instance());
  b.emulated = in.emulateNic;
  VFSTEER_ASSIGN_OR_RETURN(U32Filters filters, buildU32Filters(in.policy, in.plan, b));
  out.add(Clsact{b.pfName});
  for (auto& t : filters.tables) out.add(U32Table{b.pfName, std::move(t)});
  for (auto& l : filters.links) out.add(U32Link{b.pfName, std::move(l)});
  for (auto& r : filters.rules) out.add(std::move(r));
  return okStatus();
}

Status lowerNtuple(const LowerInputs& in, DesiredState& out) {
  if (in.plan.nicRules.empty()) return okStatus();
  // apply refuses --emulate-nic for it first (loadInputs): nothing runs an
  // ethtool flow rule in software.
  if (in.emulateNic) return Error(ErrorCode::kInternal, "engine ntuple cannot be emulated");
  VFSTEER_ASSIGN_OR_RETURN(auto rules, buildFlowRules(in.policy, in.plan, in.topology.pf));
  for (auto& r : rules) out.add(std::move(r));
  return okStatus();
}

Status lowerDemuxProgram(const LowerInputs& in, DesiredState& out) {
  VFSTEER_ASSIGN_OR_RETURN(auto rules, buildDemuxRules(in.policy, in.plan));
  if (rules.empty()) return okStatus();
  DemuxProgram d;
  d.hook = in.demuxHook;
  d.device = in.topology.pf;
  d.emulated = in.emulateNic;
  d.insns = representors::compileDemux(rules, d.hook);
  d.fingerprint = representors::demuxFingerprint(d.insns);
  d.rules = rules.size();
  for (const auto& r : in.plan.nicRules) {
    const std::string& name = in.policy.chains[r.chain].name;
    if (std::find(d.chains.begin(), d.chains.end(), name) == d.chains.end()) d.chains.push_back(name);
    if (d.skipSwChain.empty() && in.plan.chains[r.chain].mode == policies::OffloadMode::kSkipSw) d.skipSwChain = name;
  }
  if (d.hook == representors::DemuxHook::kTc) out.add(Clsact{d.device});
  out.add(std::move(d));
  return okStatus();
}

}  // namespace

Result<Lowered> lower(const LowerInputs& in) {
  Lowered out;
  HostBindings bindings = hostBindings(in);
  VFSTEER_ASSIGN_OR_RETURN(out.host, buildHostProgram(in.policy, in.plan, bindings, in.previous));
  lowerHost(in, out.host, out.desired);
  if (in.profile.engine == policies::NicEngine::kFlower) VFSTEER_TRY(lowerFlower(in, out.host, out.desired));
  if (in.profile.engine == policies::NicEngine::kBpf) VFSTEER_TRY(lowerDemuxProgram(in, out.desired));
  if (in.profile.engine == policies::NicEngine::kU32) VFSTEER_TRY(lowerU32(in, out.desired));
  if (in.profile.engine == policies::NicEngine::kNtuple) VFSTEER_TRY(lowerNtuple(in, out.desired));

  // What only lowering knows, into the split report: the device of each
  // NIC rule, the host hook of each chain.
  out.split = demux::splitReport(in.policy, in.plan);
  std::unordered_map<std::string_view, demux::SplitReport::Chain*> byName;  // looked up per rule and per chain
  byName.reserve(out.split.chains.size());
  for (auto& c : out.split.chains) byName[c.name] = &c;
  auto chainNamed = [&](const std::string& name) {
    auto it = byName.find(name);
    return it == byName.end() ? nullptr : it->second;
  };
  for (const auto& [key, object] : out.desired.objects) {
    if (const auto* rule = std::get_if<NicRule>(&object)) {
      if (auto* chain = chainNamed(rule->chain))
        for (auto& view : chain->nicRules)
          if (view.tcPriority == rule->filter.priority && view.tcHandle == rule->filter.handle)
            view.device = rule->device;
    } else if (const auto* r = std::get_if<FlowRule>(&object)) {
      if (auto* chain = chainNamed(r->chain))
        for (auto& view : chain->nicRules) view.device = r->device;
    } else if (const auto* d = std::get_if<DemuxProgram>(&object)) {
      for (const auto& name : d->chains)
        if (auto* chain = chainNamed(name))
          for (auto& view : chain->nicRules) view.device = d->device;
    }
  }
  for (const auto& [name, hook] : out.host.hooks) {
    if (auto* chain = chainNamed(name)) {
      chain->hostHook = hook.hook;
      chain->hostHookReason = hook.reason;
      chain->rxMetadata = hook.rxMetadata;
    }
  }
  return out;
}

}  // namespace vfsteer::engine
