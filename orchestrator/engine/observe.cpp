#include "engine/observe.hpp"

#include <linux/if_ether.h>
#include <linux/netlink.h>

#include <algorithm>
#include <tuple>

#include "datapath_abi.h"

#include "engine/requests.hpp"
#include "vfsteer/demux/tc_layout.hpp"
#include "vfsteer/netlink/netdev.hpp"

namespace vfsteer::engine {

namespace tc = netlink::tc;
namespace lk = netlink::link;

OwnershipRecords recordsOf(const InstanceState* state, const Journal* journal) {
  OwnershipRecords r;
  if (state) {
    r.clsact = state->clsact;
    r.tunnelDevices = state->tunnelDevices;
    if (state->demuxProgram) r.demuxPrograms.push_back(*state->demuxProgram);
    for (const auto& p : state->programs) r.userPrograms[p.slot] = p;
    r.flowRules = state->flowRules;
  }
  if (journal) {
    r.clsact.insert(journal->clsact.begin(), journal->clsact.end());
    r.tunnelDevices.insert(journal->tunnelDevices.begin(), journal->tunnelDevices.end());
    r.demuxPrograms.insert(r.demuxPrograms.end(), journal->demuxPrograms.begin(), journal->demuxPrograms.end());
    for (const auto& [device, locations] : journal->flowRules)
      for (const auto& [location, rules] : locations) r.flowRules[device][location].insert(rules.begin(), rules.end());
  }
  return r;
}

bool isTunnelDeviceName(const std::string& name) {
  return name.rfind("vfs-vx", 0) == 0 || name.rfind("vfs-gn", 0) == 0;
}

namespace {

// Sorts one device's ingress filters into vfsteer's objects and the rest.
class FilterSorter {
 public:
  FilterSorter(const std::string& device, const ObserveScope& scope, ObservedState& out)
      : device_(device), scope_(scope), out_(out), cookie_(ownerCookie(scope.instance)) {}

  void add(const netlink::RawMessage& raw) {
    auto placed = tc::decodePlacedFilter(raw);
    if (!placed.ok()) return;
    const tc::FilterPlace& place = placed->place;
    const Place id{place.chain, place.priority, place.protocol};
    if (place.head) {
      // A head names a (chain, priority, protocol) in use, also by kinds
      // vfsteer does not decode; it carries nothing else to decode.
      heads_.push_back(id);
      return;
    }
    auto& f = placed->filter;
    if (!f) return;  // a kind vfsteer does not decode: counted through its head
    if (claim(*f)) {
      ours_.push_back(id);
      return;
    }
    theirs_.push_back(id);
    ++foreign_;
    if (std::holds_alternative<tc::U32>(f->spec)) out_.foreignU32[device_].insert(f->priority);
    if (f->chain.value_or(0) == 0) out_.foreignPriorities[device_].insert(f->priority);
  }

  void finish() {
    // A dump lists each place's head once, its filters after it: sorted
    // vectors instead of sets, for a device with thousands of rules.
    for (auto* places : {&heads_, &ours_, &theirs_}) {
      std::sort(places->begin(), places->end());
      places->erase(std::unique(places->begin(), places->end()), places->end());
    }
    auto holds = [](const std::vector<Place>& v, const Place& p) { return std::binary_search(v.begin(), v.end(), p); };
    for (const auto& head : heads_) {
      if (holds(ours_, head) || holds(theirs_, head)) continue;
      ++foreign_;  // only filters vfsteer cannot decode sit there
      if (std::get<0>(head) == 0) out_.foreignPriorities[device_].insert(std::get<1>(head));
    }
    if (foreign_) out_.foreignFilters[device_] = foreign_;
  }

 private:
  // Engine u32 (u32_rules.hpp): at vfsteer's u32 priority, rules carry the
  // cookie; tables (ids below 800:, which are u32's own roots) and links
  // into them have no actions to carry one and are vfsteer's by priority
  // and shape. The root table of the priority is u32's, not vfsteer's.
  bool claimU32(tc::Filter& f, const tc::U32& u) {
    if (f.chain.value_or(0) != 0 || f.priority != demux::kU32Priority || f.protocol != ETH_P_IP) return false;
    const uint32_t table = f.handle >> 20;
    if (u.divisor) {
      // The priority's root table is u32's own: it goes with the priority.
      if (table >= demux::kU32RootTable) return true;
      if (table == 0) return false;
      U32Table t{device_, f};
      out_.owned.insert_or_assign(keyOf(t), t);
      return true;
    }
    if (u.link) {
      if ((*u.link >> 20) >= demux::kU32RootTable || !u.actions.empty()) return false;
      U32Link l{device_, f};
      out_.owned.insert_or_assign(keyOf(l), l);
      return true;
    }
    if (u.actions.empty() || u.actions.front().cookie != cookie_) return false;
    NicRule r;
    r.device = device_;
    r.filter = std::move(f);
    const Key key = keyOf(r);
    out_.owned.insert_or_assign(key, std::move(r));
    return true;
  }

  // Records `f` as vfsteer's object when it carries one of vfsteer's marks
  // (and may move it into the record then).
  bool claim(tc::Filter& f) {
    const uint32_t chain = f.chain.value_or(0);
    if (const auto* b = std::get_if<tc::Bpf>(&f.spec)) {
      if (f.priority == demux::kHostPriority && f.handle == kHostFilterHandle &&
          b->name == hostFilterName(scope_.instance)) {
        if (chain == 0) {
          out_.owned.insert_or_assign(Key{Kind::kHostEntry, device_}, HostEntry{device_, b->progId});
        } else {
          const uint32_t minor = b->classid & 0xffff;
          Continuation c{device_, chain, VFS_CONT_ID(minor), VFS_CONT_STAGE(minor), b->progId};
          out_.owned.insert_or_assign(keyOf(c), c);
        }
        return true;
      }
      if (chain == 0 && f.priority == demux::kNicProgramPriority && f.handle == kDemuxFilterHandle &&
          b->name == demuxFilterName(scope_.instance)) {
        DemuxProgram d;
        d.hook = representors::DemuxHook::kTc;
        d.device = device_;
        d.emulated = b->flags & tc::kSkipHw;
        d.progId = b->progId;
        d.inHw = f.inHw();
        // Which rules it carries only the record can say.
        for (const auto& r : scope_.records.demuxPrograms)
          if (r.hook == d.hook && r.device == device_ && r.progId == d.progId) {
            d.fingerprint = r.fingerprint;
            d.chains = r.chains;
          }
        out_.owned.insert_or_assign(keyOf(d), d);
        return true;
      }
      return false;
    }
    if (const auto* u = std::get_if<tc::U32>(&f.spec)) return claimU32(f, *u);
    if (const auto* fl = std::get_if<tc::Flower>(&f.spec)) {
      // The cookie alone marks a NIC rule: a profile's priority range
      // (tc_priorities) puts them below vfsteer's usual layout.
      if (chain != 0) return false;
      if (fl->actions.empty() || fl->actions.front().cookie != cookie_) return false;
      NicRule r;
      r.device = device_;
      r.filter = std::move(f);  // claimed: the caller reads it no more
      const Key key = keyOf(r);
      out_.owned.insert_or_assign(key, std::move(r));
      return true;
    }
    return false;
  }

  const std::string& device_;
  const ObserveScope& scope_;
  ObservedState& out_;
  const std::vector<uint8_t> cookie_;
  using Place = std::tuple<uint32_t, uint16_t, uint16_t>;  // chain, priority, protocol
  std::vector<Place> heads_, ours_, theirs_;
  size_t foreign_ = 0;
};

Status observeXdpFeatures(NetlinkPort& genl, ObservedState& out) {
  VFSTEER_ASSIGN_OR_RETURN(auto devices, readNetdevDevices(genl));
  if (!devices) return okStatus();  // before Linux 6.3: features unknown
  std::map<IfIndex, std::string> byIndex;
  for (const auto& [name, ifindex] : out.ifindex) byIndex[ifindex] = name;
  for (const auto& dev : *devices) {
    auto name = byIndex.find(IfIndex{dev.ifindex});
    if (name == byIndex.end()) continue;
    if (auto it = out.xdp.find(name->second); it != out.xdp.end()) {
      it->second.features = dev.xdpFeatures;
      it->second.rxMetadata = dev.xdpRxMetadata;
    }
  }
  return okStatus();
}

// ethtool's flow rules: the locations listed per device, and vfsteer's
// rules at the locations its records hold. A rule there that is not one
// recorded there (someone wrote over it), or that vfsteer cannot read (a
// flow type it never writes), is someone else's now.
Status observeFlowRules(const ObserveScope& scope, EthtoolPort* ethtool, ObservedState& out) {
  std::set<std::string> devices = scope.flowRuleDevices;
  for (const auto& [device, locations] : scope.records.flowRules)
    if (!locations.empty()) devices.insert(device);
  for (const auto& device : devices) {
    if (!out.ifindex.contains(device)) continue;  // gone, with its rules
    if (!ethtool) return Error(ErrorCode::kInternal, "observe: no ethtool port to read flow rules with");
    VFSTEER_ASSIGN_OR_RETURN(auto listed, ethtool->flowRuleLocations(device));
    auto& held = out.flowRuleLocations[device];
    held.insert(listed.begin(), listed.end());
    auto recorded = scope.records.flowRules.find(device);
    if (recorded == scope.records.flowRules.end()) continue;
    for (const auto& [location, rules] : recorded->second) {
      if (!held.contains(location)) continue;
      auto rule = ethtool->flowRule(device, location);
      if (!rule.ok() && rule.error().code() == ErrorCode::kNotSupported) continue;
      if (!rule.ok()) return rule.error();
      if (!*rule || !rules.contains(netlink::rxnfc::ethtoolArgs(**rule))) continue;
      FlowRule r;
      r.device = device;
      r.rule = **rule;
      out.owned.insert_or_assign(keyOf(r), r);
    }
  }
  return okStatus();
}

}  // namespace

Result<ObservedState> observe(const ObserveScope& scope, ObservePorts& ports) {
  ObservedState out;
  const auto& records = scope.records;
  // Tunnel devices carry vfsteer's names: always looked at.
  auto inScope = [&](const std::string& name) {
    return scope.everyDevice || scope.devices.contains(name) || isTunnelDeviceName(name);
  };

  // The datapath first: its program ids say which XDP entries are ours.
  DatapathPort& dp = ports.datapath;
  if (dp.present()) {
    out.datapath = {true, dp.ingressProgId(), dp.continueProgId(), dp.xdpProgId(), dp.activeGeneration()};
    out.owned.insert_or_assign(Key{Kind::kDatapath}, Datapath{});
    if (scope.tables) {
      VFSTEER_ASSIGN_OR_RETURN(auto active, dp.readGeneration(out.datapath.activeGeneration));
      out.owned.insert_or_assign(Key{Kind::kHostTables}, HostTables{std::move(active), {}});
    }
    for (uint32_t slot : dp.userProgramSlots()) {
      out.userProgramSlots.insert(slot);
      // A program no record names was left by an interrupted apply.
      auto it = records.userPrograms.find(slot);
      UserProgram p = it != records.userPrograms.end() ? it->second : UserProgram{slot, "", "", ""};
      out.owned.insert_or_assign(keyOf(p), p);
    }
  }

  // Links: names, and what sits in their XDP slots.
  VFSTEER_ASSIGN_OR_RETURN(auto links, ports.route.dump(lk::encodeDumpLinks()));
  for (const auto& raw : links) {
    auto info = lk::decodeLink(raw);
    if (!info.ok()) continue;
    out.ifindex[info->name] = IfIndex{info->ifindex};
    if (isTunnelDeviceName(info->name)) {
      if (records.tunnelDevices.contains(info->name))
        out.owned.insert_or_assign(Key{Kind::kTunnelDevice, info->name},
                                   TunnelDevice{info->name, info->kind == "geneve" ? lk::TunnelKind::kGeneve
                                                                                   : lk::TunnelKind::kVxlan,
                                                0});
      else
        out.foreignTunnelDevices.insert(info->name);
    }
    if (!inScope(info->name)) continue;
    XdpPortFacts& facts = out.xdp[info->name];
    facts = {info->xdpDriverProgId, info->xdpGenericProgId, info->xdpOffloadProgId, std::nullopt, std::nullopt, 0};
    // The shared entry by its id; a port's own vfs_xdp_rx by the maps it
    // uses (only vfsteer loads programs on its pinned maps), so one
    // attached by an apply that died before writing its state is known too.
    for (auto [id, mode] : {std::pair{info->xdpDriverProgId, policies::HostXdp::kNative},
                            std::pair{info->xdpGenericProgId, policies::HostXdp::kGeneric}}) {
      if (id == 0) continue;
      const bool shared = id == out.datapath.xdpProgId;
      if (!shared && !(out.datapath.present && ports.datapath.usesItsMaps(id))) continue;
      out.owned.insert_or_assign(Key{Kind::kXdpEntry, info->name}, XdpEntry{info->name, mode, id, !shared});
      facts.vfsteerProg = id;
    }
    // An offloaded demux program is vfsteer's only by the id it recorded.
    for (const auto& r : records.demuxPrograms)
      if (r.hook == representors::DemuxHook::kXdp && r.device == info->name && r.progId != 0 &&
          r.progId == info->xdpOffloadProgId) {
        DemuxProgram d = r;
        d.inHw = true;  // the offload slot is the NIC's by definition
        out.owned.insert_or_assign(keyOf(d), d);
      }
  }

  // Qdiscs: one dump lists every device's.
  VFSTEER_ASSIGN_OR_RETURN(auto qdiscs, ports.route.dump(tc::encodeDumpQdiscs(0)));
  std::set<IfIndex> withClsact;
  for (const auto& raw : qdiscs) {
    auto q = tc::decodeQdisc(raw);
    if (q.ok() && q->kind == "clsact") withClsact.insert(IfIndex{q->ifindex});
  }
  for (const auto& [name, ifindex] : out.ifindex) {
    if (!withClsact.contains(ifindex)) continue;
    if (!inScope(name) && !records.clsact.contains(name)) continue;
    if (records.clsact.contains(name))
      out.owned.insert_or_assign(Key{Kind::kClsact, name}, Clsact{name});
    else
      out.foreignClsact.insert(name);
    // Filters: one dump per device, every tc chain of its ingress.
    VFSTEER_ASSIGN_OR_RETURN(auto filters, ports.route.dump(tc::encodeDumpFilters(ifindex.value, tc::kIngress)));
    FilterSorter sorter(name, scope, out);
    for (const auto& raw : filters) sorter.add(raw);
    sorter.finish();
  }

  if (scope.xdpFeatures && ports.genl) VFSTEER_TRY(observeXdpFeatures(*ports.genl, out));
  VFSTEER_TRY(observeFlowRules(scope, ports.ethtool, out));
  return out;
}

}  // namespace vfsteer::engine
