#include "engine/reconcile.hpp"

#include <algorithm>

#include "engine/flower_rules.hpp"
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
  bool operator()(const HostTables& t) const { return t.tables.sameAs(was<HostTables>().tables); }
  bool operator()(const NicRule& r) const {
    const tc::Filter& held = was<NicRule>().filter;
    // Accepted is not enough: a skip_sw rule must be in hardware.
    const bool software = std::get<tc::Flower>(r.filter.spec).flags & tc::kSkipHw;
    return sameNicFilter(r.filter, held) && (software || held.inHw());
  }
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
    return facts.datapath.present && held.mode == x.mode && held.progId == facts.datapath.xdpProgId;
  }
};

Phase addPhase(const Object& o) {
  switch (kindOf(o)) {
    case Kind::kDatapath:
    case Kind::kUserProgram:
    case Kind::kTunnelDevice:
    case Kind::kClsact: return Phase::kPrepare;
    case Kind::kHostTables: return Phase::kHostTables;
    case Kind::kNicRule:
      // A rule that hands the packet to the host needs the host's entry (a
      // goto chain's continuation, the classifier a trap relies on) first.
      return std::get<NicRule>(o).exit == demux::NicExit::kTerminal ? Phase::kNicStandalone : Phase::kNicToHost;
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
    case Kind::kDemuxProgram: return Phase::kRetireNic;
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

}  // namespace

bool sameObject(const Object& desired, const Object& observed, const ObservedState& facts) {
  if (desired.index() != observed.index()) return false;
  return std::visit(Same{facts, observed}, desired);
}

Result<ChangeSet> reconcile(const DesiredState& desired, const ObservedState& observed) {
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
      if (key.kind == Kind::kHostEntry || key.kind == Kind::kNicRule) {
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
    if (c.op == Op::kReplace && key.kind == Kind::kNicRule &&
        !sameFlowerMask(std::get<tc::Flower>(std::get<NicRule>(c.object).filter.spec).key,
                        std::get<tc::Flower>(std::get<NicRule>(*c.was).filter.spec).key)) {
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
