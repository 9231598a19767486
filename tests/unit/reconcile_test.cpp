// reconcile, in memory: generated desired and observed states (with
// objects that are not vfsteer's on the same devices) checked against the
// contract in engine/reconcile.hpp — the change set, applied to the
// observed state, yields the desired objects; a second reconcile is empty;
// nothing foreign changes; and the order invariants hold.
#include <gtest/gtest.h>
#include <linux/if_ether.h>

#include <random>

#include "engine/change_set.hpp"
#include "engine/reconcile.hpp"
#include "vfsteer/demux/tc_layout.hpp"

namespace vfsteer::engine {
namespace {

namespace tc = netlink::tc;

const std::vector<std::string> kDevices = {"uplink0", "pf0vf0", "pf0vf1", "vfs-vx4789"};
const std::vector<uint16_t> kProtocols = {ETH_P_IP, ETH_P_IPV6, ETH_P_ALL};

class StateGenerator {
 public:
  explicit StateGenerator(uint64_t seed) : rng_(seed) {}

  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  template <class T>
  const T& oneOf(const std::vector<T>& v) {
    return v[pick(static_cast<int>(v.size()))];
  }

  NicRule rule(const std::string& device, uint16_t priority, bool emulated) {
    NicRule r;
    r.device = device;
    r.chain = "c" + std::to_string(priority);
    r.exit = chance(0.4) ? demux::NicExit::kGotoChain : chance(0.2) ? demux::NicExit::kTrap : demux::NicExit::kTerminal;
    if (r.exit == demux::NicExit::kGotoChain) r.gotoTcChain = demux::continueChain(priority);
    r.filter.parent = tc::kIngress;
    r.filter.priority = priority;
    r.filter.protocol = oneOf(kProtocols);
    tc::Flower fl;
    fl.flags = emulated ? tc::kSkipHw : tc::kSkipSw;
    fl.key.dstPort = static_cast<uint16_t>(1000 + pick(3));
    // Sometimes another key shape (a new mask: removed, then added).
    if (chance(0.3)) fl.key.dst4 = tc::Ip4Key{{10, 0, 0, 0}, {255, 255, 0, 0}};
    tc::Action a;
    a.op = tc::Mirred{tc::Mirred::Op::kEgressRedirect, static_cast<uint32_t>(1 + pick(3))};
    a.verdict = TC_ACT_STOLEN;
    a.cookie = {1, 2, 3, 4};
    fl.actions.push_back(a);
    r.filter.spec = fl;
    return r;
  }

  // A desired state as lower makes them: every filter's device has a
  // clsact, every goto rule its continuation, every XDP entry a host entry.
  DesiredState desired() {
    DesiredState d;
    d.add(Datapath{});
    for (uint32_t slot = 1; slot <= 2; ++slot)
      if (chance(0.5)) d.add(UserProgram{slot, "/o" + std::to_string(pick(2)), "p", "f" + std::to_string(pick(2))});
    representors::HostTables t;
    t.chains.resize(1 + pick(3));
    d.add(HostTables{t, {}});
    const bool emulated = chance(0.5);
    for (const auto& dev : kDevices) {
      bool filters = false;
      if (dev.rfind("vfs-", 0) == 0) {
        if (!chance(0.5)) continue;
        d.add(TunnelDevice{dev, netlink::link::TunnelKind::kVxlan, 4789});
      } else if (chance(0.7)) {
        d.add(HostEntry{dev, 0});
        filters = true;
        if (chance(0.5)) {
          const bool native = chance(0.5);
          d.add(XdpEntry{dev, native ? policies::HostXdp::kNative : policies::HostXdp::kGeneric, 0,
                         native && chance(0.5)});  // a port's own vfs_xdp_rx
        }
      }
      for (uint16_t prio = 10002; prio < 10010; prio += 2) {
        if (!chance(0.4)) continue;
        NicRule r = rule(dev, prio, emulated);
        if (r.exit == demux::NicExit::kGotoChain)
          d.add(Continuation{dev, r.gotoTcChain, static_cast<uint32_t>(1 + pick(4)), static_cast<uint32_t>(pick(3)), 0});
        d.add(r);
        filters = true;
      }
      if (dev == "uplink0" && chance(0.3)) {
        DemuxProgram p;
        p.device = dev;
        p.hook = chance(0.5) ? representors::DemuxHook::kTc : representors::DemuxHook::kXdp;
        p.fingerprint = "fp" + std::to_string(pick(2));
        p.emulated = emulated && p.hook == representors::DemuxHook::kTc;
        p.chains = {"c1"};
        d.add(p);
        filters |= p.hook == representors::DemuxHook::kTc;
      }
      if (filters) d.add(Clsact{dev});
    }
    return d;
  }

  // An observed state: some of `desired` as it is, some of it changed,
  // leftovers of vfsteer's, and objects of others on the same devices.
  ObservedState observed(const DesiredState& desired) {
    ObservedState o;
    int ifindex = 2;
    for (const auto& dev : kDevices) o.ifindex[dev] = IfIndex{ifindex++};
    if (chance(0.8)) {
      o.datapath = {true, 100, 101, 102, static_cast<uint32_t>(pick(2))};
      o.owned.insert_or_assign(Key{Kind::kDatapath}, Datapath{});
    }
    for (const auto& [key, object] : desired.objects) {
      if (!chance(0.6)) continue;
      Object held = object;
      std::visit(
          [&](auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, XdpEntry>) {
              // observe found a port's own vfs_xdp_rx by its maps: any id of its own
              x.progId = x.rxMetadata ? 300 + pick(50) : chance(0.8) ? o.datapath.xdpProgId : 55;
              if (chance(0.1)) x.rxMetadata = !x.rxMetadata;  // the other entry is there
            } else if constexpr (std::is_same_v<T, HostEntry>) {
              x.progId = chance(0.8) ? o.datapath.ingressProgId : 55;
            } else if constexpr (std::is_same_v<T, Continuation>) {
              x.progId = chance(0.8) ? o.datapath.continueProgId : 56;
              if (chance(0.2)) ++x.startStage;
            } else if constexpr (std::is_same_v<T, NicRule>) {
              auto& fl = std::get<tc::Flower>(x.filter.spec);
              if (fl.flags & tc::kSkipSw && chance(0.8)) fl.flags |= tc::kInHw;
              if (chance(0.2)) fl.key.dstPort = 7;
              x.filter.handle = 1;
            } else if constexpr (std::is_same_v<T, DemuxProgram>) {
              x.progId = 90;
              x.inHw = chance(0.8);
              if (chance(0.2)) x.fingerprint = "old";
            } else if constexpr (std::is_same_v<T, HostTables>) {
              if (chance(0.3)) x.tables.chains.resize(7);
            } else if constexpr (std::is_same_v<T, UserProgram>) {
              if (chance(0.2)) x.fingerprint = "old";
            }
          },
          held);
      if (key.kind == Kind::kDatapath && !o.datapath.present) continue;
      if (key.kind == Kind::kClsact && chance(0.3)) {
        o.foreignClsact.insert(key.device);  // someone else's qdisc, used as it is
        continue;
      }
      if (key.kind == Kind::kTunnelDevice && chance(0.3)) {
        o.foreignTunnelDevices.insert(key.device);
        continue;
      }
      o.owned.insert_or_assign(key, held);
    }
    // Leftovers of an earlier policy.
    for (const auto& dev : kDevices) {
      if (chance(0.3)) {
        NicRule r = rule(dev, 10020, false);
        r.filter.handle = 1;
        std::get<tc::Flower>(r.filter.spec).flags |= tc::kInHw;
        o.owned.insert_or_assign(keyOf(r), r);
        if (r.exit == demux::NicExit::kGotoChain)
          o.owned.insert_or_assign(Key{Kind::kContinuation, dev, r.gotoTcChain},
                                   Continuation{dev, r.gotoTcChain, 3, 1, 101});
      }
      // The same priority with another protocol: room must be made. (tc
      // holds one protocol per priority, so only where the rule is not.)
      for (const auto& [key, object] : desired.objects)
        if (key.kind == Kind::kNicRule && key.device == dev && !o.owned.contains(key) && chance(0.15)) {
          NicRule r = std::get<NicRule>(object);
          r.filter.protocol = r.filter.protocol == ETH_P_IP ? ETH_P_IPV6 : ETH_P_IP;
          o.owned.insert_or_assign(keyOf(r), r);
        }
      if (chance(0.2)) o.owned.insert_or_assign(Key{Kind::kHostEntry, dev}, HostEntry{dev, 100});
      if (chance(0.2)) o.owned.insert_or_assign(Key{Kind::kXdpEntry, dev}, XdpEntry{dev, policies::HostXdp::kNative, 102});
      if (chance(0.3) && !o.foreignClsact.contains(dev)) o.owned.insert_or_assign(Key{Kind::kClsact, dev}, Clsact{dev});
      if (chance(0.3)) o.foreignFilters[dev] = 1 + pick(2);
    }
    if (chance(0.3)) o.owned.insert_or_assign(Key{Kind::kUserProgram, "", 9}, UserProgram{9, "", "", ""});
    if (chance(0.2))
      o.owned.insert_or_assign(Key{Kind::kTunnelDevice, "vfs-gn6081"},
                               TunnelDevice{"vfs-gn6081", netlink::link::TunnelKind::kGeneve, 6081});
    return o;
  }

 private:
  std::mt19937_64 rng_;
};

// Where a change on `key` sits in the change set (-1: not there).
int positionOf(const ChangeSet& set, const Key& key, std::initializer_list<Op> ops) {
  for (size_t i = 0; i < set.changes.size(); ++i)
    if (set.changes[i].key() == key && std::find(ops.begin(), ops.end(), set.changes[i].op) != ops.end())
      return static_cast<int>(i);
  return -1;
}

void checkOrder(const ChangeSet& set, const ObservedState& before, const std::string& where) {
  const auto& changes = set.changes;
  int tables = positionOf(set, Key{Kind::kHostTables}, {Op::kAdd, Op::kReplace});
  for (size_t i = 0; i < changes.size(); ++i) {
    const Change& c = changes[i];
    const Key key = c.key();
    const int at = static_cast<int>(i);
    const bool filter = key.kind == Kind::kNicRule || key.kind == Kind::kHostEntry || key.kind == Kind::kContinuation ||
                        (key.kind == Kind::kDemuxProgram && key.index == static_cast<uint32_t>(representors::DemuxHook::kTc));
    if (c.op != Op::kRemove && filter) {
      // The qdisc a filter goes on is there first.
      const int qdisc = positionOf(set, Key{Kind::kClsact, key.device}, {Op::kAdd});
      EXPECT_TRUE(before.owned.contains(Key{Kind::kClsact, key.device}) ||
                  before.foreignClsact.contains(key.device) || (qdisc >= 0 && qdisc < at))
          << where << ": " << c.describe() << " before its clsact";
    }
    if (c.op != Op::kRemove && key.kind == Kind::kNicRule) {
      const auto& r = std::get<NicRule>(c.object);
      if (r.exit == demux::NicExit::kGotoChain) {
        // What the rule jumps to exists before the rule.
        const Key cont{Kind::kContinuation, key.device, r.gotoTcChain};
        const int added = positionOf(set, cont, {Op::kAdd, Op::kReplace});
        EXPECT_TRUE((added >= 0 && added < at) || (added < 0 && before.owned.contains(cont)))
            << where << ": " << c.describe() << " before the continuation it jumps to";
      }
      if (r.exit != demux::NicExit::kTerminal && tables >= 0) {
        EXPECT_LT(tables, at) << where << ": " << c.describe() << " hands over before the host tables switch";
      }
      // A rule of vfsteer's at the priority with another protocol went first.
      for (size_t j = 0; j < changes.size(); ++j) {
        const Key other = changes[j].key();
        if (changes[j].op == Op::kRemove && other.kind == Kind::kNicRule && other.device == key.device &&
            other.index == key.index && other.protocol != key.protocol) {
          EXPECT_LT(static_cast<int>(j), at) << where << ": room for " << c.describe() << " made after it";
        }
      }
    }
    if (c.op == Op::kRemove && (key.kind == Kind::kNicRule || key.kind == Kind::kDemuxProgram) &&
        c.phase != Phase::kMakeRoom && tables >= 0) {
      EXPECT_GT(at, tables) << where << ": " << c.describe() << " retired before the host took over";
    }
    if (c.op == Op::kAdd && key.kind == Kind::kXdpEntry) {
      const int entry = positionOf(set, Key{Kind::kHostEntry, key.device}, {Op::kAdd, Op::kReplace});
      if (entry >= 0) {
        EXPECT_LT(entry, at) << where << ": XDP entry before the tc entry it passes to";
      }
    }
    if (c.op == Op::kRemove && key.kind == Kind::kXdpEntry) {
      const int entry = positionOf(set, Key{Kind::kHostEntry, key.device}, {Op::kRemove});
      if (entry >= 0) {
        EXPECT_GT(entry, at) << where << ": tc entry removed before the XDP entry in front of it";
      }
    }
    if (c.op == Op::kRemove && key.kind == Kind::kContinuation) {
      for (size_t j = i + 1; j < changes.size(); ++j) {
        const auto* r = std::get_if<NicRule>(&changes[j].object);
        EXPECT_FALSE(r && r->device == key.device && r->exit == demux::NicExit::kGotoChain &&
                     r->gotoTcChain == key.index && changes[j].op == Op::kRemove)
            << where << ": continuation removed before the rule that jumps to it";
      }
    }
    if (c.op == Op::kRemove && key.kind == Kind::kClsact) {
      for (size_t j = i + 1; j < changes.size(); ++j) {
        EXPECT_FALSE(changes[j].key().device == key.device && changes[j].op == Op::kRemove)
            << where << ": clsact removed before " << changes[j].describe();
      }
    }
  }
}

TEST(Reconcile, GeneratedStatesConvergeLeaveForeignObjectsAndKeepOrder) {
  int conflicts = 0, changed = 0, replaced = 0, removed = 0, roomMade = 0;
  for (uint64_t seed = 1; seed <= 3000; ++seed) {
    StateGenerator g(seed);
    const DesiredState desired = g.desired();
    ObservedState observed = g.observed(desired);
    const bool conflict = g.chance(0.05);
    if (conflict) {
      // Someone else's filter where the host entry goes.
      for (const auto& [key, object] : desired.objects)
        if (key.kind == Kind::kHostEntry && !observed.owned.contains(key)) {
          observed.foreignPriorities[key.device].insert(demux::kHostPriority);
          break;
        }
    }
    const std::string where = "seed " + std::to_string(seed);
    auto set = reconcile(desired, observed);
    if (!set.ok()) {
      ASSERT_EQ(set.error().code(), ErrorCode::kConflict) << where << ": " << set.error().describe();
      ASSERT_TRUE(conflict) << where << ": " << set.error().describe();
      ++conflicts;
      continue;
    }
    checkOrder(*set, observed, where);

    ObservedState model = observed;
    for (const auto& c : set->changes) {
      applyToModel(model, c);
      changed += 1;
      replaced += c.op == Op::kReplace;
      removed += c.op == Op::kRemove;
      roomMade += c.phase == Phase::kMakeRoom;
    }
    // vfsteer's objects are now the desired ones...
    for (const auto& [key, want] : desired.objects) {
      const bool used = (key.kind == Kind::kClsact && model.foreignClsact.contains(key.device)) ||
                        (key.kind == Kind::kTunnelDevice && model.foreignTunnelDevices.contains(key.device));
      if (used) continue;
      auto it = model.owned.find(key);
      ASSERT_NE(it, model.owned.end()) << where << ": " << key.str() << " missing";
      EXPECT_TRUE(sameObject(want, it->second, model)) << where << ": " << key.str() << " differs";
    }
    // ...and nothing else of vfsteer's is left, except what must stay.
    for (const auto& [key, held] : model.owned) {
      if (desired.objects.contains(key)) continue;
      const bool staysForeignOnIt = key.kind == Kind::kClsact && model.foreignFilters.contains(key.device);
      EXPECT_TRUE(key.kind == Kind::kHostTables || staysForeignOnIt) << where << ": " << key.str() << " left behind";
    }
    // Others' objects are as they were.
    EXPECT_EQ(model.foreignClsact, observed.foreignClsact) << where;
    EXPECT_EQ(model.foreignTunnelDevices, observed.foreignTunnelDevices) << where;
    EXPECT_EQ(model.foreignFilters, observed.foreignFilters) << where;
    EXPECT_EQ(model.foreignPriorities, observed.foreignPriorities) << where;
    // A second reconcile finds nothing to do.
    auto again = reconcile(desired, model);
    ASSERT_TRUE(again.ok()) << where;
    EXPECT_TRUE(again->empty()) << where << ": then " << again->changes.front().describe();
  }
  // The generator reaches every case.
  EXPECT_GT(conflicts, 20);
  EXPECT_GT(replaced, 1000);
  EXPECT_GT(removed, 1000);
  EXPECT_GT(roomMade, 100);
  std::printf("3,000 generated states: %d changes (%d replace, %d remove, %d making room), %d conflicts\n", changed,
              replaced, removed, roomMade, conflicts);
}

TEST(Reconcile, NothingToDoWhenTheKernelHoldsTheDesiredObjects) {
  StateGenerator g(7);
  DesiredState desired = g.desired();
  ObservedState empty;
  auto first = reconcile(desired, empty);
  ASSERT_TRUE(first.ok());
  ASSERT_FALSE(first->empty());
  ObservedState model;
  for (const auto& c : first->changes) applyToModel(model, c);
  auto second = reconcile(desired, model);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->empty());
}

// tc replaces a flower filter in place only with one of the same mask: a
// new value is a replace, a new key shape a removal and then an add.
TEST(Reconcile, ANicRuleWithAnotherMaskIsRemovedThenAdded) {
  StateGenerator g(11);
  NicRule base = g.rule("eth0", 10020, false);
  base.exit = demux::NicExit::kTerminal;
  auto desiredWith = [&](auto edit) {
    DesiredState d;
    d.add(Clsact{"eth0"});
    NicRule r = base;
    edit(std::get<tc::Flower>(r.filter.spec).key);
    d.add(r);
    return d;
  };
  ObservedState model;
  auto first = reconcile(desiredWith([](tc::FlowerKey& k) { k.dstPort = 80; }), model);
  ASSERT_TRUE(first.ok());
  for (const auto& c : first->changes) applyToModel(model, c);

  auto port = reconcile(desiredWith([](tc::FlowerKey& k) { k.dstPort = 81; }), model);
  ASSERT_TRUE(port.ok());
  ASSERT_EQ(port->changes.size(), 1u);
  EXPECT_EQ(port->changes[0].op, Op::kReplace);

  auto shape = reconcile(desiredWith([](tc::FlowerKey& k) {
                           k.dstPort = 80;
                           k.dst4 = tc::Ip4Key{{10, 0, 0, 0}, {255, 255, 255, 0}};
                         }),
                         model);
  ASSERT_TRUE(shape.ok());
  ASSERT_EQ(shape->changes.size(), 2u);
  EXPECT_EQ(shape->changes[0].op, Op::kRemove);
  EXPECT_EQ(shape->changes[0].phase, Phase::kMakeRoom);
  EXPECT_EQ(shape->changes[1].op, Op::kAdd);
  EXPECT_TRUE(std::get<tc::Flower>(std::get<NicRule>(shape->changes[1].object).filter.spec).key.dst4);
}

// In a profile's priority range, rules share a tc priority and differ by
// handle; a priority someone else's filter holds is not vfsteer's to use.
TEST(Reconcile, NicRulesSharingAPriorityAreTwoObjectsAndAForeignPriorityIsAConflict) {
  StateGenerator g(13);
  DesiredState d;
  d.add(Clsact{"eth0"});
  for (uint32_t handle : {20u, 40u}) {
    NicRule r = g.rule("eth0", 1, false);
    r.exit = demux::NicExit::kTerminal;
    r.filter.protocol = ETH_P_IP;
    r.filter.handle = handle;
    std::get<tc::Flower>(r.filter.spec).key.dstPort = static_cast<uint16_t>(handle);
    d.add(r);
  }
  ObservedState model;
  auto first = reconcile(d, model);
  ASSERT_TRUE(first.ok()) << first.error().describe();
  int adds = 0;
  for (const auto& c : first->changes) adds += c.op == Op::kAdd && c.key().kind == Kind::kNicRule;
  EXPECT_EQ(adds, 2);
  for (const auto& c : first->changes) applyToModel(model, c);
  auto again = reconcile(d, model);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());

  ObservedState theirs;
  theirs.foreignPriorities["eth0"].insert(1);
  auto conflict = reconcile(d, theirs);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code(), ErrorCode::kConflict);
  EXPECT_NE(conflict.error().message().find("tc ingress priority 1 on eth0 holds a filter vfsteer does not own; "
                                             "vfsteer puts its NIC rule there"),
            std::string::npos)
      << conflict.error().message();
}

TEST(Reconcile, TeardownRemovesOnlyVfsteersObjectsInReverse) {
  ObservedState o;
  o.datapath = {true, 100, 101, 102, 0};
  o.owned.insert_or_assign(Key{Kind::kDatapath}, Datapath{});
  o.owned.insert_or_assign(Key{Kind::kHostTables}, HostTables{});
  o.owned.insert_or_assign(Key{Kind::kHostEntry, "uplink0"}, HostEntry{"uplink0", 100});
  o.owned.insert_or_assign(Key{Kind::kXdpEntry, "uplink0"}, XdpEntry{"uplink0", policies::HostXdp::kNative, 102});
  o.owned.insert_or_assign(Key{Kind::kClsact, "uplink0"}, Clsact{"uplink0"});
  o.owned.insert_or_assign(Key{Kind::kClsact, "pf0vf0"}, Clsact{"pf0vf0"});
  o.owned.insert_or_assign(Key{Kind::kHostEntry, "pf0vf0"}, HostEntry{"pf0vf0", 100});
  o.foreignFilters["pf0vf0"] = 1;  // someone else's filter stays, so its qdisc does too
  auto set = reconcile(DesiredState{}, o);
  ASSERT_TRUE(set.ok());
  std::vector<std::string> what;
  for (const auto& c : set->changes) what.push_back(c.describe());
  EXPECT_EQ(what, (std::vector<std::string>{"remove the XDP entry (native) from uplink0",
                                            "detach the host datapath from uplink0",
                                            "detach the host datapath from pf0vf0",
                                            "remove the clsact vfsteer added on uplink0",
                                            "unload the host datapath"}));
}

}  // namespace
}  // namespace vfsteer::engine
