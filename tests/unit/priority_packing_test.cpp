// The tc layout inside a profile's priority range (hardware.tc_priorities).
// The golden-rule property test checks the packed layouts of random
// profiles against the whole-chain interpreter; these pin the layout itself.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <tuple>

#include "generators.hpp"
#include "vfsteer/demux/overlap.hpp"
#include "vfsteer/demux/splitter.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::demux {
namespace {

using policies::IpVersion;
using policies::Policy;
using policies::Profile;

Profile mlx5WithRange(int priorities) {
  auto p = policies::loadProfileFile(std::string(VFSTEER_SOURCE_DIR) + "/profiles/mlx5.yaml");
  EXPECT_TRUE(p.ok()) << p.error().describe();
  p->tcPriorities = priorities;
  return *p;
}

Policy policyText(const std::string& chains) {
  auto p = policies::loadPolicyText("version: 1\ndevice: {pf: eth0, vfs: {count: 4}}\nchains:\n" + chains, "t.yaml");
  EXPECT_TRUE(p.ok()) << p.error().describe();
  return *p;
}

// The (tc priority, handle) of each chain's rules, by IP version.
struct Layout {
  std::map<std::pair<std::string, IpVersion>, std::pair<uint16_t, uint32_t>> rules;
  std::pair<uint16_t, uint32_t> at(const std::string& chain, IpVersion l3 = IpVersion::kV4) const {
    auto it = rules.find({chain, l3});
    return it == rules.end() ? std::pair<uint16_t, uint32_t>{0, 0} : it->second;
  }
  uint16_t priority(const std::string& chain) const { return at(chain).first; }
};

Layout layout(const Policy& policy, const Plan& plan) {
  Layout out;
  for (const auto& r : plan.nicRules) out.rules[{policy.chains[r.chain].name, r.l3}] = {r.tcPriority, r.tcHandle};
  return out;
}

TEST(PriorityPacking, ChainsThatCannotMeetShareOnePriorityPerProtocol) {
  std::string chains;
  for (int i = 1; i <= 40; ++i)
    chains += "  - {name: p" + std::to_string(i) + ", priority: " + std::to_string(i) +
              ", match: {dst_ip: 10.0.0.0/8, ip_proto: tcp, dst_port: " + std::to_string(1000 + i) +
              "}, stages: [{deliver: {vf: 1}}]}\n";
  chains += "  - {name: six, priority: 50, match: {dst_ip: \"2001:db8::/32\", ip_proto: udp, dst_port: 53}, "
            "stages: [{deliver: {vf: 2}}]}\n";
  const Policy policy = policyText(chains);
  auto plan = demux::plan(policy, mlx5WithRange(16));
  ASSERT_TRUE(plan.ok()) << plan.error().describe();
  auto l = layout(policy, *plan);
  ASSERT_EQ(l.rules.size(), 41u);
  using Placed = std::pair<uint16_t, uint32_t>;
  for (int i = 1; i <= 40; ++i) EXPECT_EQ(l.at("p" + std::to_string(i)), Placed(1, 2 * i));
  // tc binds priority 1 to IPv4: the IPv6 rule takes the next.
  EXPECT_EQ(l.at("six", IpVersion::kV6), Placed(2, 101));
  for (const auto& c : plan->chains) EXPECT_TRUE(c.demuxInNic) << c.name << ": " << c.reason;
}

TEST(PriorityPacking, ChainsThatMayMeetKeepTheirOrderInRisingPriorities) {
  const Policy policy = policyText(
      "  - {name: web, priority: 10, match: {dst_ip: 10.0.0.0/8, ip_proto: tcp, dst_port: 80}, stages: [drop]}\n"
      "  - {name: tcp, priority: 20, match: {dst_ip: 10.0.0.0/8, ip_proto: tcp}, stages: [{deliver: {vf: 1}}]}\n"
      "  - {name: dns, priority: 30, match: {dst_ip: 10.0.0.0/8, ip_proto: udp, dst_port: 53}, stages: [drop]}\n"
      "  - {name: net, priority: 40, match: {dst_ip: 10.1.0.0/16}, stages: [{deliver: {vf: 2}}]}\n"
      "  - {name: vf0, priority: 50, match: {from: {vf: 0}, dst_ip: 10.1.0.0/16}, stages: [{deliver: uplink}]}\n");
  auto plan = demux::plan(policy, mlx5WithRange(16));
  ASSERT_TRUE(plan.ok()) << plan.error().describe();
  auto l = layout(policy, *plan);
  EXPECT_EQ(l.priority("web"), 1);
  EXPECT_EQ(l.priority("tcp"), 2);  // may take port 80
  EXPECT_EQ(l.priority("dns"), 1);  // udp: meets neither
  EXPECT_EQ(l.priority("net"), 3);  // may take all three
  EXPECT_EQ(l.priority("vf0"), 1);  // another side: another device
}

TEST(PriorityPacking, ChainsPastTheRangeMoveToTheHostAndTheChainsThatMustFollowThem) {
  const Policy policy = policyText(
      "  - {name: a, priority: 10, match: {dst_ip: 10.0.0.0/8, ip_proto: tcp, dst_port: 80}, stages: [drop]}\n"
      "  - {name: b, priority: 20, match: {dst_ip: 10.0.0.0/8, ip_proto: tcp}, stages: [drop]}\n"
      "  - {name: c, priority: 30, match: {dst_ip: 10.0.0.0/8}, stages: [{deliver: {vf: 1}}]}\n"
      "  - {name: d, priority: 40, match: {dst_ip: 10.2.0.0/16, ip_proto: udp}, stages: [{deliver: {vf: 2}}]}\n"
      "  - {name: e, priority: 50, match: {dst_ip: 192.0.2.0/24}, stages: [{deliver: {vf: 3}}]}\n");
  auto plan = demux::plan(policy, mlx5WithRange(2));
  ASSERT_TRUE(plan.ok()) << plan.error().describe();
  auto l = layout(policy, *plan);
  EXPECT_EQ(l.priority("a"), 1);
  EXPECT_EQ(l.priority("b"), 2);
  EXPECT_EQ(l.priority("e"), 1);
  EXPECT_EQ(l.priority("c"), 0);
  EXPECT_EQ(l.priority("d"), 0);
  EXPECT_FALSE(plan->chains[2].demuxInNic);
  EXPECT_EQ(plan->chains[2].reason,
            "profile mlx5 takes NIC rules at tc priorities 1..2 only, and the chains before this one that may "
            "match the same packets (or hold those priorities for another protocol) use them all");
  // d would fit at 1, but c, on the host now, may take its packets first.
  EXPECT_FALSE(plan->chains[3].demuxInNic);
  EXPECT_NE(plan->chains[3].reason.find("chain c (priority 30) runs on the host only"), std::string::npos)
      << plan->chains[3].reason;
}

TEST(PriorityPacking, SkipSwChainPastTheRangeIsAnError) {
  const Policy policy = policyText(
      "  - {name: a, priority: 10, match: {ip_proto: tcp, dst_port: 80}, stages: [drop]}\n"
      "  - {name: b, priority: 20, offload: skip-sw, match: {ip_proto: tcp}, stages: [drop]}\n");
  auto plan = demux::plan(policy, mlx5WithRange(1));
  ASSERT_TRUE(plan.ok()) << plan.error().describe();
  ASSERT_EQ(plan->errors.size(), 1u);
  EXPECT_NE(plan->errors[0].message.find("tc priorities 1..1 only"), std::string::npos) << plan->errors[0].message;
}

// Over random policies: every rule within the range, one protocol per
// priority and side, a handle of its own there, and any two rules that may
// meet ordered as their chains are.
TEST(PriorityPacking, RandomPoliciesGetAValidLayout) {
  ::vfsteer::testing::Generator gen(777);
  int shared = 0;
  for (int round = 0; round < 300; ++round) {
    auto policy = policies::loadPolicyText(gen.policyYaml(24, 4), "random.yaml");
    ASSERT_TRUE(policy.ok()) << policy.error().describe();
    const int range = 1 + gen.pick(6);
    auto plan = demux::plan(*policy, mlx5WithRange(range));
    ASSERT_TRUE(plan.ok()) << plan.error().describe();
    std::map<std::pair<policies::Port, uint16_t>, uint16_t> protocolAt;
    std::set<std::tuple<policies::Port, uint16_t, uint32_t>> handles;
    const auto& rules = plan->nicRules;
    for (size_t i = 0; i < rules.size(); ++i) {
      const auto& r = rules[i];
      const auto& m = policy->chains[r.chain].match;
      ASSERT_GE(r.tcPriority, 1);
      ASSERT_LE(r.tcPriority, range);
      auto [at, fresh] = protocolAt.emplace(std::pair{r.from, r.tcPriority}, m.tcProtocol(r.l3));
      EXPECT_EQ(at->second, m.tcProtocol(r.l3)) << "two protocols at tc priority " << r.tcPriority;
      shared += !fresh;
      EXPECT_TRUE(handles.emplace(r.from, r.tcPriority, r.tcHandle).second);
      for (size_t j = 0; j < i; ++j) {
        const auto& e = rules[j];
        const bool meet = e.l3 == r.l3 || e.l3 == IpVersion::kNone || r.l3 == IpVersion::kNone;
        if (e.from == r.from && meet && mayOverlap(policy->chains[e.chain].match, m)) {
          EXPECT_LT(e.tcPriority, r.tcPriority) << policy->chains[e.chain].name << " before " << policy->chains[r.chain].name;
        }
      }
    }
  }
  EXPECT_GT(shared, 100) << "the corpus must make rules share priorities to check anything";
}

TEST(PriorityPacking, ProfileRangeIsCheckedWhereItIsWritten) {
  auto p = policies::loadProfileText(
      "name: x\nhardware:\n  engine: flower\n  match: [dst_port]\n  tc_priorities: 0\n", "x.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().describe().find("x.yaml:5:"), std::string::npos) << p.error().describe();
  EXPECT_NE(p.error().describe().find("tc_priorities"), std::string::npos) << p.error().describe();
}

}  // namespace
}  // namespace vfsteer::demux
