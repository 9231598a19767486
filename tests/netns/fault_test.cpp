// All or nothing: an apply is run once per kernel write it makes, each time
// with that write failing. Every failed apply must leave the lab exactly as
// it was (compared by full dumps: qdiscs and filters of every host device,
// pins, the active host tables, vfsteer's state and journal). A write that
// fails after the new state is committed (clean-up of the old generation or
// program) must leave the new policy in place and say so.
#include <gtest/gtest.h>
#include <unistd.h>


#include "lab_fixture.hpp"

namespace vfsteer::testing {
namespace {

class FaultTest : public LabTest {
 protected:
  // Runs `target` with a fault at every write it makes, from `baseline`
  // (a policy applied first, or nothing); with `emulated`, under that
  // profile with the NIC emulated.
  void everyFaultPoint(const std::optional<std::string>& baseline, const std::string& target,
                       const std::optional<std::string>& emulated = std::nullopt) {
    auto reset = [&] {
      ASSERT_EQ(vfsteerCli({"teardown", "--instance", labInstance()}).status, 0);
      if (baseline) {
        std::vector<std::string> args = {"apply", "-f", *baseline};
        if (emulated) args.insert(args.end(), {"--profile", *emulated, "--emulate-nic"});
        auto r = vfsteerCli(args);
        ASSERT_EQ(r.status, 0) << r.err;
      }
    };
    reset();
    FaultPlan counting;
    auto ok = applyThrough(target, counting, emulated);
    ASSERT_TRUE(ok.ok()) << ok.failure->error.describe();
    const std::string after = labSnapshot();
    const int points = counting.count();
    for (int k = 1; k <= points; ++k) std::printf("  fault point %d: %s\n", k, counting.points()[k - 1].c_str());
    ASSERT_GT(points, 5);
    int undone = 0, committed = 0;
    for (int k = 1; k <= points; ++k) {
      reset();
      const std::string before = labSnapshot();
      FaultPlan plan(k);
      auto r = applyThrough(target, plan, emulated);
      ASSERT_TRUE(plan.fired()) << "point " << k << " of " << points << " was not reached";
      const std::string now = labSnapshot();
      const std::string where = "fault point " + std::to_string(k) + " (" + plan.points()[k - 1] + ")";
      if (!r.ok()) {
        ++undone;
        const std::string error = r.failure->error.describe();
        EXPECT_NE(error.find("injected fault"), std::string::npos) << where << ": " << error;
        EXPECT_TRUE(r.failure->leftovers.empty()) << where << ": rolling back left " << r.failure->leftovers.front();
        std::string trail;
        for (const auto& p : plan.points()) trail += "\n    " + p;
        ASSERT_TRUE(now == before) << where << " left the kernel changed: " << firstDifference(now, before)
                                   << "\n  error: " << error << "\n  points:" << trail;
      } else {
        ++committed;
        bool warned = false;
        for (const auto& w : r.warnings) warned |= w.error.describe().find("injected fault") != std::string::npos;
        EXPECT_TRUE(warned) << where << ": a clean-up failure after commit must be reported";
        ASSERT_TRUE(now == after) << where << ": committed, but not the new policy: " << firstDifference(now, after);
      }
    }
    std::printf("tried %d fault points: %d undone completely, %d after the commit (new policy kept, warned)\n",
                points, undone, committed);
    EXPECT_GT(undone, committed);
  }
};

const char* kTarget = R"(  - {name: web, priority: 1, match: {vlan: 100, ip_proto: tcp, dst_port: 80}, stages: [vlan_pop, {deliver: {vf: 0}}]}
  - {name: dns, priority: 2, match: {ip_proto: udp, dst_port: 53}, stages: [{bpf: {object: examples/bpf/count.bpf.o, program: count}}, {deliver: {vf: 2}}]}
  - {name: slow, priority: 3, match: {dst_ip: 10.0.9.0/24}, stages: [{police: {rate_kbps: 800}}, {deliver: {vf: 3}}]}
  - {name: out1, priority: 1, match: {from: {vf: 1}}, stages: [{mark: 7}, {deliver: uplink}]}
)";

TEST_F(FaultTest, FirstApplyIsAllOrNothingAtEveryWrite) { everyFaultPoint(std::nullopt, writeLabPolicy(kTarget)); }

TEST_F(FaultTest, PolicyChangeIsAllOrNothingAtEveryWrite) {
  const std::string baseline = writeLabPolicy(R"(  - {name: old, priority: 1, match: {ip_proto: udp, dst_port: 9}, stages: [{bpf: {object: examples/bpf/count.bpf.o, program: count}}, {deliver: {vf: 1}}]}
  - {name: web, priority: 2, match: {ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}
  - {name: out2, priority: 1, match: {from: {vf: 2}}, stages: [{deliver: uplink}]}
)");
  everyFaultPoint(baseline, writeLabPolicy(kTarget));
}

// Engine u32 (profile ixgbe, emulated): a change that moves the address of
// a table (its link is replaced, so its rules are removed and added again),
// adds a table and a rule, and retires one, with the removals first. Every
// rule and link goes, so the kernel drops the u32 priority with its tables
// on the way; undoing puts them back. The chains are skip-sw, so a refused
// rule fails the apply instead of moving its chain to the host.
TEST_F(FaultTest, U32LayoutChangeIsAllOrNothingAtEveryWrite) {
  const std::string baseline = writeLabPolicy(R"(  - {name: web, priority: 1, match: {dst_ip: 10.1.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}
  - {name: tls, priority: 2, match: {dst_ip: 10.1.0.0/24, ip_proto: tcp, dst_port: 443}, stages: [{deliver: {vf: 1}}]}
  - {name: old, priority: 3, match: {dst_ip: 10.3.0.0/24, ip_proto: udp, dst_port: 80}, stages: [{deliver: {vf: 3}}]}
)");
  const std::string target = writeLabPolicy(R"(  - {name: web, priority: 1, offload: skip-sw, match: {dst_ip: 10.2.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}
  - {name: tls, priority: 2, offload: skip-sw, match: {dst_ip: 10.2.0.0/24, ip_proto: tcp, dst_port: 443}, stages: [{deliver: {vf: 1}}]}
  - {name: dns, priority: 4, offload: skip-sw, match: {dst_ip: 10.1.1.0/24, ip_proto: udp, dst_port: 53}, stages: [{deliver: {vf: 2}}]}
)");
  everyFaultPoint(baseline, target, "ixgbe");
}

}  // namespace
}  // namespace vfsteer::testing
