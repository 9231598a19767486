#include <gtest/gtest.h>

#include "vfsteer/policies/loader.hpp"

namespace vfsteer::policies {
namespace {

const std::string kExample = std::string(VFSTEER_SOURCE_DIR) + "/examples/basic.yaml";

TEST(PolicyLoader, LoadsTheBasicExample) {
  auto p = loadPolicyFile(kExample);
  ASSERT_TRUE(p.ok()) << p.error().describe();
  EXPECT_EQ(p->device.pf, "eth0");
  EXPECT_EQ(p->device.eswitch, EswitchMode::kSwitchdev);
  EXPECT_EQ(p->device.profile, "auto");
  EXPECT_EQ(p->device.vfCount, 4);
  ASSERT_EQ(p->device.vfSettings.size(), 1u);
  const VfSetting& vf0 = p->device.vfSettings[0];
  EXPECT_EQ(vf0.mac->str(), "02:00:00:00:00:10");
  EXPECT_EQ(vf0.vlan, 100);
  EXPECT_EQ(vf0.trust, true);
  EXPECT_EQ(vf0.spoofchk, false);
  EXPECT_EQ(vf0.maxTxRateMbps, 1000u);

  ASSERT_EQ(p->chains.size(), 3u);
  const Chain& web = p->chains[0];
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.priority, 10u);
  EXPECT_EQ(web.match.vlan->id, 100);
  EXPECT_EQ(web.match.ipProto, 6);
  EXPECT_EQ(web.match.dstIp->str(), "10.0.0.0/24");
  EXPECT_EQ(web.match.dstPort, 80);
  EXPECT_EQ(web.match.ipVersion, IpVersion::kV4);
  ASSERT_EQ(web.stages.size(), 2u);
  EXPECT_EQ(web.stages[0].kind(), StageKind::kVlanPop);
  EXPECT_EQ(std::get<DeliverStage>(web.stages[1].op).to, (Target{TargetKind::kVf, 0}));
  EXPECT_EQ(web.stages[1].pos.line, 15);

  const Chain& tb = p->chains[1];
  EXPECT_EQ(tb.offload, OffloadMode::kSkipSw);
  EXPECT_EQ(tb.match.tunnel->type, TunnelType::kVxlan);
  EXPECT_EQ(tb.match.tunnel->vni, 42u);
  EXPECT_EQ(std::get<QueueStage>(tb.stages[1].op).queue, 3);

  const Chain& inspect = p->chains[2];
  EXPECT_EQ(inspect.match.ipVersion, IpVersion::kAny) << "ip_proto without an address is v4+v6";
  EXPECT_EQ(std::get<BpfStage>(inspect.stages[0].op).program, "count");
}

TEST(PolicyLoader, ReadsQinQ8021adAndVfSideMatches) {
  auto p = loadPolicyText(R"(version: 1
device: {pf: uplink0, vfs: {count: 2}}
chains:
  - name: qinq
    priority: 1
    match: {vlan: {id: 100, proto: 802.1ad}, cvlan: {id: 200, prio: 3}, dst_ip: "2001:db8::/64"}
    stages: [vlan_pop, vlan_pop, {deliver: {vf: 1}}]
  - name: from-vf
    priority: 1
    match: {from: {vf: 0}, ethertype: arp}
    stages: [{mirror: {vf: 1}}, {deliver: uplink}]
)",
                          "t.yaml");
  ASSERT_TRUE(p.ok()) << p.error().describe();
  EXPECT_EQ(p->chains[0].match.vlan->proto, VlanProto::k8021AD);
  EXPECT_EQ(p->chains[0].match.cvlan->prio, 3);
  EXPECT_EQ(p->chains[0].match.ipVersion, IpVersion::kV6);
  EXPECT_EQ(p->chains[1].match.from, (Port{Port::Kind::kVf, 0}));
  EXPECT_EQ(p->chains[1].match.ethertype, 0x0806);
}

TEST(PolicyLoader, ReportsEveryProblemNotJustTheFirst) {
  auto p = loadPolicyText(R"(version: 1
device: {pf: eth0}
chains:
  - {name: a, priority: 0, stages: [drop]}
  - {name: b, priority: 5, stages: [dorp]}
)",
                          "m.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message().find("m.yaml:4:25"), std::string::npos) << p.error().message();
  EXPECT_NE(p.error().message().find("m.yaml:5:37"), std::string::npos) << p.error().message();
}

TEST(PolicyLoader, MissingFileNamesThePath) {
  auto p = loadPolicyFile("/nonexistent/policy.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(p.error().message().find("/nonexistent/policy.yaml"), std::string::npos);
}

// ---- bad input: every case must fail, at the right place, with a useful message.

struct BadCase {
  const char* name;
  const char* yaml;
  const char* position;  // "line:column" the first error must point at
  const char* message;   // a phrase the message must contain
};

// A valid skeleton; the cases below break one thing each.
#define HEAD "version: 1\ndevice: {pf: eth0, vfs: {count: 2}}\n"
#define CHAIN(body) HEAD "chains:\n  - " body "\n"

const BadCase kBadCases[] = {
    {"empty file", "", "1:1", "the file is empty"},
    {"yaml syntax", "version: 1\ndevice: {pf: eth0\n", "3:1", "YAML syntax error"},
    {"tab indentation", "version: 1\ndevice:\n\t- pf", "3:1", "YAML allows only spaces for indentation"},
    {"tab after spaces", "version: 1\ndevice:\n  pf: eth0\n \tvfs: {count: 2}\n", "4:2",
     "YAML allows only spaces for indentation"},
    {"alias to no anchor", "version: 1\ndevice: *dev\n", "2:9", "alias *dev names no anchor before it"},
    {"root not a map", "- 1\n- 2\n", "1:1", "expected a map"},
    {"missing version", "device: {pf: eth0}\n", "1:1", "missing required key \"version\""},
    {"wrong version", "version: 2\ndevice: {pf: eth0}\n", "1:10", "reads policy version 1"},
    {"unknown root key", "version: 1\ndevice: {pf: eth0}\nchians: []\n", "3:1",
     "did you mean \"chains\""},
    {"duplicate key", "version: 1\nversion: 1\ndevice: {pf: eth0}\n", "2:1", "duplicate key"},
    {"missing device", "version: 1\n", "1:1", "missing required key \"device\""},
    {"missing pf", "version: 1\ndevice: {eswitch: legacy}\n", "2:9", "missing required key \"pf\""},
    {"bad pf name", "version: 1\ndevice: {pf: \"eth0/1\"}\n", "2:14", "not a valid interface name"},
    {"pf too long", "version: 1\ndevice: {pf: abcdefghijklmnopq}\n", "2:14",
     "not a valid interface name"},
    {"vf chain in legacy mode",
     "version: 1\ndevice: {pf: eth0, eswitch: legacy, vfs: {count: 2}}\nchains:\n  - {name: a, priority: 1, match: {from: {vf: 0}}, stages: [drop]}\n",
     "4:35", "traffic from vf0 needs representors, which exist in switchdev mode only"},
    {"vlan none alone", "version: 1\ndevice: {pf: eth0}\nchains:\n  - {name: a, priority: 1, match: {vlan: none}, stages: [drop]}\n",
     "4:42", "vlan: none needs an ethertype or an IP key"},
    {"vlan none with cvlan", "version: 1\ndevice: {pf: eth0}\nchains:\n  - {name: a, priority: 1, match: {vlan: none, cvlan: 3, ip_proto: tcp}, stages: [drop]}\n",
     "4:55", "not vlan: none"},
    {"vlan word", "version: 1\ndevice: {pf: eth0}\nchains:\n  - {name: a, priority: 1, match: {vlan: untagged, ip_proto: tcp}, stages: [drop]}\n",
     "4:42", "expected an id (1-4094), none (untagged frames only)"},
    {"netns with a slash", "version: 1\ndevice: {pf: eth0, netns: \"a/b\"}\n", "2:27",
     "not a network namespace name"},
    {"netns not a string", "version: 1\ndevice: {pf: eth0, netns: [a]}\n", "2:27", "device.netns"},
    {"bad eswitch", "version: 1\ndevice: {pf: eth0, eswitch: switchdv}\n", "2:29",
     "did you mean \"switchdev\""},
    {"bad bpf_offload", "version: 1\ndevice: {pf: eth0, bpf_offload: xdpoffload}\n", "2:33",
     "is not one of cls_bpf, xdp"},
    {"bad host_xdp", "version: 1\ndevice: {pf: eth0, host_xdp: on}\n", "2:30",
     "is not one of auto, off"},
    {"vf count too big", "version: 1\ndevice: {pf: eth0, vfs: {count: 300}}\n", "2:33",
     "out of range"},
    {"vf count not a number", "version: 1\ndevice: {pf: eth0, vfs: {count: four}}\n", "2:33",
     "expected an integer"},
    {"vf setting past count",
     "version: 1\ndevice:\n  pf: eth0\n  vfs:\n    count: 2\n    settings: [{vf: 2, trust: true}]\n",
     "6:16", "past the VF count"},
    {"duplicate vf setting",
     "version: 1\ndevice:\n  pf: eth0\n  vfs:\n    count: 2\n    settings: [{vf: 1}, {vf: 1}]\n",
     "6:25", "already has settings"},
    {"bad vf mac",
     "version: 1\ndevice:\n  pf: eth0\n  vfs:\n    count: 2\n    settings: [{vf: 0, mac: 02:00}]\n",
     "6:29", "not a MAC address"},
    {"multicast vf mac",
     "version: 1\ndevice:\n  pf: eth0\n  vfs:\n    count: 2\n    settings: [{vf: 0, mac: "
     "\"01:00:00:00:00:01\"}]\n",
     "6:29", "multicast"},
    {"vf vlan out of range",
     "version: 1\ndevice:\n  pf: eth0\n  vfs:\n    count: 2\n    settings: [{vf: 0, vlan: 4095}]\n",
     "6:30", "out of range"},
    {"qos without vlan",
     "version: 1\ndevice:\n  pf: eth0\n  vfs:\n    count: 2\n    settings: [{vf: 0, qos: 3}]\n",
     "6:16", "need a \"vlan\""},
    {"min rate above max",
     "version: 1\ndevice:\n  pf: eth0\n  vfs:\n    count: 2\n    settings: [{vf: 0, "
     "max_tx_rate_mbps: 10, min_tx_rate_mbps: 20}]\n",
     "6:16", "above max_tx_rate_mbps"},
    {"bad trust value",
     "version: 1\ndevice:\n  pf: eth0\n  vfs:\n    count: 2\n    settings: [{vf: 0, trust: yes}]\n",
     "6:31", "expected true or false"},
    {"chains not a list", HEAD "chains: {a: 1}\n", "3:9", "expected a list"},
    {"chain missing name", CHAIN("{priority: 1, stages: [drop]}"), "4:5",
     "missing required key \"name\""},
    {"bad chain name", CHAIN("{name: \"a b\", priority: 1, stages: [drop]}"), "4:12",
     "not a valid chain name"},
    {"priority zero", CHAIN("{name: a, priority: 0, stages: [drop]}"), "4:25", "out of range"},
    {"priority too big", CHAIN("{name: a, priority: 10000, stages: [drop]}"), "4:25",
     "out of range"},
    {"bad offload", CHAIN("{name: a, priority: 1, offload: skip_sw, stages: [drop]}"), "4:37",
     "did you mean \"skip-sw\""},
    {"unknown chain key", CHAIN("{name: a, priority: 1, stage: [drop]}"), "4:28",
     "did you mean \"stages\""},
    {"missing stages", CHAIN("{name: a, priority: 1}"), "4:5", "missing required key \"stages\""},
    {"empty stages", CHAIN("{name: a, priority: 1, stages: []}"), "4:36", "at least one stage"},
    {"unknown stage", CHAIN("{name: a, priority: 1, stages: [vlan_popp, drop]}"), "4:37",
     "did you mean \"vlan_pop\""},
    {"stage after drop", CHAIN("{name: a, priority: 1, stages: [drop, {deliver: host}]}"), "4:37",
     "stages after it would never run"},
    {"no terminal stage", CHAIN("{name: a, priority: 1, stages: [{mark: 1}]}"), "4:37",
     "last stage must be deliver or drop"},
    {"vlan_pop without vlan", CHAIN("{name: a, priority: 1, stages: [vlan_pop, drop]}"), "4:37",
     "no VLAN tag here"},
    {"vlan_pop twice for one tag",
     CHAIN("{name: a, priority: 1, match: {vlan: 5}, stages: [vlan_pop, vlan_pop, drop]}"), "4:65",
     "no VLAN tag here"},
    {"decap without tunnel", CHAIN("{name: a, priority: 1, stages: [tunnel_decap, drop]}"), "4:37",
     "needs a \"tunnel\""},
    {"pop before decap",
     CHAIN("{name: a, priority: 1, match: {tunnel: {type: vxlan}, vlan: 5}, stages: [vlan_pop, "
           "tunnel_decap, drop]}"),
     "4:78", "put tunnel_decap first"},
    {"deliver past vf count", CHAIN("{name: a, priority: 1, stages: [{deliver: {vf: 2}}]}"), "4:37",
     "past the VF count"},
    {"mirror past vf count",
     CHAIN("{name: a, priority: 1, stages: [{mirror: {vf: 7}}, drop]}"), "4:37", "past the VF count"},
    {"from vf past count",
     CHAIN("{name: a, priority: 1, match: {from: {vf: 3}}, stages: [drop]}"), "4:35",
     "past the VF count"},
    {"deliver back to same vf",
     CHAIN("{name: a, priority: 1, match: {from: {vf: 1}}, stages: [{deliver: {vf: 1}}]}"), "4:61",
     "loop"},
    {"uplink to uplink", CHAIN("{name: a, priority: 1, stages: [{deliver: uplink}]}"), "4:37",
     "loop"},
    {"deliver without argument", CHAIN("{name: a, priority: 1, stages: [deliver]}"), "4:37",
     "needs an argument"},
    {"drop with argument", CHAIN("{name: a, priority: 1, stages: [{drop: 1}]}"), "4:37",
     "takes no arguments"},
    {"bad deliver target", CHAIN("{name: a, priority: 1, stages: [{deliver: vf0}]}"), "4:47",
     "expected a target"},
    {"mirror to queue", CHAIN("{name: a, priority: 1, stages: [{mirror: {queue: 1}}, drop]}"),
     "4:46", "not to queue 1"},
    {"mirror to host", CHAIN("{name: a, priority: 1, stages: [{mirror: host}, drop]}"), "4:46",
     "not to host"},
    {"vlan id out of range", CHAIN("{name: a, priority: 1, match: {vlan: 4095}, stages: [drop]}"),
     "4:42", "out of range"},
    {"cvlan without vlan", CHAIN("{name: a, priority: 1, match: {cvlan: 10}, stages: [drop]}"),
     "4:43", "needs \"vlan\""},
    {"bad ip prefix", CHAIN("{name: a, priority: 1, match: {dst_ip: 10.0.0.300}, stages: [drop]}"),
     "4:44", "not an IPv4 address"},
    {"host bits set", CHAIN("{name: a, priority: 1, match: {dst_ip: 10.0.0.1/24}, stages: [drop]}"),
     "4:44", "did you mean 10.0.0.0/24"},
    {"prefix too long", CHAIN("{name: a, priority: 1, match: {dst_ip: 10.0.0.0/33}, stages: [drop]}"),
     "4:44", "prefix length"},
    {"mixed ip versions",
     CHAIN("{name: a, priority: 1, match: {src_ip: 10.0.0.1, dst_ip: \"::1\"}, stages: [drop]}"),
     "4:35", "different IP versions"},
    {"port without proto", CHAIN("{name: a, priority: 1, match: {dst_port: 80}, stages: [drop]}"),
     "4:46", "needs \"ip_proto\""},
    {"port with icmp",
     CHAIN("{name: a, priority: 1, match: {ip_proto: icmp, dst_port: 80}, stages: [drop]}"), "4:46",
     "only be matched with ip_proto tcp, udp or sctp"},
    {"unknown ip proto", CHAIN("{name: a, priority: 1, match: {ip_proto: tpc}, stages: [drop]}"),
     "4:46", "did you mean \"tcp\""},
    {"ethertype vlan", CHAIN("{name: a, priority: 1, match: {ethertype: 0x8100}, stages: [drop]}"),
     "4:47", "matched with \"vlan\""},
    {"ethertype with ip keys",
     CHAIN("{name: a, priority: 1, match: {ethertype: arp, ip_proto: udp}, stages: [drop]}"), "4:47",
     "need ethertype ipv4 or ipv6"},
    {"unknown match key", CHAIN("{name: a, priority: 1, match: {dst_mca: \"02:00:00:00:00:01\"}, "
                                "stages: [drop]}"),
     "4:36", "did you mean \"dst_mac\""},
    {"tunnel without type",
     CHAIN("{name: a, priority: 1, match: {tunnel: {vni: 5}}, stages: [drop]}"), "4:44",
     "missing required key \"type\""},
    {"unknown tunnel type",
     CHAIN("{name: a, priority: 1, match: {tunnel: {type: vxlna}}, stages: [drop]}"), "4:51",
     "did you mean \"vxlan\""},
    {"vni too big",
     CHAIN("{name: a, priority: 1, match: {tunnel: {type: vxlan, vni: 16777216}}, stages: [drop]}"),
     "4:63", "out of range"},
    {"police without rate", CHAIN("{name: a, priority: 1, stages: [{police: {burst_kb: 4}}, drop]}"),
     "4:46", "exactly one of rate_mbps or rate_kbps"},
    {"bpf without program",
     CHAIN("{name: a, priority: 1, stages: [{bpf: {object: x.o}}, drop]}"), "4:43",
     "missing required key \"program\""},
    {"duplicate chain names",
     HEAD "chains:\n  - {name: a, priority: 1, stages: [drop]}\n  - {name: a, priority: 2, stages: "
          "[drop]}\n",
     "5:5", "duplicate chain name"},
    {"one port two tunnel types",
     HEAD "chains:\n  - {name: a, priority: 1, match: {tunnel: {type: vxlan, dst_port: 6081}}, "
          "stages: [drop]}\n  - {name: b, priority: 2, match: {tunnel: {type: geneve}}, stages: "
          "[drop]}\n",
     "5:35", "one port carries one tunnel type"},
    {"conflicting priorities",
     HEAD "chains:\n  - {name: a, priority: 1, stages: [drop]}\n  - {name: b, priority: 1, stages: "
          "[drop]}\n",
     "5:5", "already used by chain \"a\""},
};

class BadPolicy : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadPolicy, FailsWithPositionAndReason) {
  const BadCase& c = GetParam();
  auto p = loadPolicyText(c.yaml, "bad.yaml");
  ASSERT_FALSE(p.ok()) << c.name << ": accepted";
  EXPECT_EQ(p.error().code(), ErrorCode::kInvalidInput);
  const std::string& msg = p.error().message();
  const std::string firstLine = msg.substr(0, msg.find('\n'));
  EXPECT_EQ(firstLine.rfind(std::string("bad.yaml:") + c.position + ":", 0), 0u)
      << c.name << ": " << msg;
  EXPECT_NE(msg.find(c.message), std::string::npos) << c.name << ": " << msg;
}

std::string caseName(const ::testing::TestParamInfo<BadCase>& info) {
  std::string n = info.param.name;
  for (char& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Cases, BadPolicy, ::testing::ValuesIn(kBadCases), caseName);

TEST(BadPolicyTable, HasAtLeastThirtyCases) { EXPECT_GE(std::size(kBadCases), 30u); }

TEST(PolicyLoader, AnchorsAndAliasesShareParts) {
  auto p = loadPolicyText(HEAD "chains:\n"
                               "  - {name: a, priority: 1, match: {ip_proto: tcp, dst_port: 80}, stages: &out [{deliver: {vf: 1}}]}\n"
                               "  - {name: b, priority: 2, match: {ip_proto: tcp, dst_port: 81}, stages: *out}\n",
                          "a.yaml");
  ASSERT_TRUE(p.ok()) << p.error().describe();
  ASSERT_EQ(p->chains.size(), 2u);
  ASSERT_EQ(p->chains[1].stages.size(), 1u);
  EXPECT_EQ(std::get<DeliverStage>(p->chains[1].stages[0].op).to, (Target{TargetKind::kVf, 1}));
}

// Each chain's nodes are dropped once it is read, unless it defines an
// anchor: an alias chains later must still find the anchored node intact.
TEST(PolicyLoader, AnAnchorOutlivesTheChainsReadAfterIt) {
  std::string text = HEAD "chains:\n"
                          "  - {name: a, priority: 1, match: &web {ip_proto: tcp, dst_port: 80}, stages: [drop]}\n";
  for (int i = 2; i < 50; ++i)
    text += "  - {name: c" + std::to_string(i) + ", priority: " + std::to_string(i) +
            ", match: {ip_proto: udp, dst_port: " + std::to_string(1000 + i) + "}, stages: [{deliver: {vf: 1}}]}\n";
  text += "  - {name: z, priority: 50, match: *web, stages: [{deliver: {vf: 0}}]}\n";
  auto p = loadPolicyText(text, "a.yaml");
  ASSERT_TRUE(p.ok()) << p.error().describe();
  ASSERT_EQ(p->chains.size(), 50u);
  EXPECT_EQ(p->chains.back().match.dstPort, p->chains.front().match.dstPort);
  EXPECT_EQ(p->chains.back().match.dstPort, std::optional<uint16_t>(80));
  EXPECT_EQ(p->chains[10].match.dstPort, std::optional<uint16_t>(1011)) << "chains between read as written";
  EXPECT_EQ(p->chains.back().pos.line, 53) << "the alias chain keeps its own position";
}

TEST(PolicyLoader, PlainNullsAreNothingAndQuotedOnesAreText) {
  // `match:` with nothing, ~ or null means "everything from the uplink".
  for (const char* empty : {"", " ~", " null", " NULL"}) {
    auto p = loadPolicyText(HEAD "chains:\n  - name: a\n    priority: 1\n    match:" + std::string(empty) + "\n    stages: [drop]\n",
                            "n.yaml");
    ASSERT_TRUE(p.ok()) << "match:" << empty << ": " << p.error().describe();
  }
  auto quoted = loadPolicyText(HEAD "chains:\n  - name: a\n    priority: 1\n    match: \"null\"\n    stages: [drop]\n", "n.yaml");
  ASSERT_FALSE(quoted.ok());
  EXPECT_NE(quoted.error().message().find("n.yaml:6:12"), std::string::npos) << quoted.error().message();
}

TEST(PolicyLoader, DeepNestingIsRefusedAtItsDepth) {
  // 100,000 `[`: an error at the first level too deep, not a crash.
  const std::string text = "version: 1\ndevice: " + std::string(100000, '[');
  auto p = loadPolicyText(text, "deep.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message().find("deep.yaml:2:72: YAML syntax error: the document nests deeper than 64 levels"),
            std::string::npos)
      << p.error().message();
}

// icmp is IPv4's and icmpv6 IPv6's: a match on either is for that version
// only (no rule for the other, which could never match), and says so in the
// user's words.
TEST(PolicyLoader, IcmpAndIcmpv6ImplyTheirIpVersion) {
  auto p = loadPolicyText(HEAD "chains:\n"
                               "  - {name: a, priority: 1, match: {ip_proto: icmp}, stages: [drop]}\n"
                               "  - {name: b, priority: 2, match: {ip_proto: icmpv6}, stages: [drop]}\n"
                               "  - {name: c, priority: 3, match: {ip_proto: tcp}, stages: [drop]}\n",
                          "icmp.yaml");
  ASSERT_TRUE(p.ok()) << p.error().describe();
  EXPECT_EQ(p->chains[0].match.ipVersion, IpVersion::kV4);
  EXPECT_EQ(p->chains[1].match.ipVersion, IpVersion::kV6);
  EXPECT_EQ(p->chains[2].match.ipVersion, IpVersion::kAny);
  EXPECT_EQ(p->chains[0].match.describe(), "icmp");
  EXPECT_EQ(p->chains[1].match.describe(), "icmpv6");
}

// Matches and stages are described in the policy's own words and units.
TEST(PolicyLoader, DescriptionsKeepWhatTheUserWrote) {
  auto p = loadPolicyText(
      HEAD "chains:\n"
      "  - {name: a, priority: 1, match: {ethertype: arp}, stages: [{vlan_push: {id: 20, prio: 3}}, drop]}\n"
      "  - {name: b, priority: 2, match: {ip_proto: gre}, stages: [{police: {rate_mbps: 1000}}, drop]}\n"
      "  - {name: c, priority: 3, match: {ethertype: lldp}, stages: [{police: {rate_kbps: 800, burst_kb: 4}}, drop]}\n",
      "words.yaml");
  ASSERT_TRUE(p.ok()) << p.error().describe();
  EXPECT_EQ(p->chains[0].match.describe(), "arp");
  EXPECT_EQ(p->chains[0].stages[0].describe(), "vlan_push 20 prio 3");
  EXPECT_EQ(p->chains[1].match.describe(), "gre");
  EXPECT_EQ(p->chains[1].stages[0].describe(), "police 1000 Mbit/s burst 1250000 B");
  EXPECT_EQ(p->chains[2].match.describe(), "lldp");
  EXPECT_EQ(p->chains[2].stages[0].describe(), "police 800 kbit/s burst 4 KiB");
}

TEST(IpPrefix, SpellsItselfAsItWasWritten) {
  for (const char* text : {"0.0.0.0/0", "10.1.2.0/24", "192.168.100.7/32", "255.255.255.255/32", "2001:db8::/32",
                           "::/0", "fe80::1/128"}) {
    std::string err;
    auto p = parseIpPrefix(text, &err);
    ASSERT_TRUE(p) << text << ": " << err;
    EXPECT_EQ(p->str(), text);
  }
}

TEST(PolicyLoader, LongValuesAreQuotedCutShort) {
  // A 5 MB chain name and word: each error quotes 64 bytes and the size.
  const std::string huge(5'000'000, 'a');
  auto p = loadPolicyText(HEAD "chains:\n  - {name: " + huge + ", priority: 1, match: {ip_proto: tcp}, stages: [" +
                              huge + "]}\n",
                          "long.yaml");
  ASSERT_FALSE(p.ok());
  const std::string& m = p.error().message();
  EXPECT_LT(m.size(), 2000u) << m.substr(0, 2000);
  const std::string cut = "\"" + huge.substr(0, 64) + "…\" (5000000 bytes)";
  EXPECT_NE(m.find(cut + " is not a valid chain name"), std::string::npos) << m.substr(0, 2000);
  EXPECT_NE(m.find("chains[0].stages[0]: unknown stage " + cut), std::string::npos) << m.substr(0, 2000);
}

TEST(PolicyLoader, AliasesThatExpandWithoutBoundAreRefused) {
  // "Billion laughs": each level holds ten aliases of the one before.
  std::string text = "version: 1\ndevice: {pf: eth0}\nchains:\n  - name: a\n    l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level < 9; ++level) {
    const std::string prev = "*l" + std::to_string(level - 1);
    text += "    l" + std::to_string(level) + ": &l" + std::to_string(level) + " [" + prev;
    for (int i = 1; i < 10; ++i) text += ", " + prev;
    text += "]\n";
  }
  auto p = loadPolicyText(text, "laughs.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message().find("aliases expand to more than 1000000 nodes"), std::string::npos)
      << p.error().message();
}

}  // namespace
}  // namespace vfsteer::policies
