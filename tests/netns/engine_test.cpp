// The engine on the real kernel, counted through its ports: an apply that
// changes nothing writes nothing and reads each kind of object once per
// device; a change writes only what it changes; every step is timed; an
// unchanged policy file is not parsed again.
#include <gtest/gtest.h>
#include <linux/rtnetlink.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

#include "engine/state.hpp"
#include "lab_fixture.hpp"

namespace vfsteer::testing {
namespace {

// Host chains on the uplink and on two representors, a bpf stage, and
// chains the XDP entry runs: every kind of host object on several devices.
const char* kChains = R"(  - {name: web, priority: 1, match: {vlan: 100, ip_proto: tcp, dst_port: 80}, stages: [vlan_pop, {deliver: {vf: 0}}]}
  - {name: dns, priority: 2, match: {ip_proto: udp, dst_port: 53}, stages: [{bpf: {object: examples/bpf/count.bpf.o, program: count}}, {deliver: {vf: 2}}]}
  - {name: slow, priority: 3, match: {dst_ip: 10.0.9.0/24}, stages: [{police: {rate_kbps: 800}}, {deliver: {vf: 3}}]}
  - {name: out1, priority: 1, match: {from: {vf: 1}}, stages: [{mark: 7}, {deliver: uplink}]}
  - {name: out2, priority: 1, match: {from: {vf: 2}}, stages: [{deliver: uplink}]}
)";

class EngineTest : public LabTest {};

TEST_F(EngineTest, AnApplyThatChangesNothingWritesNothingAndReadsEachKindOncePerDevice) {
  const std::string policy = writeLabPolicy(kChains);
  FaultPlan first;
  auto applied = applyThrough(policy, first);
  ASSERT_TRUE(applied.ok()) << applied.failure->error.describe();
  ASSERT_FALSE(applied.changes.empty());

  FaultPlan again;
  auto r = applyThrough(policy, again);
  ASSERT_TRUE(r.ok()) << r.failure->error.describe();
  EXPECT_TRUE(r.changes.empty()) << r.changes.front().describe();
  EXPECT_FALSE(r.recordsChanged);
  EXPECT_EQ(again.count(), 0) << "a write: " << (again.points().empty() ? "" : again.points().front());

  std::map<FaultPlan::Dump, int> times;
  for (const auto& d : again.dumps()) ++times[d];
  for (const auto& [d, n] : times)
    EXPECT_EQ(n, 1) << "protocol " << d.protocol << " type " << d.type << " ifindex " << d.ifindex << " dumped " << n
                    << " times";
  // One link dump, one qdisc dump (it lists every device's), one filter
  // dump per device vfsteer has filters on: the uplink and the two
  // representors chains come from.
  auto count = [&](int type) {
    int n = 0;
    for (const auto& [d, k] : times) n += d.protocol == NETLINK_ROUTE && d.type == type;
    return n;
  };
  EXPECT_EQ(count(RTM_GETLINK), 1);
  EXPECT_EQ(count(RTM_GETQDISC), 1);
  EXPECT_EQ(count(RTM_GETTFILTER), 3);
}

TEST_F(EngineTest, EveryStepOfAnApplyIsTimedInOrderAndApplyTimingsPrintsThem) {
  const std::string policy = writeLabPolicy(kChains);
  FaultPlan plan;
  const auto start = std::chrono::steady_clock::now();
  auto r = applyThrough(policy, plan);
  const std::chrono::duration<double> wall = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok()) << r.failure->error.describe();
  std::vector<std::string> steps;
  std::chrono::duration<double> sum{};
  for (const auto& p : r.phases) {
    steps.push_back(p.phase);
    EXPECT_GE(p.took.count(), 0) << p.phase;
    sum += p.took;
  }
  EXPECT_EQ(steps, (std::vector<std::string>{"load", "discover", "state", "plan", "provision", "observe", "lower", "reconcile",
                                             "execute", "record"}));
  EXPECT_LE(sum.count(), wall.count()) << "the steps add up to more than the apply took";

  // The command line: the same steps on stderr, stdout as without it.
  auto cli = vfsteerCli({"apply", "--timings", "-f", policy});
  ASSERT_EQ(cli.status, 0) << cli.err;
  EXPECT_NE(cli.out.find("already matches"), std::string::npos) << cli.out;
  EXPECT_EQ(cli.out.find("timings"), std::string::npos) << cli.out;
  EXPECT_NE(cli.err.find("vfsteer: timings (s): load "), std::string::npos) << cli.err;
  EXPECT_NE(cli.err.find(", record "), std::string::npos) << cli.err;
  EXPECT_NE(cli.err.find("(total "), std::string::npos) << cli.err;

  // A failing apply: its steps up to the failure (execute ends with the
  // kernel's refusal), "failed" from there to the failure being handled,
  // then the undo.
  std::string changed = kChains;
  changed.replace(changed.find("rate_kbps: 800"), 14, "rate_kbps: 900");
  FaultPlan failing(1);
  auto bad = applyThrough(writeLabPolicy(changed), failing);
  ASSERT_FALSE(bad.ok());
  ASSERT_TRUE(failing.fired());
  steps.clear();
  for (const auto& p : bad.phases) steps.push_back(p.phase);
  EXPECT_EQ(steps, (std::vector<std::string>{"load", "discover", "state", "plan", "provision", "observe", "lower",
                                             "reconcile", "execute", "failed", "undo"}));
}

TEST_F(EngineTest, AChangeWritesOnlyWhatItChanges) {
  FaultPlan setup;
  ASSERT_TRUE(applyThrough(writeLabPolicy(kChains), setup).ok());
  // One chain's rate changes: the host tables switch generation (written
  // aside, switched, the old one cleared after the commit), nothing else.
  std::string changed = kChains;
  changed.replace(changed.find("rate_kbps: 800"), 14, "rate_kbps: 900");
  FaultPlan counter;
  auto r = applyThrough(writeLabPolicy(changed), counter);
  ASSERT_TRUE(r.ok()) << r.failure->error.describe();
  ASSERT_EQ(r.changes.size(), 1u);
  EXPECT_EQ(r.changes[0].key().kind, engine::Kind::kHostTables);
  const std::string next = counter.points().empty() ? "?" : counter.points()[0].substr(counter.points()[0].size() - 1);
  const std::string old = next == "0" ? "1" : "0";
  EXPECT_EQ(counter.points(), (std::vector<std::string>{"map write, generation " + next,
                                                        "map write, activate generation " + next,
                                                        "map write, clear generation " + old}));

  // A chain from a representor that had none: its port's qdisc and entry,
  // and the tables (8 rules: web and dns match IPv4 and IPv6; 4 shapes:
  // web's two share one, the three from-VF chains another).
  const std::string more = writeLabPolicy(std::string(kChains) +
                                          "  - {name: out3, priority: 1, match: {from: {vf: 3}}, stages: [drop]}\n");
  FaultPlan added;
  auto a = applyThrough(more, added);
  ASSERT_TRUE(a.ok()) << a.failure->error.describe();
  std::vector<std::string> what;
  for (const auto& c : a.changes) what.push_back(c.describe());
  EXPECT_EQ(what, (std::vector<std::string>{"add clsact on pf0vf3",
                                            "switch the host tables to 6 chains, 8 rules, 4 match shapes, "
                                            "classified by code made for them",
                                            "attach the host datapath to pf0vf3 ingress",
                                            "attach the XDP entry (native, reading RX metadata) on pf0vf3"}));
}

TEST_F(EngineTest, AReApplyOfTheSameFileTakesThePolicyItKeptAndAnEditIsReadAgain) {
  const std::string path = writeLabPolicy(kChains);
  FaultPlan first;
  auto applied = applyThrough(path, first);
  ASSERT_TRUE(applied.ok()) << applied.failure->error.describe();
  EXPECT_FALSE(applied.policyCached);
  EXPECT_TRUE(std::filesystem::exists(labStateDir() + "/" + engine::kPolicyCacheFile));

  FaultPlan again;
  auto same = applyThrough(path, again);
  ASSERT_TRUE(same.ok()) << same.failure->error.describe();
  EXPECT_TRUE(same.policyCached);
  EXPECT_TRUE(same.changes.empty());

  // The file edited in place (same path, same size): read again, and the
  // edit is what gets applied.
  std::string edited = labPolicyText(kChains);
  edited.replace(edited.find("rate_kbps: 800"), 14, "rate_kbps: 900");
  std::ofstream(path, std::ios::trunc) << edited;
  FaultPlan edit;
  auto changed = applyThrough(path, edit);
  ASSERT_TRUE(changed.ok()) << changed.failure->error.describe();
  EXPECT_FALSE(changed.policyCached);
  ASSERT_EQ(changed.changes.size(), 1u);
  EXPECT_NE(changed.changes[0].describe().find("switch the host tables"), std::string::npos)
      << changed.changes[0].describe();

  // The old text under another path: positions name the path, so it is
  // loaded, not taken from the cache (and changes the rate back).
  const std::string other = writeLabPolicy(kChains);
  FaultPlan back;
  auto r = applyThrough(other, back);
  ASSERT_TRUE(r.ok()) << r.failure->error.describe();
  EXPECT_FALSE(r.policyCached);
  EXPECT_EQ(r.changes.size(), 1u);

  // The CLI is another binary: the entry this test's binary made is not
  // its own, so it loads the file (and keeps it); its next apply says
  // "load (cached)" in its timings.
  auto cli = vfsteerCli({"apply", "--timings", "-f", other});
  ASSERT_EQ(cli.status, 0) << cli.err;
  EXPECT_EQ(cli.err.find("(cached)"), std::string::npos) << cli.err;
  EXPECT_NE(cli.err.find("timings (s): load "), std::string::npos) << cli.err;
  cli = vfsteerCli({"apply", "--timings", "-f", other});
  ASSERT_EQ(cli.status, 0) << cli.err;
  EXPECT_NE(cli.err.find("timings (s): load (cached) "), std::string::npos) << cli.err;
}

}  // namespace
}  // namespace vfsteer::testing
