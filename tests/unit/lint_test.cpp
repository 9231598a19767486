// Warnings for valid but almost certainly wrong policies: each kind on a
// policy that has it, none on the examples, and `covers` checked against
// the reference interpreter (what it claims covered, the interpreter never
// sees matched by one and not the other).
#include <gtest/gtest.h>

#include "generators.hpp"
#include "vfsteer/demux/interpreter.hpp"
#include "vfsteer/demux/lint.hpp"
#include "vfsteer/demux/splitter.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::demux {
namespace {

policies::Profile mlx5() {
  auto p = policies::loadProfileFile(std::string(VFSTEER_SOURCE_DIR) + "/profiles/mlx5.yaml");
  EXPECT_TRUE(p.ok());
  return *p;
}

std::vector<Warning> warningsFor(const std::string& yaml, const LintOptions& options = {}) {
  auto policy = policies::loadPolicyText(yaml, "p.yaml");
  EXPECT_TRUE(policy.ok()) << policy.error().message();
  auto plan = demux::plan(*policy, mlx5(), {});
  EXPECT_TRUE(plan.ok());
  return lint(*policy, *plan, options);
}

std::string messages(const std::vector<Warning>& warnings) {
  std::string out;
  for (const auto& w : warnings) out += w.pos.str() + ": " + w.message + "\n";
  return out;
}

TEST(Lint, EachKindOfWarningWithItsPosition) {
  const std::string head = "version: 1\ndevice: {pf: eth0}\nchains:\n";
  LintOptions options;
  options.fileExists = [](const std::string& path) { return path == "/here.o"; };
  auto w = warningsFor(head +
                           "  - {name: udp, priority: 1, match: {ip_proto: udp}, stages: [{deliver: {vf: 0}}]}\n"
                           "  - {name: dns, priority: 2, match: {ip_proto: udp, dst_port: 53}, stages: [{mirror: {vf: 1}}, {deliver: {vf: 1}}]}\n"
                           "  - {name: ssh, priority: 3, offload: skip-sw, match: {ip_proto: tcp, dst_port: 22}, stages: [{bpf: {object: /gone.o, program: x}}, {deliver: {vf: 2}}]}\n"
                           "  - {name: ok, priority: 4, match: {ip_proto: tcp, dst_port: 23}, stages: [{bpf: {object: /here.o, program: x}}, {deliver: {vf: 2}}]}\n",
                       options);
  const std::string all = messages(w);
  ASSERT_EQ(w.size(), 5u) << all;
  EXPECT_EQ(w[0].chain, "udp");
  EXPECT_NE(w[0].message.find("no device.vfs section"), std::string::npos) << all;
  EXPECT_EQ(w[0].pos.str(), "p.yaml:4:63") << "at the stage";
  EXPECT_EQ(w[1].message, "chain dns: can never match: chain udp (priority 1) comes first and matches every packet this one does");
  EXPECT_EQ(w[1].pos.str(), "p.yaml:5:37") << "at the match";
  EXPECT_EQ(w[2].message, "chain dns: mirrors to vf1 and delivers to it too: vf1 gets every packet twice");
  EXPECT_NE(w[3].message.find("bpf object /gone.o does not exist"), std::string::npos) << all;
  EXPECT_NE(w[4].message.find("chain ssh: is skip-sw, but only its match runs in the NIC"), std::string::npos) << all;
}

TEST(Lint, NoWarningWhereNothingIsWrong) {
  const std::string head = "version: 1\ndevice: {pf: eth0, vfs: {count: 4}}\nchains:\n";
  // A broader chain after a narrower one is the usual shape, not a mistake;
  // mirroring to one VF and delivering to another is fine.
  auto w = warningsFor(head +
                       "  - {name: dns, priority: 1, match: {ip_proto: udp, dst_port: 53}, stages: [{mirror: {vf: 1}}, {deliver: {vf: 0}}]}\n"
                       "  - {name: udp, priority: 2, match: {ip_proto: udp}, stages: [{deliver: {vf: 2}}]}\n"
                       "  - {name: v100, priority: 3, match: {vlan: 100, ip_proto: udp}, stages: [vlan_pop, {deliver: {vf: 3}}]}\n");
  EXPECT_TRUE(w.empty()) << messages(w);
  for (const char* example : {"/examples/basic.yaml", "/examples/lab.yaml"}) {
    auto policy = policies::loadPolicyFile(std::string(VFSTEER_SOURCE_DIR) + example);
    ASSERT_TRUE(policy.ok());
    auto plan = demux::plan(*policy, mlx5(), {});
    ASSERT_TRUE(plan.ok());
    EXPECT_TRUE(lint(*policy, *plan).empty()) << example << ":\n" << messages(lint(*policy, *plan));
  }
}

TEST(Lint, ShadowingSearchPastItsBudgetSaysWhereItStopped) {
  std::string yaml = "version: 1\ndevice: {pf: eth0, vfs: {count: 4}}\nchains:\n";
  for (int k = 1; k <= 40; ++k)
    yaml += "  - {name: c" + std::to_string(k) + ", priority: " + std::to_string(k) + ", match: {dst_ip: 10.0." +
            std::to_string(k) + ".0/24}, stages: [drop]}\n";
  LintOptions options;
  options.maxShadowComparisons = 100;  // chains 1..k compare with k-1 others: past 100 at the 16th
  auto w = warningsFor(yaml, options);
  ASSERT_EQ(w.size(), 1u) << messages(w);
  EXPECT_EQ(w[0].chain, "");
  EXPECT_EQ(w[0].message, "chains from c16 on (in priority order) were not checked for being shadowed: too many "
                          "chains without a dst_port to compare pairwise");
  EXPECT_EQ(w[0].pos.line, 19);
}

TEST(Lint, CoversIsNeverContradictedByTheInterpreter) {
  int coveringPairs = 0, witnesses = 0, untagged = 0;
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    testing::Generator g(seed);
    auto policy = policies::loadPolicyText(g.policyYaml(10, 4), "gen.yaml");
    if (!policy.ok()) continue;
    const auto& chains = policy->chains;
    for (const auto& c : chains) untagged += c.match.untagged;
    std::vector<Packet> packets;
    for (int k = 0; k < 300; ++k) packets.push_back(g.packet(*policy));
    for (const auto& a : chains)
      for (const auto& b : chains) {
        if (&a == &b || !covers(a.match, b.match)) continue;
        ++coveringPairs;
        for (const auto& p : packets) {
          if (!matches(b.match, p)) continue;
          ++witnesses;
          EXPECT_TRUE(matches(a.match, p)) << "seed " << seed << ": " << a.name << " (" << a.match.describe()
                                           << ") is said to cover " << b.name << " (" << b.match.describe() << ")";
        }
      }
  }
  EXPECT_GT(coveringPairs, 50);
  EXPECT_GT(witnesses, 1000);
  EXPECT_GT(untagged, 100) << "the generator writes vlan: none";
}

}  // namespace
}  // namespace vfsteer::demux
