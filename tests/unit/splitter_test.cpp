#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "generators.hpp"
#include "vfsteer/demux/overlap.hpp"
#include "vfsteer/demux/splitter.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::demux {
namespace {

using policies::OffloadMode;
using policies::Policy;
using policies::Profile;

const std::string kSource = VFSTEER_SOURCE_DIR;

Profile profileNamed(const std::string& name) {
  auto p = policies::loadProfileFile(kSource + "/profiles/" + name + ".yaml");
  EXPECT_TRUE(p.ok()) << p.error().describe();
  return *p;
}

Policy example() {
  auto p = policies::loadPolicyFile(kSource + "/examples/basic.yaml");
  EXPECT_TRUE(p.ok()) << p.error().describe();
  return *p;
}

Policy policyText(const std::string& chains, int vfs = 4) {
  auto p = policies::loadPolicyText(
      "version: 1\ndevice: {pf: eth0, vfs: {count: " + std::to_string(vfs) + "}}\nchains:\n" + chains,
      "t.yaml");
  EXPECT_TRUE(p.ok()) << p.error().describe();
  return *p;
}

// ice_setup_tc_cls_flower() has no FLOW_CLS_STATS; the others report stats.
TEST(Profiles, RuleCountersAreClaimedWhereTheDriverReportsThem) {
  EXPECT_FALSE(profileNamed("ice").ruleCounters);
  for (const char* name : {"mlx5", "nfp", "netdevsim", "veth"}) EXPECT_TRUE(profileNamed(name).ruleCounters) << name;
  auto bad = policies::loadProfileText("name: x\nhardware:\n  engine: flower\n  match: [dst_port]\n  rule_counters: 3\n",
                                       "x.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().describe().find("x.yaml:5:"), std::string::npos) << bad.error().describe();
}

TEST(Profiles, AllShippedProfilesLoadAndMapDrivers) {
  auto all = policies::loadProfileDir(kSource + "/profiles");
  ASSERT_TRUE(all.ok()) << all.error().describe();
  EXPECT_TRUE(all->broken.empty()) << all->broken.front().error.describe();
  std::vector<std::string> names;
  for (const auto& p : all->profiles) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"i40e", "ice", "ixgbe-ntuple", "ixgbe", "mlx5", "netdevsim", "nfp", "veth"}));
  for (auto [driver, profile] : {std::pair{"mlx5_core", "mlx5"}, std::pair{"ice", "ice"}, std::pair{"ixgbe", "ixgbe"},
                                 std::pair{"i40e", "i40e"}, std::pair{"nfp", "nfp"}, std::pair{"netdevsim", "netdevsim"},
                                 std::pair{"veth", "veth"}}) {
    auto p = policies::selectProfile(*all, "auto", driver);
    ASSERT_TRUE(p.ok()) << driver;
    EXPECT_EQ(p->name, profile);
  }
  auto unknown = policies::selectProfile(*all, "auto", "virtio_net");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message().find("virtio_net"), std::string::npos);
  auto typo = policies::selectProfile(*all, "mlx4", "");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message().find("did you mean \"mlx5\""), std::string::npos);
}

// One broken profile, or two with one name, do not take the others down:
// only choosing them fails, with their error.
TEST(Profiles, ABrokenProfileFailsOnlyWhenChosen) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("vfsteer-profiles-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(kSource + "/profiles/veth.yaml", dir / "veth.yaml");
  fs::copy_file(kSource + "/profiles/mlx5.yaml", dir / "mlx5.yaml");
  fs::copy_file(kSource + "/profiles/mlx5.yaml", dir / "mlx5-copy.yaml");
  std::ofstream(dir / "ice.yaml") << "name: ice\nbogus: 1\n";
  auto loaded = policies::loadProfileDir(dir.string());
  ASSERT_TRUE(loaded.ok()) << loaded.error().describe();
  EXPECT_EQ(loaded->profiles.size(), 1u);  // veth; mlx5 twice and ice are set aside
  EXPECT_EQ(loaded->broken.size(), 3u);

  auto veth = policies::selectProfile(*loaded, "veth", "");
  ASSERT_TRUE(veth.ok()) << veth.error().describe();
  auto vethAuto = policies::selectProfile(*loaded, "auto", "veth");
  ASSERT_TRUE(vethAuto.ok());
  auto ice = policies::selectProfile(*loaded, "ice", "");
  ASSERT_FALSE(ice.ok());
  EXPECT_NE(ice.error().describe().find("ice.yaml:2:1"), std::string::npos) << ice.error().describe();
  auto mlx5 = policies::selectProfile(*loaded, "mlx5", "");
  ASSERT_FALSE(mlx5.ok());
  EXPECT_NE(mlx5.error().describe().find("is also used by"), std::string::npos) << mlx5.error().describe();
  auto unknown = policies::selectProfile(*loaded, "auto", "virtio_net");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().describe().find("not readable; "), std::string::npos) << unknown.error().describe();
  fs::remove_all(dir);
}

TEST(Profiles, ProvisioningOrderIsData) {
  EXPECT_EQ(profileNamed("ice").provisionOrder, policies::ProvisionOrder::kEswitchFirst);
  EXPECT_FALSE(profileNamed("ice").eswitchChangeWithVfs);
  EXPECT_EQ(profileNamed("mlx5").provisionOrder, policies::ProvisionOrder::kVfsFirst);
  EXPECT_EQ(profileNamed("netdevsim").rateApiSwitchdev, policies::RateApi::kDevlink);
  EXPECT_EQ(profileNamed("netdevsim").rateApiLegacy, policies::RateApi::kRtnetlink);
}

TEST(Profiles, BadProfileNamesThePosition) {
  auto p = policies::loadProfileText("name: x\nhardware:\n  engine: flower\n  match: [dst_mca]\n",
                                     "x.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message().find("x.yaml:4:11"), std::string::npos) << p.error().message();
  EXPECT_NE(p.error().message().find("did you mean \"dst_mac\""), std::string::npos);
}

// A claim's condition (what vfsteer cannot see) is named for the chains
// whose NIC part uses the claim, and only for them; a condition on a claim
// the profile does not make is an error at its position.
TEST(Profiles, ConditionsAreNamedForChainsThatUseTheClaim) {
  auto policy = policyText(R"(  - {name: limit, priority: 10, match: {ip_proto: tcp, dst_port: 443}, stages: [{police: {rate_mbps: 10}}, {deliver: {vf: 0}}]}
  - {name: web, priority: 20, match: {ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 1}}]}
  - {name: slow, priority: 30, offload: skip-hw, match: {ip_proto: tcp, dst_port: 81}, stages: [{police: {rate_mbps: 10}}, {deliver: {vf: 1}}]}
)");
  auto plan = demux::plan(policy, profileNamed("mlx5"));
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->chains[0].conditions.size(), 1u);
  EXPECT_EQ(plan->chains[0].conditions[0].rfind("police: ConnectX-6 Dx or later", 0), 0u) << plan->chains[0].conditions[0];
  EXPECT_TRUE(plan->chains[1].conditions.empty());
  EXPECT_TRUE(plan->chains[2].conditions.empty()) << "its police runs on the host";

  auto bad = policies::loadProfileText(
      "name: x\nhardware:\n  engine: flower\n  match: [dst_mac]\n  conditions: {police: \"new firmware\"}\n", "x.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("x.yaml:5:16: hardware.conditions.police: \"police\" is not a stage, match key or "
                                       "tunnel this profile claims"),
            std::string::npos)
      << bad.error().message();
}

TEST(Splitter, ExampleOnMlx5) {
  auto plan = demux::plan(example(), profileNamed("mlx5"));
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(plan->ok()) << plan->errors[0].message;
  const ChainPlan& web = plan->chains[0];
  EXPECT_EQ(web.handover, Handover::kNone);
  EXPECT_EQ(web.split, 2u);
  EXPECT_EQ(web.stages[0].where, Placement::kNic);

  const ChainPlan& tb = plan->chains[1];
  EXPECT_EQ(tb.handover, Handover::kContinue);
  EXPECT_EQ(tb.split, 1u);
  EXPECT_EQ(tb.reason, "stage 1 queue: profile mlx5 cannot select a receive queue in hardware");
  EXPECT_EQ(tb.stages[1].reason, tb.reason);

  const ChainPlan& inspect = plan->chains[2];
  EXPECT_EQ(inspect.handover, Handover::kContinue);
  EXPECT_EQ(inspect.split, 0u);
  EXPECT_EQ(inspect.reason, "stage 0 bpf: profile mlx5 has no BPF offload for user programs");

  // web: IPv4 only; tenant-b (no inner L3 key): one rule for any protocol;
  // inspect (udp, any IP): v4 + v6.
  ASSERT_EQ(plan->nicRules.size(), 4u);
  EXPECT_EQ(plan->nicRules[0].tcPriority, 10020);
  EXPECT_EQ(plan->nicRules[0].exit, NicExit::kTerminal);
  EXPECT_EQ(plan->nicRules[1].tcPriority, 10040);
  EXPECT_EQ(plan->nicRules[1].l3, IpVersion::kNone);
  EXPECT_EQ(plan->nicRules[1].exit, NicExit::kGotoChain);
  EXPECT_EQ(plan->nicRules[1].gotoTcChain, 0x07660000u + 20);
  EXPECT_EQ(plan->nicRules[2].tcPriority, 10060);
  EXPECT_EQ(plan->nicRules[3].tcPriority, 10061);
  ASSERT_EQ(plan->hostRules.size(), 2u);
  EXPECT_EQ(plan->hostRules[0].entry, HostEntry::kContinuation);
  EXPECT_EQ(plan->hostRules[0].startStage, 1u);
}

TEST(Splitter, ExampleOnVethFailsOnlyTheSkipSwChain) {
  auto plan = demux::plan(example(), profileNamed("veth"));
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->errors.size(), 1u);
  EXPECT_EQ(plan->errors[0].chain, "tenant-b");
  EXPECT_EQ(plan->errors[0].message,
            "chain tenant-b is skip-sw, but no part of it can run in the NIC: profile veth has no "
            "hardware offload");
  EXPECT_EQ(plan->errors[0].pos.line, 16);
  for (const auto& c : plan->chains) EXPECT_EQ(c.handover, Handover::kHostOnly);
  EXPECT_TRUE(plan->nicRules.empty());
  EXPECT_EQ(plan->hostRules.size(), 3u);
}

TEST(Splitter, ExampleOnIceExplainsMissingHandover) {
  auto plan = demux::plan(example(), profileNamed("ice"));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->chains[0].handover, Handover::kHostOnly);
  EXPECT_EQ(plan->chains[0].reason,
            "stage 0 vlan_pop: profile ice cannot pop VLAN tags in hardware; profile ice can "
            "neither continue a chain in software nor hand a matched packet to the host, so the "
            "whole chain runs on the host");
  ASSERT_EQ(plan->errors.size(), 1u);
  EXPECT_NE(plan->errors[0].message.find("stage 0 tunnel_decap: profile ice cannot decapsulate"),
            std::string::npos);
}

TEST(Splitter, OverridesFromTheCommandLine) {
  PlanOptions hw;
  hw.all = OffloadMode::kSkipHw;
  auto plan = demux::plan(example(), profileNamed("mlx5"), hw);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->ok()) << "skip-hw all overrides the policy's skip-sw";
  EXPECT_TRUE(plan->nicRules.empty());
  for (const auto& c : plan->chains) {
    EXPECT_EQ(c.mode, OffloadMode::kSkipHw);
    EXPECT_EQ(c.reason, "offload skip-hw keeps this chain on the host");
  }

  PlanOptions sw;
  sw.chains["inspect"] = OffloadMode::kSkipSw;
  auto onVeth = demux::plan(example(), profileNamed("veth"), sw);
  ASSERT_TRUE(onVeth.ok());
  ASSERT_EQ(onVeth->errors.size(), 2u);
  EXPECT_EQ(onVeth->errors[1].chain, "inspect");

  PlanOptions unknown;
  unknown.chains["nope"] = OffloadMode::kSkipSw;
  auto bad = demux::plan(example(), profileNamed("mlx5"), unknown);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("no chain named \"nope\""), std::string::npos);
}

TEST(Splitter, HostOnlyChainDemotesLaterOverlappingChains) {
  auto policy = policyText(R"(  - {name: slow, priority: 5, offload: skip-hw, match: {ip_proto: udp}, stages: [{deliver: {vf: 0}}]}
  - {name: dns, priority: 10, match: {ip_proto: udp, dst_port: 53}, stages: [{deliver: {vf: 1}}]}
  - {name: web, priority: 20, match: {ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 2}}]}
)");
  auto plan = demux::plan(policy, profileNamed("mlx5"));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->chains[1].handover, Handover::kHostOnly);
  EXPECT_EQ(plan->chains[1].reason,
            "chain slow (priority 5) runs on the host only and may match the same packets; to "
            "keep priority order this chain runs on the host too (it stays in the NIC if the "
            "matches cannot meet, e.g. by a dst_port or vlan of their own, or with a priority "
            "number below 5 if it should come first)");
  EXPECT_EQ(plan->chains[2].handover, Handover::kNone) << "tcp and udp are disjoint";
}

// What the drivers refuse, the plan keeps on the host with the condition in
// its reason (each checked against the VM tier's NIC model).
TEST(Splitter, ProfileConditionsKeepWhatTheDriverRefusesOnTheHost) {
  auto policy = policyText(R"(  - {name: sctp, priority: 10, match: {ip_proto: sctp, dst_port: 38412}, stages: [{deliver: {vf: 0}}]}
  - {name: vf-tunnel, priority: 20, match: {from: {vf: 0}, tunnel: {type: vxlan, vni: 5, dst_ip: 192.0.2.1}}, stages: [tunnel_decap, {deliver: uplink}]}
  - {name: any-dst, priority: 30, match: {tunnel: {type: vxlan, vni: 6}}, stages: [tunnel_decap, {deliver: {vf: 1}}]}
  - {name: two-tags, priority: 40, match: {ip_proto: tcp, dst_port: 80}, stages: [{vlan_push: {id: 5}}, {vlan_push: {id: 6}}, {deliver: {vf: 2}}]}
  - {name: vf-to-vf, priority: 60, match: {from: {vf: 1}, ip_proto: tcp, dst_port: 82}, stages: [{deliver: {vf: 2}}]}
)");
  auto reason = [&](const std::string& profile, size_t chain) {
    auto plan = demux::plan(policy, profileNamed(profile));
    EXPECT_TRUE(plan.ok()) << plan.error().describe();
    return plan.ok() ? std::pair{plan->chains[chain].split, plan->chains[chain].reason} : std::pair{size_t{99}, std::string()};
  };
  for (const char* p : {"mlx5", "ice"})
    EXPECT_EQ(reason(p, 0), (std::pair<size_t, std::string>{0, std::string("ports of sctp: profile ") + p +
                                                                 " matches L4 ports of tcp and udp only"}));
  EXPECT_EQ(reason("nfp", 0).first, 1u) << "nfp matches SCTP ports";
  EXPECT_EQ(reason("mlx5", 1).second,
            "tunnel match on traffic from vf0: NIC tunnel rules see only traffic from the uplink (they sit on the "
            "tunnel device)");
  EXPECT_EQ(reason("nfp", 2).second,
            "tunnel match without an exact outer dst_ip: profile nfp matches tunnels by their outer destination "
            "address (one address, /32 or /128)");
  EXPECT_EQ(reason("mlx5", 2).first, 2u);
  EXPECT_EQ(reason("nfp", 3).second.rfind("stage 1 vlan_push: profile nfp pops or pushes at most 1 VLAN tag per rule;", 0), 0u)
      << reason("nfp", 3).second;
  EXPECT_EQ(reason("mlx5", 3).first, 3u);
  EXPECT_EQ(reason("ice", 4).second.rfind(
                "stage 0 deliver: profile ice cannot send packets to a VF from traffic a VF sends in hardware;", 0),
            0u)
      << reason("ice", 4).second;
  EXPECT_EQ(reason("mlx5", 4).first, 1u);
}

// vlan: none keeps a chain apart from a tagged one kept on the host: the two
// can never see the same frame, so the untagged chain stays in the NIC.
TEST(Splitter, UntaggedChainIsNotDemotedByAHostOnlyVlanChain) {
  auto policy = policyText(R"(  - {name: tagged, priority: 5, offload: skip-hw, match: {vlan: 2}, stages: [{deliver: {vf: 0}}]}
  - {name: web, priority: 10, match: {vlan: none, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 1}}]}
  - {name: ssh, priority: 20, match: {ip_proto: tcp, dst_port: 22}, stages: [{deliver: {vf: 2}}]}
)");
  auto plan = demux::plan(policy, profileNamed("mlx5"));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->chains[1].handover, Handover::kNone) << plan->chains[1].reason;
  EXPECT_EQ(plan->chains[2].handover, Handover::kHostOnly) << "without vlan: none it may see tagged frames";
}

TEST(Splitter, DemotionOnlyWithinOneIngressSide) {
  auto policy = policyText(R"(  - {name: slow, priority: 5, offload: skip-hw, match: {from: {vf: 0}}, stages: [{deliver: uplink}]}
  - {name: fast, priority: 10, stages: [{deliver: {vf: 1}}]}
)");
  auto plan = demux::plan(policy, profileNamed("mlx5"));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->chains[1].handover, Handover::kNone);
}

TEST(Splitter, RuleBudgetDemotesTheLowestPriorities) {
  Profile p = profileNamed("mlx5");
  p.ruleBudget = 2;
  auto policy = policyText(R"(  - {name: a, priority: 1, match: {dst_ip: 10.0.0.1}, stages: [{deliver: {vf: 0}}]}
  - {name: b, priority: 2, match: {dst_ip: 10.0.0.2}, stages: [{deliver: {vf: 1}}]}
  - {name: c, priority: 3, match: {dst_ip: 10.0.0.3}, stages: [{deliver: {vf: 2}}]}
)");
  auto plan = demux::plan(policy, p);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->nicRules.size(), 2u);
  EXPECT_EQ(plan->chains[2].handover, Handover::kHostOnly);
  EXPECT_EQ(plan->chains[2].reason, "profile mlx5 holds at most 2 hardware rules");
}

TEST(Splitter, VfSideAndTrapAndHostOnlyReasons) {
  auto policy = policyText(R"(  - {name: from-vf, priority: 1, match: {from: {vf: 0}}, stages: [{deliver: uplink}]}
  - {name: marked, priority: 2, match: {dst_ip: 10.0.0.1}, stages: [{mark: 7}, {deliver: {vf: 1}}]}
  - {name: blackhole, priority: 3, match: {dst_ip: 10.9.0.0/16}, stages: [drop]}
)");
  auto nsim = demux::plan(policy, profileNamed("netdevsim"));
  ASSERT_TRUE(nsim.ok());
  EXPECT_EQ(nsim->chains[0].reason,
            "traffic from vf0: profile netdevsim cannot match traffic sent by VFs in hardware");
  EXPECT_EQ(nsim->chains[1].handover, Handover::kTrap);
  EXPECT_EQ(nsim->chains[1].reason, "stage 0 mark: profile netdevsim cannot set the packet mark in hardware");
  EXPECT_EQ(nsim->chains[2].handover, Handover::kNone);

  auto nfp = demux::plan(policy, profileNamed("nfp"));
  ASSERT_TRUE(nfp.ok());
  EXPECT_EQ(nfp->chains[1].handover, Handover::kHostOnly);
  EXPECT_NE(nfp->chains[1].reason.find("can neither continue"), std::string::npos);
  EXPECT_EQ(nfp->chains[2].handover, Handover::kNone)
      << "10.0.0.1 and 10.9.0.0/16 are disjoint, so host-only 'marked' cannot steal its packets";
}

TEST(Splitter, KernelRefusalsMoveChainsAndTheirFollowersToTheHost) {
  auto policy = policyText(R"(  - {name: a, priority: 1, match: {ip_proto: udp}, stages: [{deliver: {vf: 0}}]}
  - {name: b, priority: 2, match: {ip_proto: udp, dst_port: 53}, stages: [{deliver: {vf: 1}}]}
  - {name: c, priority: 3, match: {ip_proto: tcp}, stages: [{deliver: {vf: 2}}]}
)");
  PlanOptions o;
  o.refused["a"] = "the NIC refused its rule: only offload of BPF classifiers supported";
  auto plan = demux::plan(policy, profileNamed("mlx5"), o);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->chains[0].handover, Handover::kHostOnly);
  EXPECT_EQ(plan->chains[0].reason, o.refused["a"]);
  EXPECT_EQ(plan->chains[1].handover, Handover::kHostOnly) << "b may match a's packets";
  EXPECT_NE(plan->chains[1].reason.find("chain a (priority 1) runs on the host only"), std::string::npos);
  EXPECT_EQ(plan->chains[2].handover, Handover::kNone) << "tcp cannot be udp";
}

TEST(Splitter, IsDeterministic) {
  auto a = demux::plan(example(), profileNamed("mlx5"));
  auto b = demux::plan(example(), profileNamed("mlx5"));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->chains.size(), b->chains.size());
  for (size_t i = 0; i < a->chains.size(); ++i) {
    EXPECT_EQ(a->chains[i].split, b->chains[i].split);
    EXPECT_EQ(a->chains[i].reason, b->chains[i].reason);
  }
  EXPECT_EQ(a->nicRules.size(), b->nicRules.size());
}

}  // namespace
}  // namespace vfsteer::demux

namespace vfsteer::demux {
namespace {

// The index that keeps priority order linear finds, for every match, the
// same earliest overlapping match as comparing with every earlier one.
TEST(OverlapIndex, FindsWhatComparingEveryPairFinds) {
  int found = 0, none = 0;
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    testing::Generator g(seed);
    auto policy = policies::loadPolicyText(g.policyYaml(60, 4), "gen.yaml");
    if (!policy.ok()) continue;  // the generator's chains are valid; a rare clash of names is not the point
    std::map<policies::Port, std::vector<const policies::Match*>> seen;
    std::map<policies::Port, OverlapIndex> index;
    for (const auto& c : policy->chains) {
      auto& earlier = seen[c.match.from];
      std::optional<size_t> brute;
      for (size_t i = 0; i < earlier.size() && !brute; ++i)
        if (mayOverlap(*earlier[i], c.match)) brute = i;
      EXPECT_EQ(index[c.match.from].firstOverlap(c.match), brute) << "seed " << seed << " chain " << c.name;
      (brute ? found : none) += 1;
      index[c.match.from].add(c.match);
      earlier.push_back(&c.match);
    }
  }
  EXPECT_GT(found, 1000);
  EXPECT_GT(none, 1000);
}

}  // namespace
}  // namespace vfsteer::demux
