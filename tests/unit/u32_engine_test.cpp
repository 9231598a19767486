// Engine u32 (profile ixgbe): which chains its flow director takes, how
// they are laid out as u32 tables, links and rules, and the filters built
// from that layout. The bytes of those filters are held against what tc
// sends for the same command line in the golden tier (u32_link_eat,
// u32_ports_in_table); the VM tier's NIC model is where ixgbe's own checks
// will run against them.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "engine/change_set.hpp"
#include "engine/reconcile.hpp"
#include "engine/u32_rules.hpp"
#include "legacy_policy.hpp"
#include "vfsteer/demux/splitter.hpp"
#include "vfsteer/demux/tc_layout.hpp"
#include "vfsteer/demux/u32_layout.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer {
namespace {

namespace tc = netlink::tc;
using demux::Handover;
using policies::Policy;
using policies::Profile;
using testing::chain;
using testing::planOf;
using testing::policyText;

Profile ixgbe() { return testing::shippedProfile("ixgbe"); }

uint32_t handleOf(const Policy& policy, const demux::Plan& plan, const std::string& name) {
  for (const auto& r : plan.nicRules)
    if (policy.chains[r.chain].name == name) return r.tcHandle;
  return 0;
}

TEST(U32Plan, PortRulesOfOneAddressAndProtocolShareATableLinkedFromTheRoot) {
  const Policy policy = policyText(chain("web", 10, "dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80", "{deliver: {vf: 0}}") +
                                   chain("tls", 20, "dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 443", "{deliver: {vf: 1}}") +
                                   chain("dns", 30, "dst_ip: 10.0.1.0/24, ip_proto: udp, dst_port: 53", "{deliver: {vf: 2}}"));
  auto plan = demux::plan(policy, ixgbe());
  ASSERT_TRUE(plan.ok()) << plan.error().describe();
  ASSERT_TRUE(plan->ok());
  ASSERT_EQ(plan->u32Links.size(), 2u);
  EXPECT_EQ(plan->u32Links[0].table, 1u);
  EXPECT_EQ(plan->u32Links[0].node, demux::kU32LastNode) << "links take the highest nodes";
  EXPECT_EQ(policy.chains[plan->u32Links[0].chain].name, "web");
  EXPECT_EQ(plan->u32Links[1].table, 2u);
  EXPECT_EQ(plan->u32Links[1].node, demux::kU32LastNode - 1);
  EXPECT_EQ(handleOf(policy, *plan, "web"), demux::u32NodeHandle(1, 10)) << "node = chain priority";
  EXPECT_EQ(handleOf(policy, *plan, "tls"), demux::u32NodeHandle(1, 20));
  EXPECT_EQ(handleOf(policy, *plan, "dns"), demux::u32NodeHandle(2, 30));
  for (const auto& r : plan->nicRules) EXPECT_EQ(r.tcPriority, demux::kU32Priority);
}

TEST(U32Plan, AddressRulesGoInTheRootTable) {
  const Policy policy = policyText(chain("a", 10, "dst_ip: 10.0.0.1/32", "{deliver: {vf: 0}}") +
                                   chain("b", 20, "dst_ip: 10.0.0.2/32", "drop"));
  auto plan = demux::plan(policy, ixgbe());
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->u32Links.empty());
  EXPECT_EQ(handleOf(policy, *plan, "a"), demux::u32NodeHandle(demux::kU32RootTable, 10));
  EXPECT_EQ(handleOf(policy, *plan, "b"), demux::u32NodeHandle(demux::kU32RootTable, 20));
}

// A chain priority past the nodes below the links: every rule is numbered
// in match order instead (a chain added then moves the rules after it).
TEST(U32Plan, PrioritiesPastTheNodesBelowTheLinksNumberRulesInOrder) {
  const Policy policy = policyText(chain("web", 10, "dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80", "drop") +
                                   chain("late", 2045, "dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 81", "drop"));
  auto plan = demux::plan(policy, ixgbe());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(handleOf(policy, *plan, "web"), demux::u32NodeHandle(1, 1));
  EXPECT_EQ(handleOf(policy, *plan, "late"), demux::u32NodeHandle(1, 2));
  const Policy fits = policyText(chain("web", 10, "dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80", "drop") +
                                 chain("late", 2044, "dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 81", "drop"));
  auto planFits = demux::plan(fits, ixgbe());
  ASSERT_TRUE(planFits.ok());
  EXPECT_EQ(handleOf(fits, *planFits, "late"), demux::u32NodeHandle(1, 2044)) << "one link below 2045";
}

TEST(U32Plan, AChainOfAnotherMaskThanTheFirstRunsOnTheHostAndSaysWhich) {
  const Policy policy =
      policyText(chain("web", 10, "dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80", "{deliver: {vf: 0}}") +
                 chain("one", 20, "dst_ip: 10.0.9.1/32, ip_proto: tcp, dst_port: 80", "drop") +
                 chain("same", 30, "dst_ip: 10.0.8.0/24, ip_proto: udp, dst_port: 53", "drop"),
                 "");
  auto plan = demux::plan(policy, ixgbe());
  ASSERT_TRUE(plan.ok());
  const auto& one = planOf(*plan, "one");
  EXPECT_EQ(one.handover, Handover::kHostOnly);
  EXPECT_NE(one.reason.find("one match mask for all hardware rules (dst_ip /24, ip_proto, dst_port, set by chain "
                            "web), and this chain matches dst_ip /32, ip_proto, dst_port"),
            std::string::npos)
      << one.reason;
  EXPECT_TRUE(planOf(*plan, "same").demuxInNic) << "same mask, other values";
}

TEST(U32Plan, WhatTheFlowDirectorCannotMatchIsSaidInItsWords) {
  const Policy policy =
      policyText(chain("v6", 10, "ip_proto: tcp, dst_port: 80, ethertype: ipv6", "drop") +
                 chain("both", 20, "ip_proto: tcp, dst_port: 81", "drop") +
                 chain("icmp", 30, "dst_ip: 10.0.0.0/24, ip_proto: icmp", "drop") +
                 chain("mac", 40, "dst_mac: \"02:00:00:00:00:01\"", "drop") +
                 chain("v4only", 5, "ethertype: ipv4, ip_proto: tcp, dst_port: 82", "drop"),
                 "");
  auto plan = demux::plan(policy, ixgbe());
  ASSERT_TRUE(plan.ok());
  EXPECT_NE(planOf(*plan, "v6").reason.find("an IPv6 match: profile ixgbe classifies IPv4 packets only"),
            std::string::npos)
      << planOf(*plan, "v6").reason;
  EXPECT_NE(planOf(*plan, "both").reason.find("give the chain an IPv4 address or ethertype: ipv4"), std::string::npos)
      << planOf(*plan, "both").reason;
  EXPECT_NE(planOf(*plan, "icmp").reason.find("ip_proto icmp: profile ixgbe matches the protocols tcp and udp only"),
            std::string::npos)
      << planOf(*plan, "icmp").reason;
  EXPECT_NE(planOf(*plan, "mac").reason.find("match key dst_mac"), std::string::npos);
  EXPECT_TRUE(planOf(*plan, "v4only").demuxInNic) << planOf(*plan, "v4only").reason;
}

TEST(U32Plan, ATenthAddressOfPortRulesFindsNoTable) {
  std::string chains;
  for (int i = 0; i < 10; ++i)
    chains += chain("c" + std::to_string(i), 10 + i, "dst_ip: 10.0." + std::to_string(i) + ".0/24, ip_proto: tcp, dst_port: 80",
                    "drop");
  const Policy policy = policyText(chains);
  auto plan = demux::plan(policy, ixgbe());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->u32Links.size(), 9u);
  EXPECT_TRUE(planOf(*plan, "c8").demuxInNic);
  const auto& tenth = planOf(*plan, "c9");
  EXPECT_FALSE(tenth.demuxInNic);
  EXPECT_NE(tenth.reason.find("the 9 tables the device takes are used"), std::string::npos) << tenth.reason;
}

TEST(U32Plan, InLegacyModeTheHostCannotDeliverToAVf) {
  const Policy policy = policyText(chain("v6", 10, "dst_ip: \"2001:db8::/64\"", "{deliver: {vf: 3}}") +
                                   chain("tohost", 20, "dst_ip: \"2001:db8:1::/64\"", "{deliver: host}"));
  auto plan = demux::plan(policy, ixgbe());
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->errors.size(), 1u);
  EXPECT_EQ(plan->errors[0].chain, "v6");
  EXPECT_NE(plan->errors[0].message.find("sends to vf3 from the host (stage 0), which legacy mode cannot: there are "
                                         "no representors to trombone through. It runs on the host because match "
                                         "key dst_ip6"),
            std::string::npos)
      << plan->errors[0].message;
}

TEST(U32Plan, ANicWithoutSwitchdevRefusesAPolicyThatAsksForIt) {
  const Policy policy = policyText(chain("a", 10, "dst_ip: 10.0.0.1/32", "drop"), "switchdev");
  auto plan = demux::plan(policy, ixgbe());
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->errors.size(), 1u);
  EXPECT_EQ(plan->errors[0].message, "profile ixgbe has no switchdev mode (no representors); set device.eswitch: "
                                     "legacy, or choose the profile of a NIC that has one");
  EXPECT_EQ(plan->errors[0].pos.str(), "t.yaml:2:29") << "at the value of device.eswitch";
}

TEST(U32Plan, ChainsWithoutAFieldDoNotBecomeCatchAllRules) {
  const Policy policy = policyText(chain("all", 10, "ethertype: ipv4", "drop"));
  auto plan = demux::plan(policy, ixgbe());
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(planOf(*plan, "all").demuxInNic);
  EXPECT_NE(planOf(*plan, "all").reason.find("needs an IPv4 address or a protocol"), std::string::npos);
}

// A u32 filter checks IPv4 addresses, the protocol and ports and then drops
// or redirects to a VF: a profile claiming more would put chains in the NIC
// whose other fields no filter checks. Each claim is refused where it is.
TEST(U32Profile, ClaimsBeyondWhatAU32FilterChecksAreRefusedWhereTheyAre) {
  auto bad = policies::loadProfileText("name: x\nhardware:\n  engine: u32\n  ip_versions: [4]\n"
                                       "  match: [dst_ip4, vlan, src_mac]\n  stages: [deliver, police]\n"
                                       "  targets: [vf, uplink]\n  miss_to_software: true\n",
                                       "x.yaml");
  ASSERT_FALSE(bad.ok());
  const std::string m = bad.error().message();
  for (const char* words : {"x.yaml:5:", "engine u32 cannot match vlan", "engine u32 cannot match src_mac",
                            "x.yaml:6:", "engine u32 cannot run police", "x.yaml:7:",
                            "engine u32 cannot deliver to uplink", "x.yaml:8:",
                            "engine u32 cannot hand a packet on to the host"})
    EXPECT_NE(m.find(words), std::string::npos) << words << " in:\n" << m;
  EXPECT_TRUE(policies::loadProfileText("name: x\nhardware:\n  engine: u32\n  ip_versions: [4]\n"
                                        "  match: [dst_ip4, ip_proto, dst_port]\n  stages: [deliver, drop]\n"
                                        "  targets: [vf]\n",
                                        "x.yaml")
                  .ok());
}

TEST(U32Profile, EngineU32MustSayItIsIpv4Only) {
  auto bad = policies::loadProfileText("name: x\nhardware:\n  engine: u32\n  match: [dst_ip4]\n", "x.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("engine u32 matches IPv4 headers only; state ip_versions: [4]"),
            std::string::npos)
      << bad.error().message();
  auto typo = policies::loadProfileText(
      "name: x\nhardware:\n  engine: u32\n  ip_versions: [4]\n  ip_protocols: [tcpp]\n  match: [dst_ip4]\n", "x.yaml");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message().find("x.yaml:5:"), std::string::npos) << typo.error().message();
  EXPECT_NE(typo.error().message().find("did you mean \"tcp\""), std::string::npos) << typo.error().message();
}

// ---- the filters ------------------------------------------------------------

engine::U32Bindings bindings() {
  engine::U32Bindings b;
  b.pfIfindex = IfIndex{3};
  b.pfName = "eth0";
  for (uint16_t vf = 0; vf < 8; ++vf) b.vfIfindex[VfIndex{vf}] = IfIndex{20 + vf};
  b.cookie = {1, 2, 3, 4, 5, 6, 7, 8};
  return b;
}

TEST(U32Filters, TheLayoutBecomesTablesLinksAndRulesWithTheChainsActions) {
  const Policy policy = policyText(chain("web", 10, "dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80", "{deliver: {vf: 0}}") +
                                   chain("any-udp", 20, "dst_ip: 10.0.0.0/24, ip_proto: udp", "drop") +
                                   chain("v6", 30, "dst_ip: \"2001:db8::/64\"", "drop"));
  auto plan = demux::plan(policy, ixgbe());
  ASSERT_TRUE(plan.ok());
  auto built = engine::buildU32Filters(policy, *plan, bindings());
  ASSERT_TRUE(built.ok()) << built.error().describe();
  // "any-udp" has another mask (no port) than web: host.
  ASSERT_EQ(built->tables.size(), 1u);
  ASSERT_EQ(built->links.size(), 1u);
  ASSERT_EQ(built->rules.size(), 1u);
  const auto& table = std::get<tc::U32>(built->tables[0].spec);
  EXPECT_EQ(built->tables[0].handle, 0x00100000u);
  EXPECT_EQ(table.divisor, 1u);

  const tc::Filter& link = built->links[0];
  const auto& l = std::get<tc::U32>(link.spec);
  EXPECT_EQ(link.handle, 0x800007fdu);
  EXPECT_FALSE(l.table) << "the root table is the priority's own; naming 800: could name another's";
  EXPECT_EQ(l.link, 0x00100000u);
  EXPECT_EQ(l.nextHeader, (tc::U32NextHeader{0, 0x0f00, 6, 0, true}));
  ASSERT_EQ(l.keys.size(), 2u);
  EXPECT_EQ(l.keys[0], (tc::U32Key{htonl(0x0a000000), htonl(0xffffff00), 16, 0}));
  EXPECT_EQ(l.keys[1], (tc::U32Key{htonl(6 << 16), htonl(0x00ff0000), 8, 0}));
  EXPECT_TRUE(l.actions.empty());
  EXPECT_EQ(l.flags, tc::kSkipSw);

  const engine::NicRule& web = built->rules[0];
  EXPECT_EQ(web.chain, "web");
  EXPECT_EQ(web.device, "eth0");
  EXPECT_EQ(web.filter.priority, demux::kU32Priority);
  EXPECT_EQ(web.filter.protocol, 0x0800);
  EXPECT_EQ(web.filter.handle, 0x0010000au);
  const auto& r = std::get<tc::U32>(web.filter.spec);
  EXPECT_EQ(r.table, 0x00100000u);
  ASSERT_EQ(r.keys.size(), 1u);
  EXPECT_EQ(r.keys[0], (tc::U32Key{htonl(80), htonl(0x0000ffff), 0, -1}));
  ASSERT_EQ(r.actions.size(), 1u);
  const auto* m = std::get_if<tc::Mirred>(&r.actions[0].op);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->ifindex, 20u);
  EXPECT_EQ(r.actions[0].cookie, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(U32Filters, AProtocolWithoutPortsStillGetsAPortKeySoTheFlowTypeIsSet) {
  const Policy policy = policyText(chain("tcp", 10, "dst_ip: 10.0.0.0/24, ip_proto: tcp", "drop"));
  auto plan = demux::plan(policy, ixgbe());
  ASSERT_TRUE(plan.ok());
  auto built = engine::buildU32Filters(policy, *plan, bindings());
  ASSERT_TRUE(built.ok());
  ASSERT_EQ(built->rules.size(), 1u);
  const auto& r = std::get<tc::U32>(built->rules[0].filter.spec);
  ASSERT_EQ(r.keys.size(), 1u);
  EXPECT_EQ(r.keys[0], (tc::U32Key{0, 0, 0, -1}));
  EXPECT_TRUE(std::holds_alternative<tc::Gact>(r.actions[0].op));
}

TEST(U32Filters, EmulationRunsThemInSoftwareAndAVfWithoutANetdevIsNamed) {
  const Policy policy = policyText(chain("a", 10, "dst_ip: 10.0.0.1/32", "{deliver: {vf: 5}}"));
  auto plan = demux::plan(policy, ixgbe());
  ASSERT_TRUE(plan.ok());
  auto b = bindings();
  b.emulated = true;
  auto built = engine::buildU32Filters(policy, *plan, b);
  ASSERT_TRUE(built.ok());
  EXPECT_EQ(std::get<tc::U32>(built->rules[0].filter.spec).flags, tc::kSkipHw);
  b.vfIfindex.erase(VfIndex{5});
  auto missing = engine::buildU32Filters(policy, *plan, b);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("VF 5 has no netdev on this host to redirect to"), std::string::npos);
}

// ---- reconcile --------------------------------------------------------------

engine::DesiredState desiredOf(const std::string& chains) {
  const Policy policy = policyText(chains);
  auto plan = demux::plan(policy, ixgbe());
  EXPECT_TRUE(plan.ok());
  auto built = engine::buildU32Filters(policy, *plan, bindings());
  EXPECT_TRUE(built.ok()) << built.error().describe();
  engine::DesiredState d;
  d.add(engine::Clsact{"eth0"});
  for (auto& t : built->tables) d.add(engine::U32Table{"eth0", t});
  for (auto& l : built->links) d.add(engine::U32Link{"eth0", l});
  for (auto& r : built->rules) d.add(r);
  return d;
}

std::vector<std::string> described(const engine::ChangeSet& set) {
  std::vector<std::string> out;
  for (const auto& c : set.changes) out.push_back(std::string(engine::name(c.phase)) + ": " + c.describe());
  return out;
}

const std::string kWeb = chain("web", 10, "dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80", "{deliver: {vf: 0}}");
const std::string kTls = chain("tls", 20, "dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 443", "{deliver: {vf: 1}}");

// ixgbe refuses a location twice, replaces no rule of a linked table and
// no link in place, and drops a table's hardware rules with its link: so
// engine u32 removes before it adds, and re-adds the rules of a table
// whose link changes.
TEST(U32Reconcile, RemovalsMakeRoomFirstAndARelinkedTableGetsItsRulesAgain) {
  engine::ObservedState model;
  auto first = engine::reconcile(desiredOf(kWeb + kTls), model);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(described(*first), (std::vector<std::string>{
                                   "prepare: add clsact on eth0",
                                   "prepare: add u32 table 1: on eth0 (tc priority 10000)",
                                   "prepare: add the u32 link 800:0:7fd into table 1: on eth0 (tc priority 10000, skip_sw)",
                                   "NIC rules that end in the NIC: add the NIC rule of chain web on eth0 (tc priority 10000, skip_sw)",
                                   "NIC rules that end in the NIC: add the NIC rule of chain tls on eth0 (tc priority 10000, skip_sw)"}));
  for (const auto& c : first->changes) engine::applyToModel(model, c);
  auto none = engine::reconcile(desiredOf(kWeb + kTls), model);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->changes.empty());

  // web's address changes: the link of table 1 changes; tls, unchanged
  // itself, loses its hardware entry with the old link and is added again.
  // With every rule and link gone the kernel drops the priority's tables,
  // so table 1 is made again before its link.
  const std::string web2 = chain("web", 10, "dst_ip: 10.0.5.0/24, ip_proto: tcp, dst_port: 80", "{deliver: {vf: 0}}");
  const std::string tls2 = chain("tls", 20, "dst_ip: 10.0.5.0/24, ip_proto: tcp, dst_port: 443", "{deliver: {vf: 1}}");
  auto relink = engine::reconcile(desiredOf(web2 + tls2), model);
  ASSERT_TRUE(relink.ok());
  EXPECT_EQ(described(*relink), (std::vector<std::string>{
                                    "make room: remove the NIC rule at tc priority 10000 on eth0",
                                    "make room: remove the NIC rule at tc priority 10000 on eth0",
                                    "make room: remove the u32 link 800:0:7fd into table 1: on eth0 (tc priority 10000, skip_sw)",
                                    "make room (u32 tables): remove u32 table 1: on eth0 (tc priority 10000)",
                                    "prepare: add u32 table 1: on eth0 (tc priority 10000)",
                                    "prepare: add the u32 link 800:0:7fd into table 1: on eth0 (tc priority 10000, skip_sw)",
                                    "NIC rules that end in the NIC: add the NIC rule of chain web on eth0 (tc priority 10000, skip_sw)",
                                    "NIC rules that end in the NIC: add the NIC rule of chain tls on eth0 (tc priority 10000, skip_sw)"}));
  for (const auto& c : relink->changes) engine::applyToModel(model, c);
  auto settled = engine::reconcile(desiredOf(web2 + tls2), model);
  ASSERT_TRUE(settled.ok());
  EXPECT_TRUE(settled->changes.empty()) << described(*settled).front();

  // A third chain in a table of its own: the rules of table 1 stay, so
  // nothing of table 1 is touched; removals still come before the adds.
  const std::string dns = chain("dns", 30, "dst_ip: 10.0.7.0/24, ip_proto: udp, dst_port: 53", "drop");
  auto grow = engine::reconcile(desiredOf(web2 + tls2 + dns), model);
  ASSERT_TRUE(grow.ok());
  EXPECT_EQ(described(*grow), (std::vector<std::string>{
                                  "prepare: add u32 table 2: on eth0 (tc priority 10000)",
                                  "prepare: add the u32 link 800:0:7fc into table 2: on eth0 (tc priority 10000, skip_sw)",
                                  "NIC rules that end in the NIC: add the NIC rule of chain dns on eth0 (tc priority 10000, skip_sw)"}));

  // Teardown: rules, then the link, then the table.
  auto down = engine::reconcile(engine::DesiredState{}, model);
  ASSERT_TRUE(down.ok());
  EXPECT_EQ(described(*down), (std::vector<std::string>{
                                  "retire NIC rules: remove the NIC rule at tc priority 10000 on eth0",
                                  "retire NIC rules: remove the NIC rule at tc priority 10000 on eth0",
                                  "retire NIC rules: remove the u32 link 800:0:7fd into table 1: on eth0 (tc priority 10000, skip_sw)",
                                  "retire u32 tables: remove u32 table 1: on eth0 (tc priority 10000)",
                                  "retire qdiscs: remove the clsact vfsteer added on eth0"}));
}

// ethtool lists every filter of ixgbe's flow director, ours included. A
// location someone else's flow rule holds is a conflict (ixgbe would write
// over it); a location vfsteer's own u32 rule holds is not.
TEST(U32Reconcile, ALocationAnotherFlowRuleHoldsIsAConflictAndOursIsNot) {
  engine::ObservedState model;
  model.flowRuleLocations["eth0"] = {7};
  auto first = engine::reconcile(desiredOf(kWeb + kTls), model);
  ASSERT_TRUE(first.ok()) << "locations 10 and 20 are free";
  for (const auto& c : first->changes) engine::applyToModel(model, c);
  model.flowRuleLocations["eth0"] = {7, 10, 20};  // as ethtool lists them after the apply
  auto again = engine::reconcile(desiredOf(kWeb + kTls), model);
  ASSERT_TRUE(again.ok()) << again.error().describe();
  EXPECT_TRUE(again->changes.empty());

  const std::string ntp = chain("ntp", 7, "dst_ip: 10.0.0.0/24, ip_proto: udp, dst_port: 123", "drop");
  auto taken = engine::reconcile(desiredOf(kWeb + kTls + ntp), model);
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code(), ErrorCode::kConflict);
  EXPECT_NE(taken.error().message().find("flow director location 7 on eth0 holds a flow rule vfsteer does not own "
                                         "(ethtool -n eth0 lists it); chain ntp's u32 rule would replace it"),
            std::string::npos)
      << taken.error().message();
}

}  // namespace
}  // namespace vfsteer
