// The lab's own life: `lab down` removes it, and every trace of what was
// applied on it, whatever happened to its namespaces in between.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "lab_fixture.hpp"

namespace vfsteer::testing {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kLabNamespaces = {"vfs-wire", "vfs-host", "vfs-vf0", "vfs-vf1"};

class LabLifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    VFSTEER_REQUIRE_ROOT();
    auto st = vfsteerCli({"lab", "status"});
    ASSERT_EQ(st.out.find("lab: up"), std::string::npos)
        << "a lab is already up (scripts/demo leaves one): run vfsteer lab down, then the tests";
  }
  void TearDown() override {
    if (isRoot()) vfsteerCli({"lab", "down"});
  }
};

bool mountedAt(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.find(" " + path + " ") != std::string::npos) return true;
  return false;
}

TEST_F(LabLifecycle, LabDownAfterItsNamespacesWereRemovedByHandLeavesNoState) {
  ASSERT_EQ(vfsteerCli({"lab", "up", "--vfs", "2"}).status, 0);
  const std::string policy = "/tmp/vfsteer-lifecycle-" + std::to_string(getpid()) + ".yaml";
  std::ofstream(policy) << "version: 1\ndevice: {pf: uplink0, vfs: {count: 2}}\nchains:\n"
                           "  - {name: dns, priority: 1, match: {ip_proto: udp, dst_port: 53}, stages: [{deliver: {vf: 1}}]}\n";
  auto applied = vfsteerCli({"apply", "-f", policy});
  fs::remove(policy);
  ASSERT_EQ(applied.status, 0) << applied.err;
  ASSERT_TRUE(fs::exists(std::string("/run/vfsteer/") + kLabInstance + "/state.json"));
  ASSERT_TRUE(fs::exists(kLabPins));

  for (const auto& ns : kLabNamespaces) {
    auto del = runProgram({"/usr/sbin/ip", "netns", "del", ns});
    ASSERT_EQ(del.status, 0) << ns << ": " << del.err;
  }
  auto status = vfsteerCli({"lab", "status"});
  EXPECT_NE(status.out.find("missing"), std::string::npos) << status.out;

  auto down = vfsteerCli({"lab", "down"});
  EXPECT_EQ(down.status, 0) << down.err;
  EXPECT_FALSE(fs::exists(std::string("/run/vfsteer/") + kLabInstance)) << "the instance's state stayed";
  EXPECT_FALSE(fs::exists(kLabPins)) << "the instance's pins stayed";
  EXPECT_FALSE(fs::exists("/run/vfsteer/lab.json"));
  EXPECT_FALSE(fs::exists("/run/vfsteer/topology/uplink0.json"));
  EXPECT_NE(vfsteerCli({"lab", "status"}).out.find("lab: down"), std::string::npos);
}

// `ip netns add` mounts /run/netns over itself when it is not yet a mount
// point; namespaces mounted beneath were then hidden and `lab down` failed
// with EBUSY. On a machine where /run/netns is an unused mount point, it is
// taken away first so the test starts from a fresh machine's state.
TEST_F(LabLifecycle, IpNetnsAddAndDelInBetweenDoNotPinTheLab) {
  std::error_code ec;
  if (fs::is_empty("/run/netns", ec) && mountedAt("/run/netns")) {
    ASSERT_EQ(::umount2("/run/netns", MNT_DETACH), 0);
  }

  ASSERT_EQ(vfsteerCli({"lab", "up", "--vfs", "2"}).status, 0);
  const std::string other = "vfst-other-" + std::to_string(getpid());
  ASSERT_EQ(runProgram({"/usr/sbin/ip", "netns", "add", other}).status, 0);
  ASSERT_EQ(runProgram({"/usr/sbin/ip", "netns", "del", other}).status, 0);
  auto down = vfsteerCli({"lab", "down"});
  EXPECT_EQ(down.status, 0) << down.err;
  for (const auto& ns : kLabNamespaces) EXPECT_FALSE(fs::exists("/run/netns/" + ns)) << ns;
}

}  // namespace
}  // namespace vfsteer::testing
