// Crash convergence: `vfsteer apply` of a large policy (over 5,000 host
// rules) dies by SIGKILL just before one of its kernel writes — chosen, not
// timed, so every run covers the same points: each kind of write — from
// nothing and in the middle of a policy change. The next apply must converge
// to exactly what an uninterrupted apply makes, and a teardown must leave no
// trace.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

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

// Runs crash_apply POLICY K (from the repository root: the policies name
// files relative to it). Returns its exit status, or -SIGNAL when a signal
// ended it; `out` gets its standard output.
int crashApply(const std::string& policy, int k, std::string* out = nullptr) {
  const std::string outFile = "/tmp/vfsteer-crash-" + std::to_string(getpid()) + ".out";
  std::vector<std::string> argv{VFSTEER_CRASH_APPLY, policy, std::to_string(k)};
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, outFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(VFSTEER_SOURCE_DIR);
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  std::filesystem::current_path(cwd);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ADD_FAILURE() << "spawn " << argv[0] << ": " << std::strerror(rc);
    return -1;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (out) {
    std::ifstream in(outFile);
    *out = std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  std::filesystem::remove(outFile);
  return WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The points to stop at: every write of a kind that occurs a few times
// (the datapath's load, the table switch, each batch of qdiscs and
// entries...), and every 250th of the thousands of counter resets.
std::vector<int> killPoints(const std::vector<std::string>& writes) {
  std::vector<int> out;
  int counters = 0;
  for (size_t i = 0; i < writes.size(); ++i) {
    const bool counter = writes[i].rfind("map write, counters", 0) == 0;
    if (!counter || counters++ % 250 == 0) out.push_back(static_cast<int>(i) + 1);
  }
  return out;
}

class CrashTest : public LabTest {};

TEST_F(CrashTest, SigkillBeforeEachKindOfWriteThenApplyConvergesAndTeardownLeavesNoTrace) {
  const std::string big = bigPolicy(), small = smallPolicy();
  ASSERT_EQ(vfsteerCli({"teardown", "--instance", labInstance()}).status, 0);
  const std::string clean = labSnapshot();

  // What an uninterrupted apply makes, from nothing and from the small
  // policy, and the writes it makes to get there.
  std::string out;
  ASSERT_EQ(crashApply(big, 0, &out), 0);
  const auto fromNothingWrites = lines(out);
  const std::string fromNothing = labSnapshot();
  ASSERT_NE(fromNothing.find("5208 rules"), std::string::npos) << "2,604 chains on IPv4 and IPv6";
  ASSERT_EQ(vfsteerCli({"teardown", "--instance", labInstance()}).status, 0);
  ASSERT_EQ(vfsteerCli({"apply", "-f", small}).status, 0);
  ASSERT_EQ(crashApply(big, 0, &out), 0);
  const auto changeWrites = lines(out);
  const std::string fromSmall = labSnapshot();
  ASSERT_EQ(vfsteerCli({"teardown", "--instance", labInstance()}).status, 0);
  ASSERT_TRUE(labSnapshot() == clean) << firstDifference(labSnapshot(), clean);

  int rounds = 0, halfDone = 0, journals = 0;
  for (const bool change : {false, true}) {
    const auto& writes = change ? changeWrites : fromNothingWrites;
    const std::string& want = change ? fromSmall : fromNothing;
    for (int k : killPoints(writes)) {
      const std::string where = std::string(change ? "policy change" : "first apply") + ", killed before write " +
                                std::to_string(k) + " of " + std::to_string(writes.size()) + " (" + writes[k - 1] + ")";
      if (change) {
        ASSERT_EQ(vfsteerCli({"apply", "-f", small}).status, 0);
      }
      const std::string before = labSnapshot();
      ASSERT_EQ(crashApply(big, k), -SIGKILL) << where;
      ++rounds;
      const std::string killed = labSnapshot();
      halfDone += killed != before && killed != want;
      journals += std::filesystem::exists(labStateDir() + "/journal.json");
      auto again = vfsteerCli({"apply", "-f", big});
      ASSERT_EQ(again.status, 0) << where << ": " << again.err;
      const std::string now = labSnapshot();
      ASSERT_TRUE(now == want) << where << ": did not converge: " << firstDifference(now, want);
      auto down = vfsteerCli({"teardown", "--instance", labInstance()});
      ASSERT_EQ(down.status, 0) << where << ": " << down.err;
      const std::string after = labSnapshot();
      ASSERT_TRUE(after == clean) << where << ": teardown left a trace: " << firstDifference(after, clean);
    }
  }
  std::printf("%d SIGKILLs at chosen writes (of %zu and %zu): %d left the kernel half changed, %d a journal; every "
              "next apply converged and every teardown left no trace\n",
              rounds, fromNothingWrites.size(), changeWrites.size(), halfDone, journals);
  // Every stop but those before the first write finds the kernel changed.
  EXPECT_GE(halfDone, rounds - 2);
  EXPECT_GT(journals, 0);
}

}  // namespace
}  // namespace vfsteer::testing
