// `vfsteer run` on the test lab with real frames: drift repaired within 2 s,
// the policy file followed (and a broken one refused with its position),
// bursts coalesced, SIGTERM and SIGKILL, and the keeper's claim on the
// instance.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "lab_fixture.hpp"
#include "running_daemon.hpp"
#include "packets.hpp"

namespace vfsteer::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using FB = FrameBuilder;

const Mac kWire = mac("02:00:00:00:00:fe");
Mac vfMac(int i) { return mac(("02:00:00:00:00:1" + std::to_string(i)).c_str()); }

// Polls `done` every 20 ms; the time it took, or nullopt after `timeout`.
template <typename F>
std::optional<std::chrono::milliseconds> timeUntil(F done, std::chrono::milliseconds timeout) {
  const auto start = Clock::now();
  while (Clock::now() - start < timeout) {
    if (done()) return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    std::this_thread::sleep_for(20ms);
  }
  return std::nullopt;
}

void hostCmd(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/usr/sbin/ip", "netns", "exec", labNetns("host")};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runProgram(argv);
  ASSERT_EQ(r.status, 0) << r.err;
}

bool hasVfsteerEntry(const std::string& dev) {
  for (const auto& f : tcJson({"filter", "show", "dev", dev, "ingress"}))
    if (f.contains("options") && f["options"].value("bpf_name", "") == "vfsteer:" + labInstance() &&
        f["options"]["prog"].value("name", "") == "vfs_ingress")
      return true;
  return false;
}

bool hasXdp(const std::string& dev) {
  auto r = runProgram({"/usr/sbin/ip", "-n", labNetns("host"), "-j", "link", "show", "dev", dev});
  return r.status == 0 && r.out.find("\"xdp\"") != std::string::npos;
}

// Does a UDP frame to `port` from the wire reach vf`vf`?
bool reaches(int vf, uint16_t port, const std::string& marker) {
  auto cap = Capture::open(labNetns("vf" + std::to_string(vf)), "vf" + std::to_string(vf));
  if (!cap.ok()) return false;
  Bytes frame = FB::ethernet(vfMac(vf), kWire, 0x0800,
                             FB::ipv4("10.9.0.1", "10.1.0.7", 17, FB::udp(40000, port, text(marker))));
  if (!sendFrames(labNetns("wire"), "wire0", {frame}).ok()) return false;
  for (const auto& c : cap->collect(200))
    if (contains(c.frame, text(marker))) return true;
  return false;
}

// Replaces `path` the way editors and config managers do: a new file renamed
// over it.
void replaceFile(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".new";
  std::ofstream(tmp) << content;
  std::filesystem::rename(tmp, path);
}

const char* kDeliver7001 =
    "  - {name: a, priority: 1, match: {ip_proto: udp, dst_port: 7001}, stages: [{deliver: {vf: 0}}]}\n";

class RunTest : public LabTest {};

TEST_F(RunTest, RepairsDeletedFilterClsactAndXdpWithinTwoSecondsAndLeavesForeignFiltersAlone) {
  const std::string policy = writeLabPolicy(kDeliver7001);
  // A foreign filter on a device vfsteer also uses.
  hostCmd({"tc", "qdisc", "add", "dev", "pf0vf3", "clsact"});
  hostCmd({"tc", "filter", "add", "dev", "pf0vf3", "ingress", "prio", "7", "protocol", "all", "u32", "match", "u32",
           "0", "0", "action", "mirred", "egress", "mirror", "dev", "pf0vf0"});
  const auto foreign = tcJson({"filter", "show", "dev", "pf0vf3", "ingress"});
  RunningDaemon d({"-f", policy});
  ASSERT_TRUE(d.waitForLog("keeping " + labInstance(), 10s)) << d.log();
  ASSERT_TRUE(reaches(0, 7001, "before-drift"));

  hostCmd({"tc", "filter", "del", "dev", "uplink0", "ingress", "pref", "40000"});
  auto t = timeUntil([] { return hasVfsteerEntry("uplink0"); }, 2s);
  ASSERT_TRUE(t) << "the host entry was not put back within 2 s\n" << d.log();
  EXPECT_TRUE(reaches(0, 7001, "after-filter-repair"));

  hostCmd({"tc", "qdisc", "del", "dev", "uplink0", "clsact"});
  t = timeUntil([] { return hasVfsteerEntry("uplink0"); }, 2s);
  ASSERT_TRUE(t) << "clsact and the host entry were not put back within 2 s\n" << d.log();
  EXPECT_TRUE(reaches(0, 7001, "after-clsact-repair"));

  ASSERT_TRUE(hasXdp("uplink0")) << "the lab policy runs the XDP entry (host_xdp: auto)";
  hostCmd({"ip", "link", "set", "dev", "uplink0", "xdp", "off"});
  t = timeUntil([] { return hasXdp("uplink0"); }, 2s);
  ASSERT_TRUE(t) << "the XDP entry was not attached again within 2 s\n" << d.log();
  EXPECT_TRUE(reaches(0, 7001, "after-xdp-repair"));

  EXPECT_EQ(d.count("repaired (kernel): attach the host datapath to uplink0 ingress"), 2u) << d.log();
  EXPECT_EQ(d.count("repaired (kernel): add clsact on uplink0"), 1u) << d.log();
  EXPECT_EQ(d.count("repaired (kernel): attach the XDP entry"), 1u) << d.log();
  EXPECT_EQ(tcJson({"filter", "show", "dev", "pf0vf3", "ingress"}), foreign) << "a foreign filter was touched";
  d.signal(SIGTERM);
  EXPECT_EQ(d.waitExit(2s), 0);
  hostCmd({"tc", "qdisc", "del", "dev", "pf0vf3", "clsact"});
}

// A foreign filter that took vfsteer's place is reported and left alone; the
// repair comes back (after the back-off) once its owner removes it.
TEST_F(RunTest, AForeignFilterInVfsteersPlaceIsReportedNotReplaced) {
  const std::string policy = writeLabPolicy(kDeliver7001);
  RunningDaemon d({"-f", policy});
  ASSERT_TRUE(d.waitForLog("keeping " + labInstance(), 10s)) << d.log();
  // Deleted and taken in one batch, faster than the daemon's settle time.
  const std::string batch = "/tmp/vfsteer-foreign-" + std::to_string(getpid());
  std::ofstream(batch) << "filter del dev uplink0 ingress pref 40000\n"
                          "filter add dev uplink0 ingress pref 40000 protocol all u32 match u32 0 0 "
                          "action mirred egress mirror dev pf0vf3\n";
  auto r = runProgram({"/usr/sbin/tc", "-n", labNetns("host"), "-batch", batch});
  std::filesystem::remove(batch);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto foreign = tcJson({"filter", "show", "dev", "uplink0", "ingress"});
  ASSERT_TRUE(d.waitForLog("tc ingress priority 40000 on uplink0 holds a filter vfsteer does not own", 2s)) << d.log();
  EXPECT_NE(d.log().find("reconcile (kernel) failed"), std::string::npos) << d.log();
  std::this_thread::sleep_for(1500ms);  // a retry after the first back-off
  EXPECT_EQ(tcJson({"filter", "show", "dev", "uplink0", "ingress"}), foreign) << "the foreign filter was touched";
  EXPECT_LE(d.count("holds a filter vfsteer does not own"), 3u) << "retries back off:\n" << d.log();

  hostCmd({"tc", "filter", "del", "dev", "uplink0", "ingress", "pref", "40000"});
  // The deletion is news, but the back-off (1 s, then 2 s) still decides.
  ASSERT_TRUE(timeUntil([] { return hasVfsteerEntry("uplink0"); }, 5s)) << d.log();
  EXPECT_TRUE(reaches(0, 7001, "after-foreign-gone"));
  d.signal(SIGTERM);
  EXPECT_EQ(d.waitExit(2s), 0);
}

TEST_F(RunTest, FollowsThePolicyFileAndKeepsTheLastGoodPolicyWhenANewOneIsBroken) {
  const std::string policy = writeLabPolicy(kDeliver7001);
  RunningDaemon d({"-f", policy});
  ASSERT_TRUE(d.waitForLog("keeping " + labInstance(), 10s)) << d.log();
  ASSERT_TRUE(reaches(0, 7001, "first-policy"));

  replaceFile(policy, labPolicyText(
                          "  - {name: b, priority: 1, match: {ip_proto: udp, dst_port: 7002}, stages: [{deliver: {vf: 1}}]}\n"));
  ASSERT_TRUE(d.waitForLog("policy generation 2 in force", 3s)) << d.log();
  EXPECT_TRUE(reaches(1, 7002, "second-policy"));
  EXPECT_FALSE(reaches(0, 7001, "first-policy-gone"));

  // Line 4, column 47: the misspelled protocol.
  replaceFile(policy, labPolicyText(
                          "  - {name: c, priority: 1, match: {ip_proto: udpp, dst_port: 7003}, stages: [{deliver: {vf: 2}}]}\n"));
  ASSERT_TRUE(d.waitForLog("new policy refused, generation 2 stays in force: " + policy + ":4:46:", 3s)) << d.log();
  EXPECT_TRUE(reaches(1, 7002, "still-second-policy"));

  // Drift repair after a refused policy keeps applying the last good one.
  hostCmd({"tc", "filter", "del", "dev", "uplink0", "ingress", "pref", "40000"});
  ASSERT_TRUE(timeUntil([] { return hasVfsteerEntry("uplink0"); }, 2s)) << d.log();
  EXPECT_TRUE(reaches(1, 7002, "second-policy-repaired"));

  // SIGHUP reads the file again; the broken content is refused again.
  d.signal(SIGHUP);
  ASSERT_TRUE(d.waitForLog("generation 2 stays in force", 3s, 2)) << d.log();
  d.signal(SIGTERM);
  EXPECT_EQ(d.waitExit(2s), 0);
}

// A Kubernetes ConfigMap volume: policy.yaml → ..data/policy.yaml, and an
// update renames a new "..data" symlink over the old one (the file itself
// is never written).
TEST_F(RunTest, FollowsAConfigMapStyleSymlinkSwap) {
  namespace fs = std::filesystem;
  const fs::path dir = "/tmp/vfsteer-configmap-" + std::to_string(getpid());
  fs::remove_all(dir);
  fs::create_directories(dir / "..v1");
  std::ofstream(dir / "..v1" / "policy.yaml") << labPolicyText(kDeliver7001);
  fs::create_directory_symlink("..v1", dir / "..data");
  fs::create_symlink("..data/policy.yaml", dir / "policy.yaml");
  RunningDaemon d({"-f", (dir / "policy.yaml").string()});
  ASSERT_TRUE(d.waitForLog("keeping " + labInstance(), 10s)) << d.log();

  fs::create_directories(dir / "..v2");
  std::ofstream(dir / "..v2" / "policy.yaml") << labPolicyText(
      "  - {name: b, priority: 1, match: {ip_proto: udp, dst_port: 7002}, stages: [{deliver: {vf: 1}}]}\n");
  fs::create_directory_symlink("..v2", dir / "..data_tmp");
  fs::rename(dir / "..data_tmp", dir / "..data");
  EXPECT_TRUE(d.waitForLog("policy generation 2 in force", 3s)) << d.log();
  EXPECT_TRUE(reaches(1, 7002, "configmap-policy"));
  d.signal(SIGTERM);
  EXPECT_EQ(d.waitExit(2s), 0);
  fs::remove_all(dir);
}

TEST_F(RunTest, ABurstOfLinkFlapsIsABoundedNumberOfReconcilesWithTheRightEndState) {
  // The chain from VF 2 puts vfsteer's entry on pf0vf2, so its flaps concern us.
  const std::string policy = writeLabPolicy(
      "  - {name: out2, priority: 1, match: {from: {vf: 2}}, stages: [{deliver: uplink}]}\n");
  RunningDaemon d({"-f", policy, "-v"});
  ASSERT_TRUE(d.waitForLog("keeping " + labInstance(), 10s)) << d.log();
  ASSERT_TRUE(hasVfsteerEntry("pf0vf2"));
  const std::string batch = "/tmp/vfsteer-flaps-" + std::to_string(getpid());
  {
    std::ofstream b(batch);
    for (int i = 0; i < 1000; ++i) b << "link set dev pf0vf2 down\nlink set dev pf0vf2 up\n";
  }
  const auto start = Clock::now();
  auto r = runProgram({"/usr/sbin/ip", "-n", labNetns("host"), "-batch", batch});
  std::filesystem::remove(batch);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto flapping = Clock::now() - start;
  EXPECT_LT(flapping, 5s) << "1,000 flaps took longer than the test means";
  std::this_thread::sleep_for(1500ms);  // past the scheduler's maxDelay
  const size_t reconciles = d.count("reconcile (kernel)") + d.count("repaired (kernel)");
  // One per maxDelay (1 s) of flapping, plus the follow-up of each: far
  // fewer than the 2,000 notifications.
  const auto bound = 2 * (std::chrono::duration_cast<std::chrono::seconds>(flapping).count() + 2);
  EXPECT_GE(reconciles, 1u) << d.log();
  EXPECT_LE(reconciles, static_cast<size_t>(bound)) << d.log();
  EXPECT_TRUE(hasVfsteerEntry("pf0vf2"));
  auto link = runProgram({"/usr/sbin/ip", "-n", labNetns("host"), "link", "show", "dev", "pf0vf2"});
  EXPECT_NE(link.out.find(",UP"), std::string::npos) << link.out;
  d.signal(SIGTERM);
  EXPECT_EQ(d.waitExit(2s), 0);
}

TEST_F(RunTest, SigtermLeavesTheSteeringAndSigkillMidReconcileConvergesOnRestart) {
  const std::string policy = writeLabPolicy(kDeliver7001);
  {
    RunningDaemon d({"-f", policy});
    ASSERT_TRUE(d.waitForLog("keeping " + labInstance(), 10s)) << d.log();
    const std::string applied = labSnapshot();
    const auto start = Clock::now();
    d.signal(SIGTERM);
    ASSERT_EQ(d.waitExit(2s), 0) << d.log();
    EXPECT_LT(Clock::now() - start, 2s);
    EXPECT_NE(d.log().find("stays in place"), std::string::npos) << d.log();
    const std::string after = labSnapshot();
    EXPECT_TRUE(after == applied) << "SIGTERM changed the kernel: " << firstDifference(after, applied);
  }
  {
    RunningDaemon d({"-f", policy});
    ASSERT_TRUE(d.waitForLog("keeping " + labInstance(), 10s)) << d.log();
    hostCmd({"tc", "qdisc", "del", "dev", "uplink0", "clsact"});
    // Killed somewhere in the repair: after its 25 ms settle time, within
    // the few milliseconds the repair takes.
    std::this_thread::sleep_for(std::chrono::milliseconds(25 + getpid() % 10));
    d.signal(SIGKILL);
    EXPECT_EQ(d.waitExit(2s), -1);
  }
  RunningDaemon d({"-f", policy});
  ASSERT_TRUE(d.waitForLog("keeping " + labInstance(), 10s)) << d.log();
  d.signal(SIGTERM);
  ASSERT_EQ(d.waitExit(2s), 0);
  auto r = vfsteerCli({"apply", "-f", policy});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("nothing to change"), std::string::npos) << "the restarted run did not converge:\n" << r.out;
  EXPECT_TRUE(reaches(0, 7001, "after-restart"));
}

TEST_F(RunTest, TeardownOnExitRemovesTheSteeringAtSigterm) {
  const std::string before = labSnapshot();
  RunningDaemon d({"-f", writeLabPolicy(kDeliver7001), "--teardown-on-exit"});
  ASSERT_TRUE(d.waitForLog("keeping " + labInstance(), 10s)) << d.log();
  ASSERT_TRUE(hasVfsteerEntry("uplink0"));
  d.signal(SIGINT);
  ASSERT_EQ(d.waitExit(2s), 0) << d.log();
  EXPECT_NE(d.log().find("removed the steering of " + labInstance()), std::string::npos) << d.log();
  const std::string after = labSnapshot();
  EXPECT_TRUE(after == before) << "teardown left a trace: " << firstDifference(after, before);
}

TEST_F(RunTest, ASecondRunAnApplyAndATeardownMeetTheKeeper) {
  const std::string policy = writeLabPolicy(kDeliver7001);
  RunningDaemon d({"-f", policy});
  ASSERT_TRUE(d.waitForLog("keeping " + labInstance(), 10s)) << d.log();
  const std::string before = labSnapshot();

  RunningDaemon second({"-f", policy});
  EXPECT_EQ(second.waitExit(5s), 1);
  EXPECT_NE(second.log().find("another vfsteer run (pid " + std::to_string(d.pid()) + ", policy " + policy +
                              ") keeps " + labInstance()),
            std::string::npos)
      << second.log();

  auto r = vfsteerCli({"apply", "-f", writeLabPolicy(
                                          "  - {name: z, priority: 1, match: {ip_proto: tcp}, stages: [{deliver: {vf: 3}}]}\n")});
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.err.find(labInstance() + " is kept by vfsteer run (pid " + std::to_string(d.pid()) + ")"),
            std::string::npos)
      << r.err;
  r = vfsteerCli({"teardown", "--instance", labInstance()});
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.err.find("is kept by vfsteer run"), std::string::npos) << r.err;
  r = vfsteerCli({"apply", "--dry-run", "-f", policy});
  EXPECT_EQ(r.status, 0) << "a dry run changes nothing, so it is allowed: " << r.err;
  const std::string after = labSnapshot();
  EXPECT_TRUE(after == before) << firstDifference(after, before);
  d.signal(SIGTERM);
  ASSERT_EQ(d.waitExit(2s), 0);
  EXPECT_FALSE(std::filesystem::exists("/run/vfsteer/daemons/" + labInstance() + ".pid"))
      << "the pid file goes with the daemon";
}

TEST_F(RunTest, AFirstPolicyThatDoesNotLoadIsAnErrorWithItsPositionAndChangesNothing) {
  const std::string before = labSnapshot();
  const std::string policy = writeLabPolicy(
      "  - {name: a, priority: 1, match: {ip_proto: udp, dst_port: 70001}, stages: [{deliver: {vf: 0}}]}\n");
  RunningDaemon d({"-f", policy});
  EXPECT_EQ(d.waitExit(5s), 1);
  EXPECT_NE(d.log().find(policy + ":4:"), std::string::npos) << d.log();
  // A pipe is refused as apply refuses it, not read forever.
  const std::string fifo = "/tmp/vfsteer-run-fifo-" + std::to_string(getpid());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  RunningDaemon p({"-f", fifo});
  EXPECT_EQ(p.waitExit(5s), 1);
  EXPECT_NE(p.log().find("is not a regular file (a pipe)"), std::string::npos) << p.log();
  std::filesystem::remove(fifo);
  const std::string after = labSnapshot();
  EXPECT_TRUE(after == before) << firstDifference(after, before);
}

// Prometheus text (exposition format 0.0.4): every sample line as
// "name{labels}" → value; a line that is neither a comment nor a sample
// fails the test.
std::map<std::string, double> parsePrometheusText(const std::string& body) {
  static const std::regex kSample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([^ ]+)$)");
  static const std::regex kComment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*$)");
  std::map<std::string, double> out;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || std::regex_match(line, kComment)) continue;
    std::smatch m;
    if (!std::regex_match(line, m, kSample)) {
      ADD_FAILURE() << "not Prometheus text: " << line;
      continue;
    }
    out[m[1].str() + m[2].str()] = m[3].str() == "Nan" ? 0 : std::stod(m[3].str());
  }
  return out;
}

std::map<std::string, double> scrape(int port) {
  auto r = runProgram({"/usr/bin/curl", "-sf", "http://127.0.0.1:" + std::to_string(port) + "/metrics"});
  EXPECT_EQ(r.status, 0) << r.err;
  return parsePrometheusText(r.out);
}

TEST_F(RunTest, MetricsCountTheFramesSentAndShowARefusedPolicy) {
  const std::string policy = writeLabPolicy(kDeliver7001);
  const int port = 20000 + getpid() % 20000;
  RunningDaemon d({"-f", policy, "--metrics", "127.0.0.1:" + std::to_string(port)});
  ASSERT_TRUE(d.waitForLog("keeping " + labInstance(), 10s)) << d.log();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(reaches(0, 7001, "counted-" + std::to_string(i)));
  auto m = scrape(port);
  EXPECT_EQ(m["vfsteer_policy_generation"], 1);
  EXPECT_EQ(m["vfsteer_kernel_read_ok"], 1);
  EXPECT_EQ(m["vfsteer_chain_packets_total{chain=\"a\"}"], 5) << "the frames sent";
  EXPECT_EQ(m["vfsteer_chain_bytes_total{chain=\"a\"}"], 5 * 60) << "51-byte frames, padded to Ethernet's 60";
  EXPECT_EQ(m["vfsteer_stage_packets_total{chain=\"a\",stage=\"0\"}"], 5);
  EXPECT_EQ(m["vfsteer_policy_file_refused"], 0);
  EXPECT_GT(m["vfsteer_last_success_timestamp_seconds"], 1.7e9);

  hostCmd({"tc", "filter", "del", "dev", "uplink0", "ingress", "pref", "40000"});
  ASSERT_TRUE(timeUntil([] { return hasVfsteerEntry("uplink0"); }, 2s)) << d.log();
  ASSERT_TRUE(d.waitForLog("repaired", 1s));
  m = scrape(port);
  EXPECT_EQ(m["vfsteer_drift_repairs_total{kind=\"host_entry\"}"], 1) << d.log();
  EXPECT_GE(m["vfsteer_reconciles_total{trigger=\"kernel\"}"], 1);

  replaceFile(policy, labPolicyText("  - {name: a, priority: 1, match: {ip_proto: udpp}, stages: [drop]}\n"));
  ASSERT_TRUE(d.waitForLog("new policy refused", 3s)) << d.log();
  m = scrape(port);
  EXPECT_EQ(m["vfsteer_policy_file_refused"], 1);
  EXPECT_EQ(m["vfsteer_policy_rejections_total"], 1);
  EXPECT_EQ(m["vfsteer_policy_generation"], 1);
  const auto start = Clock::now();
  d.signal(SIGTERM);
  EXPECT_EQ(d.waitExit(2s), 0);
  EXPECT_LT(Clock::now() - start, 2s) << "with the metrics server running";
}

}  // namespace
}  // namespace vfsteer::testing
