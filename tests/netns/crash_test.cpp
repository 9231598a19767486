// Crash convergence: `vfsteer apply` of a large policy (over 5,000 host
// rules) is killed with SIGKILL at random moments, from nothing and in the
// middle of a policy change. The next apply must converge to exactly what an
// uninterrupted apply makes, and a teardown must leave no trace.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "lab_fixture.hpp"

extern char** environ;

namespace vfsteer::testing {
namespace {

// 2,600 chains keyed on a UDP port, on IPv4 and IPv6 (two rules each), and
// one chain from each VF (the representors get the datapath too).
std::string bigPolicy() {
  std::string chains;
  for (int k = 1; k <= 2600; ++k)
    chains += "  - {name: c" + std::to_string(k) + ", priority: " + std::to_string(k) +
              ", match: {ip_proto: udp, dst_port: " + std::to_string(10000 + k) + "}, stages: [{deliver: {vf: " +
              std::to_string(k % 4) + "}}]}\n";
  for (int v = 0; v < 4; ++v)
    chains += "  - {name: out" + std::to_string(v) + ", priority: 1, match: {from: {vf: " + std::to_string(v) +
              "}, ip_proto: tcp}, stages: [{mark: " + std::to_string(v + 1) + "}, {deliver: uplink}]}\n";
  return writeLabPolicy(chains);
}

std::string smallPolicy() {
  return writeLabPolicy(
      "  - {name: a1, priority: 1, match: {ip_proto: udp, dst_port: 53}, stages: [{bpf: {object: examples/bpf/count.bpf.o, "
      "program: count}}, {deliver: {vf: 2}}]}\n"
      "  - {name: a2, priority: 2, match: {vlan: 100}, stages: [vlan_pop, {deliver: {vf: 0}}]}\n"
      "  - {name: a3, priority: 1, match: {from: {vf: 1}}, stages: [{deliver: uplink}]}\n");
}

// Starts `vfsteer apply -f POLICY` and kills it after `delay`. Returns true
// when it was still running (killed mid-way).
bool applyAndKill(const std::string& policy, std::chrono::microseconds delay) {
  std::vector<std::string> argv{VFSTEER_BINARY, "apply", "-f", policy};
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(VFSTEER_SOURCE_DIR);
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  std::filesystem::current_path(cwd);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ADD_FAILURE() << "spawn " << argv[0] << ": " << std::strerror(rc);
    return false;
  }
  std::this_thread::sleep_for(delay);
  const bool running = waitpid(pid, nullptr, WNOHANG) == 0;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return running;
}

class CrashTest : public LabTest {};

TEST_F(CrashTest, SigkillAtRandomPointsThenApplyConvergesAndTeardownLeavesNoTrace) {
  const std::string big = bigPolicy(), small = smallPolicy();
  ASSERT_EQ(vfsteerCli({"teardown"}).status, 0);
  const std::string clean = labSnapshot();

  // What an uninterrupted apply makes, from nothing and from the small
  // policy, and how long it takes.
  auto start = std::chrono::steady_clock::now();
  auto r = vfsteerCli({"apply", "-f", big});
  const auto duration = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string fromNothing = labSnapshot();
  ASSERT_NE(fromNothing.find("5208 rules"), std::string::npos) << "2,604 chains on IPv4 and IPv6";
  ASSERT_EQ(vfsteerCli({"teardown"}).status, 0);
  ASSERT_EQ(vfsteerCli({"apply", "-f", small}).status, 0);
  ASSERT_EQ(vfsteerCli({"apply", "-f", big}).status, 0);
  const std::string fromSmall = labSnapshot();
  ASSERT_EQ(vfsteerCli({"teardown"}).status, 0);
  ASSERT_TRUE(labSnapshot() == clean) << firstDifference(labSnapshot(), clean);

  std::mt19937_64 rng(0x5eed);
  const auto span = std::chrono::duration_cast<std::chrono::microseconds>(duration);
  std::uniform_int_distribution<long> when(0, span.count());
  int killedMidway = 0, halfDone = 0, journals = 0;
  constexpr int kRounds = 80;
  for (int i = 0; i < kRounds; ++i) {
    const bool change = i % 2 == 1;
    if (change) {
      ASSERT_EQ(vfsteerCli({"apply", "-f", small}).status, 0);
    }
    const std::string before = labSnapshot();
    killedMidway += applyAndKill(big, std::chrono::microseconds(when(rng)));
    const std::string killed = labSnapshot();
    halfDone += killed != before && killed != (change ? fromSmall : fromNothing);
    journals += std::filesystem::exists(std::string("/run/vfsteer/") + kLabInstance + "/journal.json");
    auto again = vfsteerCli({"apply", "-f", big});
    ASSERT_EQ(again.status, 0) << "round " << i << ": " << again.err;
    const std::string now = labSnapshot(), want = change ? fromSmall : fromNothing;
    ASSERT_TRUE(now == want) << "round " << i << " did not converge: " << firstDifference(now, want);
    auto down = vfsteerCli({"teardown"});
    ASSERT_EQ(down.status, 0) << down.err;
    const std::string after = labSnapshot();
    ASSERT_TRUE(after == clean) << "round " << i << ": teardown left a trace: " << firstDifference(after, clean);
  }
  std::printf("%d SIGKILLs: %d while the apply ran, %d left the kernel half changed, %d left a journal; "
              "every next apply converged and every teardown left no trace\n",
              kRounds, killedMidway, halfDone, journals);
  EXPECT_GE(killedMidway, 50);
  EXPECT_GE(halfDone, 10) << "too few kills landed while the kernel was being changed";
}

}  // namespace
}  // namespace vfsteer::testing
