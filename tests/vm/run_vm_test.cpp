// `vfsteer run` on netdevsim: VFs and representors that go away (sriov_numvfs
// reset, devlink reload) are provisioned and attached again.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include "netdevsim.hpp"
#include "running_daemon.hpp"

namespace vfsteer::testing {
namespace {

using namespace std::chrono_literals;

// The representor of `vf`, once it exists and carries vfsteer's host entry.
bool attached(Netdevsim& nsim, int vf) {
  auto reps = nsim.representors();
  auto it = reps.find(vf);
  if (it == reps.end() || it->second.empty()) return false;
  auto r = runProgram({"/usr/sbin/tc", "-j", "filter", "show", "dev", it->second, "ingress"});
  return r.status == 0 && r.out.find("\"vfs_ingress\"") != std::string::npos;
}

bool within(std::chrono::milliseconds timeout, const std::function<bool()>& done) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

class RunVm : public VmTest {};

TEST_F(RunVm, VfsAndRepresentorsThatGoAwayAreProvisionedAndAttachedAgain) {
  const std::string policy = writeFile("version: 1\ndevice: {pf: " + nsim().pf() +
                                       ", eswitch: switchdev, vfs: {count: 3}}\nchains:\n"
                                       "  - {name: out1, priority: 1, match: {from: {vf: 1}}, stages: [{deliver: uplink}]}\n");
  RunningDaemon d({"-f", policy, "--skip-hw", "all"});
  ASSERT_TRUE(d.waitForLog("keeping ", 60s)) << d.log();
  ASSERT_TRUE(attached(nsim(), 1)) << d.log();

  nsim().setNumVfs(0);
  EXPECT_TRUE(within(30s, [&] { return readSysfs(nsim().sysfs() + "/sriov_numvfs") == "3" && attached(nsim(), 1); }))
      << "sriov_numvfs reset to 0: not provisioned again\n" << d.log();
  EXPECT_TRUE(d.waitForLog("repaired (kernel): set " + nsim().pf() + " sriov_numvfs to 3 (from 0)", 5s)) << d.log();

  sh({"devlink", "dev", "reload", nsim().devlink()});
  EXPECT_TRUE(within(30s, [&] { return readSysfs(nsim().sysfs() + "/sriov_numvfs") == "3" && attached(nsim(), 1); }))
      << "devlink reload: not provisioned and attached again\n" << d.log();
  EXPECT_EQ(shJson({"devlink", "-j", "dev", "eswitch", "show", nsim().devlink()})["dev"][nsim().devlink()]["mode"],
            "switchdev");
  d.signal(SIGTERM);
  EXPECT_EQ(d.waitExit(10s), 0);
}

class RunVmLab : public VmLabTest {};

// The NIC part emulated (flower skip_hw) on the lab: the tunnel device
// vfsteer made for the decap rule, deleted behind its back, comes back with
// its rule.
TEST_F(RunVmLab, ADeletedTunnelDeviceIsMadeAgainWithItsRule) {
  const std::string policy = writeFile(
      "version: 1\ndevice: {pf: uplink0, vfs: {count: 4}}\nchains:\n"
      "  - {name: tenant, priority: 20, match: {tunnel: {type: vxlan, vni: 42}}, stages: [tunnel_decap, {deliver: {vf: 1}}]}\n");
  RunningDaemon d({"-f", policy, "--profile", "mlx5", "--emulate-nic"});
  ASSERT_TRUE(d.waitForLog("keeping ", 60s)) << d.log();
  auto tunnelRule = [] {
    auto r = runProgram({"/usr/sbin/tc", "-n", "vfs-host", "-j", "filter", "show", "dev", "vfs-vx4789", "ingress"});
    return r.status == 0 && r.out.find("\"flower\"") != std::string::npos;
  };
  ASSERT_TRUE(tunnelRule()) << d.log();
  sh({"ip", "-n", "vfs-host", "link", "del", "vfs-vx4789"});
  EXPECT_TRUE(within(20s, tunnelRule)) << "the tunnel device and its rule did not come back\n" << d.log();
  EXPECT_TRUE(d.waitForLog("repaired (kernel): ", 1s)) << d.log();
  d.signal(SIGTERM);
  EXPECT_EQ(d.waitExit(10s), 0);
}

}  // namespace
}  // namespace vfsteer::testing
