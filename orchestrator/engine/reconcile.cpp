#include "engine/reconcile.hpp"

#include <algorithm>

#include "engine/flower_rules.hpp"
#include "engine/ntuple_rules.hpp"
#include "engine/u32_rules.hpp"
#include "vfsteer/demux/tc_layout.hpp"

namespace vfsteer::engine {

namespace tc = netlink::tc;

namespace {

struct Same {
  const ObservedState& facts;
  const Object& observed;

  template <class T>
  const T& was() const {
    return std::get<T>(observed);
  }
  bool operator()(const Datapath&) const { return true; }
  bool operator()(const UserProgram& p) const { return p == was<UserProgram>(); }
  bool operator()(const TunnelDevice&) const { return true; }  // the name carries type and port
  bool operator()(const Clsact&) const { return true; }
  bool operator()(const U32Table& t) const { return sameU32Filter(t.filter, was<U32Table>().filter); }
  bool operator()(const U32Link& l) const {
    return sameU32Filter(l.filter, was<U32Link>().filter) && inHwIfMeant(l.filter, was<U32Link>().filter);
  }
  bool operator()(const HostTables& t) const { return t.tables.sameAs(was<HostTables>().tables); }
  bool operator()(const NicRule& r) const {
    const tc::Filter& held = was<NicRule>().filter;
    const bool same = std::holds_alternative<tc::U32>(r.filter.spec) ? sameU32Filter(r.filter, held)
                                                                     : sameNicFilter(r.filter, held);
    return same && inHwIfMeant(r.filter, held);
  }
  // An ethtool rule is in the NIC or nowhere; the driver reads back what
  // it holds (ixgbe: the values, and the masks of its one shared mask).
  bool operator()(const FlowRule& r) const { return r.rule == was<FlowRule>().rule; }
  // Accepted is not enough: a rule for the NIC must be in hardware.
  static bool inHwIfMeant(const tc::Filter& want, const tc::Filter& held) { return !meantForNic(want) || held.inHw(); }
  bool operator()(const DemuxProgram& d) const {
    const auto& held = was<DemuxProgram>();
    return held.progId != 0 && held.fingerprint == d.fingerprint && held.emulated == d.emulated &&
           (d.emulated || held.inHw);
  }
  bool operator()(const HostEntry&) const {
    return facts.datapath.present && was<HostEntry>().progId == facts.datapath.ingressProgId;
  }
  bool operator()(const Continuation& c) const {
    const auto& held = was<Continuation>();
    return facts.datapath.present && held.progId == facts.datapath.continueProgId && held.chainId == c.chainId &&
           held.startStage == c.startStage;
  }
  bool operator()(const XdpEntry& x) const {
    const auto& held = was<XdpEntry>();
    // A port's own vfs_xdp_rx was found on the datapath's maps by observe.
    return facts.datapath.present && held.mode == x.mode && held.rxMetadata == x.rxMetadata &&
           (x.rxMetadata ? held.progId != 0 : held.progId == facts.datapath.xdpProgId);
  }
};

Phase addPhase(const Object& o) {
  switch (kindOf(o)) {
    case Kind::kDatapath:
    case Kind::kUserProgram:
    case Kind::kTunnelDevice:
    case Kind::kClsact:
    // An empty u32 table, and a link into one, classify nothing.
    case Kind::kU32Table:
    case Kind::kU32Link: return Phase::kPrepare;
    case Kind::kHostTables: return Phase::kHostTables;
    case Kind::kNicRule:
      // A rule that hands the packet to the host needs the host's entry (a
      // goto chain's continuation, the classifier a trap relies on) first.
      return std::get<NicRule>(o).exit == demux::NicExit::kTerminal ? Phase::kNicStandalone : Phase::kNicToHost;
    case Kind::kFlowRule: return Phase::kNicStandalone;  // drop or a VF: ends in the NIC
    case Kind::kDemuxProgram: return Phase::kNicToHost;
    case Kind::kHostEntry:
    case Kind::kContinuation: return Phase::kHostEntries;
    case Kind::kXdpEntry: return Phase::kXdpEntries;
  }
  return Phase::kPrepare;
}

Phase removePhase(Kind kind) {
  switch (kind) {
    case Kind::kNicRule:
    case Kind::kFlowRule:
    case Kind::kDemuxProgram:
    case Kind::kU32Link: return Phase::kRetireNic;  // after the rules in its table (reverse key order)
    case Kind::kU32Table: return Phase::kRetireTables;
    case Kind::kXdpEntry: return Phase::kRetireXdp;
    case Kind::kHostEntry:
    case Kind::kContinuation: return Phase::kRetireEntries;
    case Kind::kClsact: return Phase::kRetireQdiscs;
    default: return Phase::kAfterCommit;  // programs, tunnel devices, the datapath and its tables
  }
}

// Whether an object vfsteer holds but no longer wants is removed at all.
bool removable(const Key& key, const ObservedState& observed) {
  switch (key.kind) {
    case Kind::kHostTables: return false;  // they go with the datapath
    case Kind::kClsact: {
      // Only a qdisc vfsteer added (observe put it in `owned`), and only
      // when nothing of anyone else's is left on it.
      auto it = observed.foreignFilters.find(key.device);
      return it == observed.foreignFilters.end() || it->second == 0;
    }
    default: return true;
  }
}

bool isU32Rule(const Object& o) {
  const auto* r = std::get_if<NicRule>(&o);
  return r && std::holds_alternative<tc::U32>(r->filter.spec);
}

// ixgbe's u32 filters are flow director entries at locations (their node
// numbers) it refuses to take twice, and it replaces neither a rule in a
// linked table nor a link in place; deleting a link deletes the hardware
// entries of every rule in its table. So where engine u32 adds on a device,
// it removes first: rules and links to be removed or replaced go in
// kMakeRoom, and the unchanged rules of a table whose link is replaced are
// removed and added again. For that moment the chains involved miss the
// NIC. Where it only removes (a chain moved to the host, teardown), the
// removals wait until the host has taken over, as for flower.
void relayU32(std::vector<Change>& changes, const DesiredState& desired, const ObservedState& observed) {
  std::set<std::string> adding;  // devices with a u32 rule or link to add or replace
  for (const auto& c : changes)
    if (c.op != Op::kRemove && (isU32Rule(c.object) || c.key().kind == Kind::kU32Link)) adding.insert(c.key().device);
  std::set<Key> changed;
  std::set<std::pair<std::string, uint32_t>> relinked;  // (device, table) whose link is replaced
  std::vector<Change> extra;
  for (auto& c : changes) {
    const Key key = c.key();
    changed.insert(key);
    if (!isU32Rule(c.object) && key.kind != Kind::kU32Link) continue;
    if (c.op == Op::kRemove) {
      if (adding.contains(key.device)) c.phase = Phase::kMakeRoom;
    } else if (c.op == Op::kReplace) {
      extra.push_back({Op::kRemove, Phase::kMakeRoom, *c.was, std::nullopt});
      if (key.kind == Kind::kU32Link)
        if (auto table = std::get<tc::U32>(std::get<U32Link>(c.object).filter.spec).link)
          relinked.insert({key.device, *table});
      c = Change{Op::kAdd, c.phase, c.object, std::nullopt};
    }
  }
  for (const auto& [key, object] : observed.owned) {
    if (!isU32Rule(object) || changed.contains(key)) continue;
    if (!relinked.contains({key.device, key.handle & 0xfff00000})) continue;
    extra.push_back({Op::kRemove, Phase::kMakeRoom, object, std::nullopt});
    const Object& want = desired.objects.at(key);  // unchanged, so desired
    extra.push_back({Op::kAdd, addPhase(want), want, std::nullopt});
  }
  changes.insert(changes.end(), extra.begin(), extra.end());

  // When the last rule or link of a u32 priority goes, the kernel deletes
  // the priority with its tables (u32_delete(): "last"). If making room
  // removes every one, the tables the plan keeps are removed (gone
  // already, which counts as done) and added again before the links.
  std::map<std::string, size_t> knodes, leaving;
  for (const auto& [key, object] : observed.owned)
    if (isU32Rule(object) || key.kind == Kind::kU32Link) ++knodes[key.device];
  for (const auto& c : changes)
    if (c.op == Op::kRemove && c.phase == Phase::kMakeRoom && (isU32Rule(c.object) || c.key().kind == Kind::kU32Link))
      ++leaving[c.key().device];
  std::vector<Change> tables;
  for (const auto& [key, object] : observed.owned) {
    if (key.kind != Kind::kU32Table || !desired.objects.contains(key) || changed.contains(key)) continue;
    if (!leaving.contains(key.device) || leaving[key.device] < knodes[key.device]) continue;
    tables.push_back({Op::kRemove, Phase::kMakeRoomTables, object, std::nullopt});
    tables.push_back({Op::kAdd, Phase::kPrepare, desired.objects.at(key), std::nullopt});
  }
  changes.insert(changes.end(), tables.begin(), tables.end());
}

// A flow director keeps one mask for all its rules and refuses a rule of
// another while any is left (ixgbe: "Only one mask supported per port";
// i40e: one input set per flow type, changed only while no rule of that
// type is left), so replacing rules one by one cannot change it. When the plan's mask
// differs from the one vfsteer's rules on a device hold, all of them are
// removed first (kMakeRoom), then the new ones added: for that moment the
// chains miss the NIC. Otherwise a rule is replaced in place (an insert at
// a location replaces the rule there).
void relayFlowRules(std::vector<Change>& changes, const DesiredState& desired, const ObservedState& observed) {
  std::map<std::string, std::set<FlowRuleMask>> heldMasks, wantedMasks;
  for (const auto& [key, object] : observed.owned)
    if (const auto* r = std::get_if<FlowRule>(&object)) heldMasks[key.device].insert(maskOf(r->rule));
  for (const auto& [key, object] : desired.objects)
    if (const auto* r = std::get_if<FlowRule>(&object)) wantedMasks[key.device].insert(maskOf(r->rule));
  std::set<std::string> remask;
  for (const auto& [device, wanted] : wantedMasks)
    if (heldMasks.contains(device) && heldMasks[device] != wanted) remask.insert(device);
  if (remask.empty()) return;
  std::set<Key> changed;
  std::vector<Change> extra;
  for (auto& c : changes) {
    const Key key = c.key();
    if (key.kind != Kind::kFlowRule || !remask.contains(key.device)) continue;
    changed.insert(key);
    if (c.op == Op::kRemove) {
      c.phase = Phase::kMakeRoom;
    } else if (c.op == Op::kReplace) {
      extra.push_back({Op::kRemove, Phase::kMakeRoom, *c.was, std::nullopt});
      c = Change{Op::kAdd, c.phase, c.object, std::nullopt};
    }
  }
  // The unchanged ones go and come back too: they hold the old mask.
  for (const auto& [key, object] : observed.owned) {
    if (key.kind != Kind::kFlowRule || !remask.contains(key.device) || changed.contains(key)) continue;
    extra.push_back({Op::kRemove, Phase::kMakeRoom, object, std::nullopt});
    const Object& want = desired.objects.at(key);  // unchanged, so desired
    extra.push_back({Op::kAdd, addPhase(want), want, std::nullopt});
  }
  changes.insert(changes.end(), extra.begin(), extra.end());
}

}  // namespace

bool sameObject(const Object& desired, const Object& observed, const ObservedState& facts) {
  if (desired.index() != observed.index()) return false;
  return std::visit(Same{facts, observed}, desired);
}

namespace {

// Engine u32 shares u32's tables with every u32 filter on the device, and
// ixgbe offloads the first u32 priority only: someone else's u32 there is a
// conflict to resolve before anything changes.
Status checkForeignU32(const DesiredState& desired, const ObservedState& observed) {
  for (const auto& [key, object] : desired.objects) {
    if (key.kind != Kind::kU32Table && key.kind != Kind::kU32Link && !isU32Rule(object)) continue;
    auto it = observed.foreignU32.find(key.device);
    if (it == observed.foreignU32.end() || it->second.empty()) continue;
    const std::string prio = std::to_string(*it->second.begin());
    return Error(ErrorCode::kConflict,
                 key.device + " holds u32 filters vfsteer does not own (tc ingress priority " + prio +
                     "); u32 tables are shared by all u32 filters of a device and ixgbe offloads only the first u32 "
                     "priority, so vfsteer's u32 NIC rules cannot go there: move those filters to another classifier "
                     "or remove them (tc filter del dev " + key.device + " ingress pref " + prio + ")");
  }
  return okStatus();
}

// The location a u32 rule (its node number) or an ethtool flow rule takes
// in the flow director; nothing for other objects.
std::optional<uint32_t> flowDirectorLocation(const Key& key, const Object& object) {
  if (key.kind == Kind::kFlowRule) return key.index;
  if (isU32Rule(object)) return key.handle & 0xfffff;
  return std::nullopt;
}

// ixgbe writes a u32 rule at the flow director location of its node
// number and replaces whatever held it (ixgbe_update_ethtool_fdir_entry()),
// and so does an ethtool insert at its location: an operator's ethtool flow
// rule there would be lost. ethtool lists every rule of the flow director;
// the locations of vfsteer's own rules are not someone else's.
Status checkFlowRuleLocations(const DesiredState& desired, const ObservedState& observed) {
  for (const auto& [device, listed] : observed.flowRuleLocations) {
    std::set<uint32_t> ours;
    for (const auto& [key, object] : observed.owned)
      if (key.device == device)
        if (auto location = flowDirectorLocation(key, object)) ours.insert(*location);
    for (const auto& [key, object] : desired.objects) {
      if (key.device != device) continue;
      const auto location = flowDirectorLocation(key, object);
      if (!location || !listed.contains(*location) || ours.contains(*location)) continue;
      const bool u32 = key.kind != Kind::kFlowRule;
      const std::string chain = u32 ? std::get<NicRule>(object).chain : std::get<FlowRule>(object).chain;
      const std::string loc = std::to_string(*location);
      return Error(ErrorCode::kConflict,
                   "flow director location " + loc + " on " + device +
                       " holds a flow rule vfsteer does not own (ethtool -n " + device + " lists it); chain " +
                       chain + "'s " + (u32 ? "u32 rule" : "flow rule") + " would replace it: move that rule (ethtool -N " +
                       device + " delete " + loc + ", then add it at another loc) or give chain " + chain +
                       " another priority (a rule's location follows its chain's priority: docs/legacy-engines.md)");
    }
  }
  return okStatus();
}

}  // namespace

Result<ChangeSet> reconcile(const DesiredState& desired, const ObservedState& observed) {
  VFSTEER_TRY(checkForeignU32(desired, observed));
  VFSTEER_TRY(checkFlowRuleLocations(desired, observed));
  ChangeSet out;
  auto& changes = out.changes;
  auto d = desired.objects.begin();
  auto o = observed.owned.begin();
  while (d != desired.objects.end() || o != observed.owned.end()) {
    const bool onlyDesired = o == observed.owned.end() || (d != desired.objects.end() && d->first < o->first);
    const bool onlyObserved = d == desired.objects.end() || (o != observed.owned.end() && o->first < d->first);
    if (onlyDesired) {
      const Key& key = d->first;
      const Object& want = d->second;
      // Someone else's clsact or tunnel device of vfsteer's name is used
      // as it is (and never removed).
      const bool used = (key.kind == Kind::kClsact && observed.foreignClsact.contains(key.device)) ||
                        (key.kind == Kind::kTunnelDevice && observed.foreignTunnelDevices.contains(key.device));
      if (key.kind == Kind::kHostEntry || key.kind == Kind::kNicRule || key.kind == Kind::kU32Table ||
          key.kind == Kind::kU32Link) {
        const uint16_t prio = key.kind == Kind::kHostEntry ? demux::kHostPriority : static_cast<uint16_t>(key.index);
        auto prios = observed.foreignPriorities.find(key.device);
        if (prios != observed.foreignPriorities.end() && prios->second.contains(prio))
          return Error(ErrorCode::kConflict,
                       "tc ingress priority " + std::to_string(prio) + " on " + key.device +
                           " holds a filter vfsteer does not own; vfsteer puts its " +
                           (key.kind == Kind::kHostEntry ? "host datapath" : "NIC rule") +
                           " there: move that filter to another priority (tc filter del dev " + key.device +
                           " ingress pref " + std::to_string(prio) + ")");
      }
      if (!used) changes.push_back({Op::kAdd, addPhase(want), want, std::nullopt});
      ++d;
    } else if (onlyObserved) {
      if (removable(o->first, observed)) changes.push_back({Op::kRemove, removePhase(o->first.kind), o->second, std::nullopt});
      ++o;
    } else {
      if (!sameObject(d->second, o->second, observed))
        changes.push_back({Op::kReplace, addPhase(d->second), d->second, o->second});
      ++d;
      ++o;
    }
  }

  // Make room: a rule being added where one of vfsteer's with another
  // protocol sits at the same priority goes first; likewise an XDP entry
  // that changes mode is removed, then attached in the new mode.
  std::set<std::pair<std::string, uint32_t>> nicAdds;
  for (const auto& c : changes)
    if (c.op == Op::kAdd && c.key().kind == Kind::kNicRule) nicAdds.insert({c.key().device, c.key().index});
  std::vector<Change> split;
  for (auto& c : changes) {
    const Key key = c.key();
    if (c.op == Op::kRemove && key.kind == Kind::kNicRule && nicAdds.contains({key.device, key.index}))
      c.phase = Phase::kMakeRoom;
    // A NIC rule whose new key makes another flower mask cannot replace the
    // old one in place (the kernel refuses it): remove, then add.
    const auto* flower = key.kind == Kind::kNicRule ? std::get_if<tc::Flower>(&std::get<NicRule>(c.object).filter.spec)
                                                    : nullptr;
    if (c.op == Op::kReplace && flower &&
        !sameFlowerMask(flower->key, std::get<tc::Flower>(std::get<NicRule>(*c.was).filter.spec).key)) {
      split.push_back({Op::kRemove, Phase::kMakeRoom, *c.was, std::nullopt});
      c = Change{Op::kAdd, c.phase, c.object, std::nullopt};
      continue;
    }
    if (c.op == Op::kReplace && key.kind == Kind::kXdpEntry &&
        std::get<XdpEntry>(c.object).mode != std::get<XdpEntry>(*c.was).mode) {
      split.push_back({Op::kRemove, Phase::kMakeRoom, *c.was, std::nullopt});
      c = Change{Op::kAdd, Phase::kXdpEntries, c.object, std::nullopt};
    }
  }
  changes.insert(changes.end(), split.begin(), split.end());
  relayU32(changes, desired, observed);
  relayFlowRules(changes, desired, observed);
  // Keys are unique per phase, except an XDP entry changing mode or a NIC
  // rule changing its mask (a removal in kMakeRoom, an add later): the sort
  // keeps that order.
  std::stable_sort(changes.begin(), changes.end(), [](const Change& a, const Change& b) {
    if (a.phase != b.phase) return a.phase < b.phase;
    // Removals in the reverse of the order things are built in.
    if (a.op == Op::kRemove && b.op == Op::kRemove) return b.key() < a.key();
    return a.key() < b.key();
  });
  return out;
}

}  // namespace vfsteer::engine
