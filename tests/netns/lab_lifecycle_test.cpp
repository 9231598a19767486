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

const std::vector<std::string> kLabNamespaces = {labNetns("wire"), labNetns("host"), labNetns("vf0"), labNetns("vf1")};

// `vfsteer lab VERB ARGS --name <the test lab>`.
CliResult labCli(std::vector<std::string> args, const std::string& name = testLab().name) {
  args.insert(args.begin(), "lab");
  args.insert(args.end(), {"--name", name});
  return vfsteerCli(args);
}

const std::string kSecondLab = testLab().name + "b";

class LabLifecycle : public ::testing::Test {
 protected:
  void SetUp() override { VFSTEER_REQUIRE_ROOT(); }
  void TearDown() override {
    if (!isRoot()) return;
    labCli({"down"});
    labCli({"down"}, kSecondLab);
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
  ASSERT_EQ(labCli({"up", "--vfs", "2"}).status, 0);
  const std::string policy = "/tmp/vfsteer-lifecycle-" + std::to_string(getpid()) + ".yaml";
  std::ofstream(policy) << "version: 1\ndevice: {pf: uplink0, netns: " << labNetns("host")
                        << ", vfs: {count: 2}}\nchains:\n"
                           "  - {name: dns, priority: 1, match: {ip_proto: udp, dst_port: 53}, stages: [{deliver: {vf: 1}}]}\n";
  // plan finds the driver as apply does, in the lab's topology file.
  auto planned = vfsteerCli({"plan", "-f", policy});
  EXPECT_EQ(planned.status, 0) << planned.err;
  EXPECT_NE(planned.out.find("profile veth"), std::string::npos) << planned.out;
  auto applied = vfsteerCli({"apply", "-f", policy});
  fs::remove(policy);
  ASSERT_EQ(applied.status, 0) << applied.err;
  ASSERT_TRUE(fs::exists(labStateDir() + "/state.json"));
  ASSERT_TRUE(fs::exists(labPins()));

  for (const auto& ns : kLabNamespaces) {
    auto del = runProgram({"/usr/sbin/ip", "netns", "del", ns});
    ASSERT_EQ(del.status, 0) << ns << ": " << del.err;
  }
  auto status = labCli({"status"});
  EXPECT_NE(status.out.find("missing"), std::string::npos) << status.out;

  auto down = labCli({"down"});
  EXPECT_EQ(down.status, 0) << down.err;
  EXPECT_FALSE(fs::exists(labStateDir())) << "the instance's state stayed";
  EXPECT_FALSE(fs::exists(labPins())) << "the instance's pins stayed";
  EXPECT_FALSE(fs::exists(testLab().stateFile()));
  EXPECT_FALSE(fs::exists(testLab().topologyFile()));
  EXPECT_FALSE(fs::exists(fs::path(testLab().topologyFile()).parent_path()));
  EXPECT_NE(labCli({"status"}).out.find("lab: down"), std::string::npos);
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

  ASSERT_EQ(labCli({"up", "--vfs", "2"}).status, 0);
  const std::string other = "vfst-other-" + std::to_string(getpid());
  ASSERT_EQ(runProgram({"/usr/sbin/ip", "netns", "add", other}).status, 0);
  ASSERT_EQ(runProgram({"/usr/sbin/ip", "netns", "del", other}).status, 0);
  auto down = labCli({"down"});
  EXPECT_EQ(down.status, 0) << down.err;
  for (const auto& ns : kLabNamespaces) EXPECT_FALSE(fs::exists("/run/netns/" + ns)) << ns;
}

// Two labs of different names: each has its own namespaces and topology
// file for its uplink0; a policy picks one with device.netns and without it
// is told to; taking one down leaves the other as it was.
TEST_F(LabLifecycle, LabsOfDifferentNamesLiveSideBySide) {
  ASSERT_EQ(labCli({"up", "--vfs", "2"}).status, 0);
  ASSERT_EQ(labCli({"up", "--vfs", "1"}, kSecondLab).status, 0);
  auto again = labCli({"up", "--vfs", "1"}, kSecondLab);
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.err.find("already up"), std::string::npos) << again.err;

  const std::string policy = "/tmp/vfsteer-lifecycle-" + std::to_string(getpid()) + ".yaml";
  std::ofstream(policy) << "version: 1\ndevice: {pf: uplink0}\nchains:\n"
                           "  - {name: dns, priority: 1, match: {ip_proto: udp, dst_port: 53}, stages: [{deliver: {vf: 0}}]}\n";
  auto ambiguous = vfsteerCli({"apply", "-f", policy});
  EXPECT_EQ(ambiguous.status, 1);
  EXPECT_NE(ambiguous.err.find("several network namespaces"), std::string::npos) << ambiguous.err;
  EXPECT_NE(ambiguous.err.find(kSecondLab + "-host"), std::string::npos) << ambiguous.err;
  EXPECT_NE(ambiguous.err.find("device.netns"), std::string::npos) << ambiguous.err;

  auto found = vfsteerCli({"discover", "--pf", "uplink0", "--netns", kSecondLab + "-host", "-o", "json"});
  ASSERT_EQ(found.status, 0) << found.err;
  EXPECT_NE(found.out.find("\"instance\": \"uplink0:" + kSecondLab + "-host\""), std::string::npos) << found.out;

  auto wrong = vfsteerCli({"discover", "--pf", "uplink0", "--netns", "vt-nosuch"});
  EXPECT_EQ(wrong.status, 1);
  EXPECT_NE(wrong.err.find("no topology file"), std::string::npos) << wrong.err;

  ASSERT_EQ(labCli({"down"}, kSecondLab).status, 0);
  EXPECT_FALSE(fs::exists("/run/netns/" + kSecondLab + "-host"));
  for (const auto& ns : kLabNamespaces) EXPECT_TRUE(fs::exists("/run/netns/" + ns)) << ns;
  EXPECT_TRUE(fs::exists(testLab().topologyFile()));
  EXPECT_NE(labCli({"status"}).out.find("lab: up with 2 VFs"), std::string::npos);
  fs::remove(policy);
}

TEST_F(LabLifecycle, LabNamesThatCannotPrefixNamespacesAreRefused) {
  for (const std::string& bad : std::vector<std::string>{"", "a/b", "has space", std::string(33, 'x')}) {
    auto r = labCli({"up"}, bad);
    EXPECT_EQ(r.status, 1) << bad;
    EXPECT_NE(r.err.find("letters, digits"), std::string::npos) << bad << ": " << r.err;
  }
}

}  // namespace
}  // namespace vfsteer::testing
