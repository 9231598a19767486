// All or nothing on a simulated NIC: an apply that provisions VFs
// (sriov_numvfs, eswitch mode, MAC, VLAN, trust, spoofchk, link state,
// devlink rates), offloads the demux program (cls_bpf skip_sw, enforced) and programs
// the host remainder is run once per kernel write it makes, each time with
// that write failing. Each failed apply must leave the device exactly as it
// was, compared by full dumps (ip, tc, devlink, vfsteer's pins and state).
#include <gtest/gtest.h>

#include "engine/apply.hpp"
#include "faulty_ports.hpp"
#include "netdevsim.hpp"

namespace vfsteer::testing {
namespace {

class VmFaultTest : public VmTest {
 protected:
  // Back to a PF with no VFs in legacy mode and nothing of vfsteer's.
  void reset() {
    runVfsteer({"teardown", "--instance", nsim().pf()});
    nsim().setNumVfs(0);
    sh({"devlink", "dev", "eswitch", "set", nsim().devlink(), "mode", "legacy"});
    nsim().hwTcOffload(true);
  }
  engine::ApplyResult applyWith(const std::string& policy, FaultPlan& plan) {
    engine::ApplyOptions opts;
    opts.policyFile = policy;
    // Under auto a refused demux program falls back to the host (tested in
    // nic_test); skip-sw makes that refusal fail the apply too.
    opts.skipSw = {"web"};
    auto ports = makeFaultyPorts(plan);
    return engine::apply(opts, *ports);
  }
};

TEST_F(VmFaultTest, ProvisioningNicProgramAndHostAreAllOrNothingAtEveryWrite) {
  const std::string policy = writeFile(
      "version: 1\ndevice:\n  pf: " + nsim().pf() +
      "\n  eswitch: switchdev\n  vfs:\n    count: 2\n    settings:\n"
      "      - {vf: 0, mac: \"02:00:00:00:00:10\", vlan: 100, trust: true, spoofchk: false, "
      "link_state: enable, max_tx_rate_mbps: 1000}\n"
      "      - {vf: 1, mac: \"02:00:00:00:00:11\", link_state: disable}\n"
      "chains:\n"
      "  - {name: web, priority: 10, match: {ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
      "  - {name: slow, priority: 20, match: {ip_proto: udp}, stages: [{police: {rate_kbps: 800}}, {deliver: {vf: 1}}]}\n");
  reset();
  FaultPlan counting;
  auto ok = applyWith(policy, counting);
  ASSERT_TRUE(ok.ok()) << ok.failure->error.describe();
  const int points = counting.count();
  for (int k = 1; k <= points; ++k) std::printf("  fault point %d: %s\n", k, counting.points()[k - 1].c_str());
  ASSERT_GT(points, 8);
  int undone = 0;
  for (int k = 1; k <= points; ++k) {
    reset();
    const std::string before = kernelSnapshot(nsim(), {nsim().pf()});
    FaultPlan plan(k);
    auto r = applyWith(policy, plan);
    ASSERT_TRUE(plan.fired()) << "point " << k << " of " << points << " was not reached";
    const std::string where = "fault point " + std::to_string(k) + " (" + plan.points()[k - 1] + ")";
    if (r.ok()) {
      ADD_FAILURE() << where << ": the apply succeeded";
      for (const auto& c : r.changes) std::printf("    %s\n", c.describe().c_str());
      continue;
    }
    ++undone;
    const std::string error = r.failure->error.describe();
    EXPECT_NE(error.find("injected fault"), std::string::npos) << where << ": " << error;
    EXPECT_TRUE(r.failure->leftovers.empty()) << where << ": rolling back left " << r.failure->leftovers.front();
    EXPECT_EQ(kernelSnapshot(nsim(), {nsim().pf()}), before) << where << ": " << error;
  }
  std::printf("tried %d fault points on netdevsim: %d undone completely\n", points, undone);
}

}  // namespace
}  // namespace vfsteer::testing
