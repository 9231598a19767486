// Golden tests: vfsteer's netlink encoders against the bytes iproute2 sends
// for the same command line (fixtures captured by tests/golden/regenerate),
// decoders against captured kernel replies, and round trips.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <libmnl/libmnl.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "vfsteer/netlink/devlink.hpp"
#include "vfsteer/netlink/ethtool_rxnfc.hpp"
#include "vfsteer/netlink/link.hpp"
#include "vfsteer/netlink/tc.hpp"

namespace vfsteer::netlink {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(VFSTEER_SOURCE_DIR) / "tests/golden/fixtures";

struct Fixture {
  std::string name;
  json doc;
  int ifindex(const std::string& dev) const {
    if (!doc["ifindex"].contains(dev)) throw std::runtime_error(name + ": no ifindex for " + dev);
    return doc["ifindex"][dev].get<int>();
  }
  RawMessage request() const { return hex(doc["request"].get<std::string>()); }
  std::vector<RawMessage> replies() const {
    std::vector<RawMessage> out;
    for (const auto& r : doc["replies"]) out.push_back(hex(r.get<std::string>()));
    return out;
  }
  static RawMessage hex(const std::string& s) {
    RawMessage out;
    for (size_t i = 0; i + 1 < s.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(s.substr(i, 2), nullptr, 16)));
    return out;
  }
};

Fixture load(const std::string& name) {
  std::ifstream in(kFixtures / (name + ".json"));
  Fixture f{name, {}};
  if (in) f.doc = json::parse(in);
  return f;
}

bool present(const std::string& name) { return fs::exists(kFixtures / (name + ".json")); }

RawMessage bytesOf(const Message& m) {
  auto b = m.bytes();
  RawMessage out(b.begin(), b.end());
  // Sequence number and port id are the socket's business, zero in fixtures.
  std::fill(out.begin() + 8, out.begin() + 16, 0);
  return out;
}

std::string hexOf(const RawMessage& m) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (uint8_t c : m) {
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  return s;
}

template <size_t N>
tc::Masked<N> masked(std::initializer_list<uint8_t> value, std::initializer_list<uint8_t> mask) {
  tc::Masked<N> m;
  std::copy(value.begin(), value.end(), m.value.begin());
  std::copy(mask.begin(), mask.end(), m.mask.begin());
  return m;
}

tc::Ip4Key ip4(const char* addr, int prefix) {
  tc::Ip4Key k;
  inet_pton(AF_INET, addr, k.value.data());
  for (int i = 0; i < 32; ++i)
    if (i < prefix) k.mask[i / 8] |= static_cast<uint8_t>(1 << (7 - i % 8));
  return k;
}

tc::Ip6Key ip6(const char* addr, int prefix) {
  tc::Ip6Key k;
  inet_pton(AF_INET6, addr, k.value.data());
  for (int i = 0; i < 128; ++i)
    if (i < prefix) k.mask[i / 8] |= static_cast<uint8_t>(1 << (7 - i % 8));
  return k;
}

tc::Action act(tc::ActionOp op, int32_t verdict) {
  tc::Action a;
  a.op = std::move(op);
  a.verdict = verdict;
  return a;
}

tc::Action redirect(int ifindex) {
  return act(tc::Mirred{tc::Mirred::Op::kEgressRedirect, static_cast<uint32_t>(ifindex)}, TC_ACT_STOLEN);
}

tc::Filter filter(const Fixture& fx, uint16_t prio, uint16_t proto) {
  tc::Filter f;
  f.ifindex = fx.ifindex("va");
  f.parent = tc::kIngress;
  f.priority = prio;
  f.protocol = proto;
  return f;
}

// One builder per encode fixture: the typed object for its command line.
using Builder = std::function<Message(const Fixture&)>;

const std::map<std::string, Builder>& builders() {
  static const std::map<std::string, Builder> table = {
      {"qdisc_add_clsact",
       [](const Fixture& fx) { return tc::encodeAddQdisc({fx.ifindex("va"), "clsact"}); }},
      {"qdisc_add_ingress",
       [](const Fixture& fx) { return tc::encodeAddQdisc({fx.ifindex("vb"), "ingress"}); }},
      {"qdisc_del_clsact",
       [](const Fixture& fx) { return tc::encodeDeleteQdisc({fx.ifindex("vb"), "ingress"}); }},
      {"qdisc_dump", [](const Fixture& fx) { return tc::encodeDumpQdiscs(fx.ifindex("va")); }},
      {"u32_redirect",
       [](const Fixture& fx) {
         auto f = filter(fx, 10, ETH_P_IP);
         tc::U32 u;
         u.keys.push_back({htonl(0x0a000001), 0xffffffff, 16, 0});
         u.actions.push_back(redirect(fx.ifindex("vb")));
         f.spec = u;
         return tc::encodeAddFilter(f);
       }},
      {"u32_two_keys_mirror_skip_sw",
       [](const Fixture& fx) {
         auto f = filter(fx, 12, ETH_P_IP);
         tc::U32 u;
         u.flags = tc::kSkipSw;
         u.keys.push_back({htonl(0xc0a80001), 0xffffffff, 12, 0});
         u.keys.push_back({htonl(80), htonl(0xffff), 20, 0});
         u.actions.push_back(act(tc::Mirred{tc::Mirred::Op::kEgressMirror,
                                            static_cast<uint32_t>(fx.ifindex("vb"))},
                                 TC_ACT_PIPE));
         f.spec = u;
         return tc::encodeAddFilter(f);
       }},
      {"u32_drop_cookie",
       [](const Fixture& fx) {
         auto f = filter(fx, 13, ETH_P_IP);
         tc::U32 u;
         u.keys.push_back({htonl(17 << 16), htonl(0x00ff0000), 8, 0});
         auto drop = act(tc::Gact{}, TC_ACT_SHOT);
         drop.cookie = {1, 2, 3, 4, 5, 6, 7, 8};
         u.actions.push_back(drop);
         f.spec = u;
         return tc::encodeAddFilter(f);
       }},
      {"u32_hash_table",
       [](const Fixture& fx) {
         auto f = filter(fx, 10000, ETH_P_IP);
         f.handle = 0x00100000;
         tc::U32 u;
         u.divisor = 1;
         f.spec = u;
         return tc::encodeAddFilter(f);
       }},
      {"u32_link_eat",
       [](const Fixture& fx) {
         auto f = filter(fx, 10000, ETH_P_IP);
         f.handle = 0x800007fd;
         tc::U32 u;
         u.terminal = false;
         u.flags = tc::kSkipSw;
         u.link = 0x00100000;
         u.nextHeader = tc::U32NextHeader{0, 0x0f00, 6, 0, true};
         u.keys.push_back({htonl(0x0a000000), htonl(0xffffff00), 16, 0});
         u.keys.push_back({htonl(6 << 16), htonl(0x00ff0000), 8, 0});
         f.spec = u;
         return tc::encodeAddFilter(f);
       }},
      {"u32_ports_in_table",
       [](const Fixture& fx) {
         auto f = filter(fx, 10000, ETH_P_IP);
         f.handle = 0x00100001;
         tc::U32 u;
         u.flags = tc::kSkipSw;
         u.table = 0x00100000;
         u.keys.push_back({htonl(80), htonl(0xffff), 0, -1});
         auto to = redirect(fx.ifindex("vb"));
         to.cookie = {1, 2, 3, 4, 5, 6, 7, 8};
         u.actions.push_back(to);
         f.spec = u;
         return tc::encodeAddFilter(f);
       }},
      {"bpf_da_skip_hw",
       [](const Fixture& fx) {
         auto f = filter(fx, 40000, ETH_P_ALL);
         tc::Bpf b;
         b.fd = fx.doc["bpf_fd"].get<int>();
         b.name = "pass.bpf.o:[tc]";
         b.flags = tc::kSkipHw;
         f.spec = b;
         return tc::encodeAddFilter(f);
       }},
      {"bpf_chain",
       [](const Fixture& fx) {
         auto f = filter(fx, 40001, ETH_P_ALL);
         f.chain = 7;
         tc::Bpf b;
         b.fd = fx.doc["bpf_fd"].get<int>();
         b.name = "pass.bpf.o:[tc]";
         f.spec = b;
         return tc::encodeAddFilter(f);
       }},
      {"filter_del_prio",
       [](const Fixture& fx) {
         auto f = filter(fx, 10, ETH_P_IP);
         f.spec = tc::U32{};
         return tc::encodeDeleteFilter(f);
       }},
      {"filter_del_handle",
       [](const Fixture& fx) {
         auto f = filter(fx, 10, ETH_P_IP);
         f.handle = 0x80000800;
         f.spec = tc::U32{};
         return tc::encodeDeleteFilter(f);
       }},
      {"filter_dump_ingress",
       [](const Fixture& fx) { return tc::encodeDumpFilters(fx.ifindex("va"), tc::kIngress); }},
      {"filter_dump_chain",
       [](const Fixture& fx) { return tc::encodeDumpFilters(fx.ifindex("va"), tc::kIngress, 7); }},
      {"flower_vlan_pop_redirect",
       [](const Fixture& fx) {
         auto f = filter(fx, 10020, ETH_P_8021Q);
         tc::Flower fl;
         fl.key.vlanId = 100;
         fl.key.vlanEthType = ETH_P_IP;
         fl.key.dst4 = ip4("10.0.0.0", 24);
         fl.key.ipProto = IPPROTO_TCP;
         fl.key.dstPort = 80;
         fl.flags = tc::kSkipSw;
         fl.actions = {act(tc::Vlan{tc::Vlan::Op::kPop, 0, std::nullopt, std::nullopt}, TC_ACT_PIPE), redirect(fx.ifindex("vb"))};
         f.spec = fl;
         return tc::encodeAddFilter(f);
       }},
      {"flower_ipv6_goto_chain",
       [](const Fixture& fx) {
         auto f = filter(fx, 10061, ETH_P_IPV6);
         tc::Flower fl;
         fl.key.dst6 = ip6("2001:db8::", 64);
         fl.key.ipProto = IPPROTO_UDP;
         fl.key.dstPort = 53;
         fl.flags = tc::kSkipSw;
         fl.actions = {act(tc::Gact{}, TC_ACT_GOTO_CHAIN | 124125214)};
         f.spec = fl;
         return tc::encodeAddFilter(f);
       }},
      {"flower_vxlan_decap",
       [](const Fixture& fx) {
         auto f = filter(fx, 10040, ETH_P_IP);
         tc::Flower fl;
         fl.key.encKeyId = 42;
         fl.key.encDst4 = ip4("192.0.2.2", 32);
         fl.key.encDstPort = 4789;
         fl.flags = tc::kSkipSw;
         fl.actions = {act(tc::TunnelKeyUnset{}, TC_ACT_PIPE), redirect(fx.ifindex("vb"))};
         f.spec = fl;
         return tc::encodeAddFilter(f);
       }},
      {"flower_qinq_macs_trap",
       [](const Fixture& fx) {
         auto f = filter(fx, 10050, ETH_P_8021AD);
         tc::Flower fl;
         fl.key.dstMac = masked<6>({2, 0, 0, 0, 0, 1}, {255, 255, 255, 255, 255, 255});
         fl.key.srcMac = masked<6>({2, 0, 0, 0, 0, 0}, {255, 255, 255, 0, 0, 0});
         fl.key.vlanId = 100;
         fl.key.vlanPrio = 3;
         fl.key.vlanEthType = ETH_P_8021Q;
         fl.key.cvlanId = 200;
         fl.key.cvlanEthType = ETH_P_IP;
         fl.flags = tc::kSkipSw;
         fl.actions = {act(tc::Gact{}, TC_ACT_TRAP)};
         f.spec = fl;
         return tc::encodeAddFilter(f);
       }},
      {"flower_push_skbedit_skip_hw",
       [](const Fixture& fx) {
         auto f = filter(fx, 10070, ETH_P_IP);
         tc::Flower fl;
         fl.key.src4 = ip4("10.1.0.0", 16);
         fl.key.ipProto = IPPROTO_TCP;
         fl.key.srcPort = 443;
         fl.flags = tc::kSkipHw;
         fl.actions = {act(tc::Vlan{tc::Vlan::Op::kPush, 20, ETH_P_8021AD, 5}, TC_ACT_PIPE),
                       act(tc::Skbedit{3, std::nullopt}, TC_ACT_PIPE),
                       act(tc::Skbedit{std::nullopt, 5}, TC_ACT_PIPE),
                       redirect(fx.ifindex("vb"))};
         f.spec = fl;
         return tc::encodeAddFilter(f);
       }},
      {"flower_police_mirror",
       [](const Fixture& fx) {
         auto f = filter(fx, 10080, ETH_P_IP);
         tc::Flower fl;
         fl.key.dst4 = ip4("10.0.0.1", 32);
         fl.actions = {act(tc::Police{12500000, 65536, 0}, TC_ACT_SHOT),
                       act(tc::Mirred{tc::Mirred::Op::kEgressMirror,
                                      static_cast<uint32_t>(fx.ifindex("vb"))},
                           TC_ACT_PIPE),
                       act(tc::Gact{}, TC_ACT_SHOT)};
         f.spec = fl;
         return tc::encodeAddFilter(f);
       }},
      {"flower_chain_handle",
       [](const Fixture& fx) {
         auto f = filter(fx, 40000, ETH_P_ALL);
         f.chain = 124125204;
         f.handle = 1;
         tc::Flower fl;
         fl.flags = tc::kSkipHw;
         fl.actions = {act(tc::Gact{}, TC_ACT_SHOT)};
         f.spec = fl;
         return tc::encodeAddFilter(f);
       }},
      {"flower_vlan_push_default_proto",
       [](const Fixture& fx) {
         auto f = filter(fx, 10090, ETH_P_IP);
         tc::Flower fl;
         fl.flags = tc::kSkipHw;
         fl.actions = {act(tc::Vlan{tc::Vlan::Op::kPush, 30, std::nullopt, std::nullopt}, TC_ACT_PIPE),
                       act(tc::Gact{}, TC_ACT_OK)};
         f.spec = fl;
         return tc::encodeAddFilter(f);
       }},
      {"vf_mac",
       [](const Fixture& fx) {
         link::VfConfig c;
         c.vf = 0;
         c.mac = std::array<uint8_t, 6>{2, 0, 0, 0, 0, 1};
         return link::encodeSetVf(fx.ifindex("va"), c);
       }},
      {"vf_vlan_qos",
       [](const Fixture& fx) {
         link::VfConfig c;
         c.vf = 1;
         c.vlan = link::VfVlan{10, 3, ETH_P_8021Q};
         return link::encodeSetVf(fx.ifindex("va"), c);
       }},
      {"vf_vlan_8021ad",
       [](const Fixture& fx) {
         link::VfConfig c;
         c.vf = 1;
         c.vlan = link::VfVlan{20, 0, ETH_P_8021AD};
         return link::encodeSetVf(fx.ifindex("va"), c);
       }},
      {"vf_rate",
       [](const Fixture& fx) {
         link::VfConfig c;
         c.vf = 2;
         c.rate = link::VfRate{10, 100};
         return link::encodeSetVf(fx.ifindex("va"), c);
       }},
      {"vf_all",
       [](const Fixture& fx) {
         link::VfConfig c;
         c.vf = 3;
         c.mac = std::array<uint8_t, 6>{2, 0, 0, 0, 0, 3};
         c.vlan = link::VfVlan{7, 1, ETH_P_8021Q};
         c.rate = link::VfRate{20, 200};
         c.spoofchk = false;
         c.trust = true;
         c.linkState = link::VfLinkState::kDisable;
         return link::encodeSetVf(fx.ifindex("va"), c);
       }},
      {"link_show", [](const Fixture&) { return link::encodeGetLink(std::string("va")); }},
      {"veth_create",
       [](const Fixture&) {
         link::VethSpec v;
         v.name = "vc";
         v.peer = "vd";
         v.mac = std::array<uint8_t, 6>{2, 0, 0, 0, 0, 0x0c};
         v.peerMac = std::array<uint8_t, 6>{2, 0, 0, 0, 0, 0x0d};
         return link::encodeCreateVeth(v);
       }},
      {"link_set_up", [](const Fixture& fx) { return link::encodeSetUp(fx.ifindex("va"), true); }},
      {"vxlan_create",
       [](const Fixture&) { return link::encodeCreateTunnel(link::TunnelKind::kVxlan, "vfs-vx4789", 4789); }},
      {"geneve_create",
       [](const Fixture&) { return link::encodeCreateTunnel(link::TunnelKind::kGeneve, "vfs-gn6081", 6081); }},
      {"link_delete", [](const Fixture& fx) { return link::encodeDeleteLink(fx.ifindex("vb")); }},
      {"devlink_eswitch_set",
       [](const Fixture& fx) {
         return devlink::encodeSetEswitch(fx.doc["devlink_family"].get<uint16_t>(),
                                          *devlink::parseHandle(fx.doc["device"]),
                                          devlink::EswitchMode::kSwitchdev);
       }},
      {"devlink_eswitch_show",
       [](const Fixture& fx) {
         return devlink::encodeGetEswitch(fx.doc["devlink_family"].get<uint16_t>(),
                                          *devlink::parseHandle(fx.doc["device"]));
       }},
      {"devlink_port_dump",
       [](const Fixture& fx) { return devlink::encodeDumpPorts(fx.doc["devlink_family"].get<uint16_t>()); }},
      {"devlink_rate_set",
       [](const Fixture& fx) {
         return devlink::encodeSetPortRate(fx.doc["devlink_family"].get<uint16_t>(),
                                           *devlink::parseHandle(fx.doc["device"]),
                                           fx.doc["port"].get<uint32_t>(), 1250000, 12500000);
       }},
  };
  return table;
}

std::vector<std::string> encodeFixtureNames() {
  std::vector<std::string> out;
  for (const auto& [name, b] : builders()) out.push_back(name);
  return out;
}

class EncodesLikeIproute2 : public ::testing::TestWithParam<std::string> {};

TEST_P(EncodesLikeIproute2, SameBytes) {
  const std::string name = GetParam();
  if (!present(name))
    GTEST_SKIP() << name << ".json was not captured (it needs the VM tier's kernel); run "
                 << "tests/golden/regenerate there";
  Fixture fx = load(name);
  RawMessage ours = bytesOf(builders().at(name)(fx));
  EXPECT_EQ(hexOf(ours), hexOf(fx.request())) << fx.doc["command"].get<std::string>();
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EncodesLikeIproute2, ::testing::ValuesIn(encodeFixtureNames()),
                         [](const auto& p) { return p.param; });

// ethtool's flow rule requests (struct ethtool_rxnfc through SIOCETHTOOL),
// by the rule each `ethtool -N` line of capture.py states.
using rxnfc::FlowRule;
const std::map<std::string, FlowRule>& rxnfcRules() {
  static const std::map<std::string, FlowRule> rules = [] {
    std::map<std::string, FlowRule> r;
    FlowRule tcp;  // tcp4 dst-ip 10.0.0.0 m 0.0.0.255 dst-port 80 action 0 loc 10
    tcp.type = FlowRule::Type::kTcp4;
    tcp.dstIp = htonl(0x0a000000), tcp.dstIpMask = htonl(0xffffff00);
    tcp.dstPort = htons(80), tcp.dstPortMask = 0xffff;
    tcp.location = 10;
    r["rxnfc_tcp4_dst_prefix_port_queue"] = tcp;
    FlowRule udp;  // udp4 src-ip 10.1.2.3 src-port 53 dst-port 5353 m 0xff vf 0 queue 1 loc 2045
    udp.type = FlowRule::Type::kUdp4;
    udp.srcIp = htonl(0x0a010203), udp.srcIpMask = 0xffffffff;
    udp.srcPort = htons(53), udp.srcPortMask = 0xffff, udp.dstPort = htons(5353), udp.dstPortMask = htons(0xff00);
    udp.vf = 0, udp.queue = 1, udp.location = 2045;
    r["rxnfc_udp4_ports_vf_queue"] = udp;
    FlowRule ip;  // ip4 src-ip 192.168.0.0 m 0.0.255.255 l4proto 17 action -1 loc 3
    ip.srcIp = htonl(0xc0a80000), ip.srcIpMask = htonl(0xffff0000);
    ip.proto = 17, ip.protoMask = 0xff, ip.drop = true, ip.location = 3;
    r["rxnfc_ip4_proto_drop"] = ip;
    return r;
  }();
  return rules;
}

std::vector<std::string> rxnfcFixtureNames() {
  std::vector<std::string> out{"rxnfc_delete"};
  for (const auto& [name, rule] : rxnfcRules()) out.push_back(name);
  return out;
}

class EncodesLikeEthtool : public ::testing::TestWithParam<std::string> {};

TEST_P(EncodesLikeEthtool, SameBytes) {
  const std::string name = GetParam();
  ASSERT_TRUE(present(name)) << name << ".json is missing: run tests/golden/regenerate";
  Fixture fx = load(name);
  const auto ours = name == "rxnfc_delete" ? rxnfc::encodeDelete(10) : rxnfc::encodeInsert(rxnfcRules().at(name));
  EXPECT_EQ(hexOf(ours), hexOf(fx.request())) << fx.doc["command"].get<std::string>();
  if (name == "rxnfc_delete") return;
  // What ethtool sent reads back as the rule (a GRXCLSRULE answer has the
  // same layout).
  auto decoded = rxnfc::decodeRule(fx.request());
  ASSERT_TRUE(decoded.ok()) << decoded.error().describe();
  EXPECT_EQ(*decoded, rxnfcRules().at(name));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EncodesLikeEthtool, ::testing::ValuesIn(rxnfcFixtureNames()),
                         [](const auto& p) { return p.param; });

TEST(Rxnfc, OtherFlowTypesAndShortAnswersAreErrors) {
  auto bytes = rxnfc::encodeInsert(FlowRule{});
  bytes[16] = 0x05;  // fs.flow_type: TCP_V6_FLOW
  auto v6 = rxnfc::decodeRule(bytes);
  ASSERT_FALSE(v6.ok());
  EXPECT_NE(v6.error().message().find("ethtool flow type 5"), std::string::npos) << v6.error().message();
  EXPECT_FALSE(rxnfc::decodeRule(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 100)).ok());
}

TEST(GoldenFixtures, EveryCapturedRequestHasABuilderAndThereAreEnough) {
  size_t encode = 0;
  const auto rxnfcNames = rxnfcFixtureNames();
  for (const auto& entry : fs::directory_iterator(kFixtures)) {
    json doc = json::parse(std::ifstream(entry.path()));
    const std::string name = entry.path().stem().string();
    if (doc["kind"] == "encode_rxnfc") {
      EXPECT_NE(std::find(rxnfcNames.begin(), rxnfcNames.end(), name), rxnfcNames.end()) << name << " has no rule";
    }
    if (doc["kind"] != "encode") continue;
    ++encode;
    EXPECT_TRUE(builders().contains(name)) << entry.path().filename() << " has no builder";
  }
  EXPECT_GE(encode, 20u);
}

// decode(iproute2's request) → encode gives iproute2's bytes back.
TEST(RoundTrip, FilterRequestsDecodeAndReencode) {
  int checked = 0;
  for (const auto& name : encodeFixtureNames()) {
    if (!present(name)) continue;
    Fixture fx = load(name);
    RawMessage req = fx.request();
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(req.data());
    if (nlh->nlmsg_type != RTM_NEWTFILTER) continue;
    auto f = tc::decodeFilter(req);
    ASSERT_TRUE(f.ok()) << name << ": " << f.error().describe();
    const bool exclusive = nlh->nlmsg_flags & NLM_F_EXCL;
    EXPECT_EQ(hexOf(bytesOf(tc::encodeAddFilter(*f, !exclusive))), hexOf(req)) << name;
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

// encode → decode → encode for objects built in code.
TEST(RoundTrip, TypedObjectsSurviveEncodeDecodeEncode) {
  for (const auto& name : encodeFixtureNames()) {
    Fixture fx = load(name);
    if (!fx.doc.contains("ifindex")) continue;
    Message m = builders().at(name)(fx);
    if (m.nlh()->nlmsg_type != RTM_NEWTFILTER) continue;
    RawMessage first = bytesOf(m);
    auto f = tc::decodeFilter(first);
    ASSERT_TRUE(f.ok()) << name;
    EXPECT_EQ(hexOf(bytesOf(tc::encodeAddFilter(*f))), hexOf(first)) << name;
  }
}

// ---- decoders on captured kernel replies ------------------------------------------

std::vector<tc::Filter> filtersIn(const Fixture& fx) {
  std::vector<tc::Filter> out;
  for (const auto& r : fx.replies()) {
    auto placed = tc::decodePlacedFilter(r);
    EXPECT_TRUE(placed.ok()) << placed.error().describe();
    if (tc::isFilterHead(r)) {
      EXPECT_TRUE(placed.ok() && placed->place.head && !placed->filter);
      continue;
    }
    auto f = tc::decodeFilter(r);
    EXPECT_TRUE(f.ok()) << f.error().describe();
    if (!f.ok()) continue;
    out.push_back(*f);
    // Read once (as observe does), the same filter as read in two steps.
    EXPECT_TRUE(placed.ok() && placed->filter);
    if (!placed.ok() || !placed->filter) continue;
    EXPECT_FALSE(placed->place.head);
    EXPECT_EQ(placed->place.priority, f->priority);
    EXPECT_EQ(placed->place.protocol, f->protocol);
    EXPECT_EQ(placed->filter->chain, f->chain);
    EXPECT_EQ(placed->filter->handle, f->handle);
    EXPECT_EQ(hexOf(bytesOf(tc::encodeAddFilter(*placed->filter))), hexOf(bytesOf(tc::encodeAddFilter(*f))));
  }
  return out;
}

// A dump message of a filter kind vfsteer does not decode (matchall, as a
// kernel sends it): its place still reads, so observe counts it as someone
// else's and keeps off its priority and its clsact.
RawMessage filterMessage(const char* kind, bool withOptions) {
  std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_NEWTFILTER;
  auto* tcm = static_cast<tcmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(tcmsg)));
  tcm->tcm_family = AF_UNSPEC;
  tcm->tcm_ifindex = 7;
  tcm->tcm_parent = TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS);
  tcm->tcm_handle = withOptions ? 1 : 0;
  tcm->tcm_info = TC_H_MAKE(uint32_t{999} << 16, htons(ETH_P_ALL));
  mnl_attr_put_strz(nlh, TCA_KIND, kind);
  mnl_attr_put_u32(nlh, TCA_CHAIN, 3);
  if (withOptions) {
    nlattr* opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
    mnl_attr_put_u32(nlh, 3 /* TCA_MATCHALL_FLAGS */, 0);
    mnl_attr_nest_end(nlh, opts);
  }
  buf.resize(nlh->nlmsg_len);
  return buf;
}

TEST(Decode, EveryFilterKindHasAPlaceEvenOnesVfsteerDoesNotDecode) {
  for (bool withOptions : {false, true}) {
    const RawMessage raw = filterMessage("matchall", withOptions);
    auto place = tc::decodeFilterPlace(raw);
    ASSERT_TRUE(place.ok()) << place.error().describe();
    EXPECT_EQ(place->chain, 3u);
    EXPECT_EQ(place->priority, 999);
    EXPECT_EQ(place->protocol, ETH_P_ALL);
    EXPECT_EQ(place->head, !withOptions);
    EXPECT_EQ(tc::isFilterHead(raw), !withOptions);
    EXPECT_FALSE(tc::decodeFilter(raw).ok()) << "matchall is not a kind vfsteer decodes";
    auto placed = tc::decodePlacedFilter(raw);
    ASSERT_TRUE(placed.ok()) << placed.error().describe();
    EXPECT_EQ(placed->place.head, !withOptions);
    EXPECT_EQ(placed->place.priority, 999);
    EXPECT_FALSE(placed->filter) << "a head, or a kind vfsteer does not decode";
  }
  // A message that is no filter has no place.
  RawMessage qdisc = filterMessage("matchall", false);
  reinterpret_cast<nlmsghdr*>(qdisc.data())->nlmsg_type = RTM_NEWQDISC;
  EXPECT_FALSE(tc::decodeFilterPlace(qdisc).ok());
  EXPECT_FALSE(tc::decodePlacedFilter(qdisc).ok());
}

TEST(Decode, QdiscDump) {
  Fixture fx = load("reply_qdisc_dump");
  ASSERT_FALSE(fx.doc.empty());
  bool found = false;
  for (const auto& r : fx.replies()) {
    auto q = tc::decodeQdisc(r);
    ASSERT_TRUE(q.ok());
    if (q->kind == "clsact") {
      found = true;
      EXPECT_EQ(q->ifindex, fx.ifindex("va"));
      EXPECT_EQ(q->parent, TC_H_CLSACT);
    }
  }
  EXPECT_TRUE(found);
}

// The layout ixgbe offloads, read back: a table, a link that eats the IP
// header, a port rule in the linked table.
TEST(Decode, U32TablesAndLinksReadBack) {
  Fixture fx = load("reply_u32_link_dump");
  ASSERT_FALSE(fx.doc.empty());
  const tc::U32 *table = nullptr, *link = nullptr, *ports = nullptr;
  uint32_t portsHandle = 0;
  const auto filters = filtersIn(fx);
  for (const auto& f : filters) {
    auto* u = std::get_if<tc::U32>(&f.spec);
    ASSERT_NE(u, nullptr);
    if (u->divisor && f.handle == 0x00100000) table = u;
    if (u->link) link = u;
    if (u->table == 0x00100000u) ports = u, portsHandle = f.handle;
  }
  ASSERT_NE(table, nullptr) << "the table 1: with its divisor";
  EXPECT_EQ(*table->divisor, 1u);
  ASSERT_NE(link, nullptr);
  EXPECT_EQ(*link->link, 0x00100000u);
  EXPECT_EQ(link->table, 0x80000000u);
  ASSERT_TRUE(link->nextHeader);
  EXPECT_EQ(*link->nextHeader, (tc::U32NextHeader{0, 0x0f00, 6, 0, true}));
  EXPECT_FALSE(link->terminal);
  ASSERT_EQ(link->keys.size(), 2u);
  EXPECT_EQ(link->keys[1].value, htonl(17 << 16));
  ASSERT_NE(ports, nullptr);
  EXPECT_EQ(portsHandle, 0x00100002u);
  EXPECT_FALSE(ports->nextHeader);
  ASSERT_EQ(ports->keys.size(), 1u);
  EXPECT_EQ(ports->keys[0].value, htonl(53));
  EXPECT_EQ(ports->keys[0].offmask, -1);
  EXPECT_TRUE(ports->flags & tc::kSkipHw);
  ASSERT_EQ(ports->actions.size(), 1u);
}

TEST(Decode, U32DumpMatchesTcJson) {
  Fixture fx = load("reply_u32_dump");
  ASSERT_FALSE(fx.doc.empty());
  auto filters = filtersIn(fx);
  // u32 lists its hash table (no selector) and then the rule.
  const tc::U32* rule = nullptr;
  for (const auto& f : filters)
    if (auto* u = std::get_if<tc::U32>(&f.spec); u && !u->keys.empty()) rule = u;
  ASSERT_NE(rule, nullptr);
  ASSERT_EQ(rule->keys.size(), 1u);
  EXPECT_EQ(rule->keys[0].value, htonl(0x0a000001));
  EXPECT_EQ(rule->keys[0].offset, 16);
  EXPECT_TRUE(rule->flags & tc::kNotInHw) << "veth cannot offload";
  ASSERT_EQ(rule->actions.size(), 1u);
  auto* m = std::get_if<tc::Mirred>(&rule->actions[0].op);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(static_cast<int>(m->ifindex), fx.ifindex("vb"));
  EXPECT_EQ(rule->actions[0].verdict, TC_ACT_STOLEN);
  // tc's own reading of the same replies agrees.
  json show = json::parse(fx.doc["tc_show"].get<std::string>());
  bool sawRule = false;
  for (const auto& e : show) {
    if (!e.contains("options") || !e["options"].contains("match")) continue;
    sawRule = true;
    EXPECT_EQ(e["options"]["match"]["value"], "a000001");
    EXPECT_EQ(e["options"]["match"]["off"], 16);
    EXPECT_EQ(e["options"]["not_in_hw"], true);
    EXPECT_EQ(e["options"]["actions"][0]["to_dev"], "vb");
  }
  EXPECT_TRUE(sawRule);
}

TEST(Decode, BpfDump) {
  Fixture fx = load("reply_bpf_dump");
  ASSERT_FALSE(fx.doc.empty());
  auto filters = filtersIn(fx);
  ASSERT_EQ(filters.size(), 1u);
  const auto& b = std::get<tc::Bpf>(filters[0].spec);
  EXPECT_EQ(b.name, "pass.bpf.o:[tc]");
  EXPECT_GT(b.progId, 0u);
  EXPECT_EQ(b.tag.size(), 16u);
  EXPECT_TRUE(b.directAction);
  EXPECT_EQ(filters[0].priority, 40000);
  EXPECT_EQ(filters[0].protocol, ETH_P_ALL);
  json show = json::parse(fx.doc["tc_show"].get<std::string>());
  for (const auto& e : show) {
    if (e.contains("options")) {
      EXPECT_EQ(e["options"]["prog"]["id"].get<uint32_t>(), b.progId);
    }
  }
}

TEST(Decode, FlowerDumpWithCookieAndPolice) {
  if (!present("reply_flower_dump")) GTEST_SKIP() << "captured in the VM tier only";
  Fixture fx = load("reply_flower_dump");
  auto filters = filtersIn(fx);
  ASSERT_EQ(filters.size(), 2u);
  const auto& a = std::get<tc::Flower>(filters[0].spec);
  EXPECT_EQ(a.key.vlanId, 100);
  EXPECT_EQ(a.key.vlanEthType, ETH_P_IP);
  EXPECT_EQ(a.key.dst4, ip4("10.0.0.0", 24));
  EXPECT_EQ(a.key.dstPort, 80);
  EXPECT_TRUE(a.flags & tc::kSkipHw);
  EXPECT_TRUE(a.flags & tc::kNotInHw);
  ASSERT_EQ(a.actions.size(), 2u);
  EXPECT_EQ(std::get<tc::Vlan>(a.actions[0].op).op, tc::Vlan::Op::kPop);
  EXPECT_EQ(a.actions[1].cookie, (std::vector<uint8_t>{0x0a, 0x0b, 0x0c, 0x0d}));
  EXPECT_GT(a.actions[1].index, 0u) << "the kernel assigns action indexes";
  const auto& b = std::get<tc::Flower>(filters[1].spec);
  ASSERT_EQ(b.actions.size(), 2u);
  const auto& police = std::get<tc::Police>(b.actions[0].op);
  EXPECT_EQ(police.rateBytesPerSec, 12500000u);
  EXPECT_NEAR(police.burstBytes, 65536, 16);
  EXPECT_EQ(b.actions[0].verdict, TC_ACT_SHOT);
  // What was sent, as vfsteer sends it: the kernel's round trip of the
  // burst through scheduler ticks is not a change.
  EXPECT_EQ(police, (tc::Police{12500000, 65536, police.mtu}));
}

TEST(Police, BurstsWithinATickOfRoundingAreTheSameOthersDiffer) {
  EXPECT_EQ((tc::Police{12500000, 65536, 0}), (tc::Police{12500000, 65512, 0}));
  EXPECT_NE((tc::Police{12500000, 65536, 0}), (tc::Police{12500000, 60000, 0}));
  EXPECT_NE((tc::Police{12500000, 65536, 0}), (tc::Police{12500001, 65536, 0}));
  EXPECT_NE((tc::Police{12500000, 65536, 0}), (tc::Police{12500000, 65536, 1500}));
}

TEST(Decode, VfLinkInfoFromNetdevsim) {
  if (!present("reply_vf_link")) GTEST_SKIP() << "captured in the VM tier only";
  Fixture fx = load("reply_vf_link");
  auto replies = fx.replies();
  ASSERT_FALSE(replies.empty());
  auto info = link::decodeLink(replies[0]);
  ASSERT_TRUE(info.ok()) << info.error().describe() << " (" << replies.size() << " replies)";
  ASSERT_EQ(info->vfs.size(), 4u);
  const auto& vf0 = info->vfs[0];
  EXPECT_EQ(vf0.mac, (std::array<uint8_t, 6>{2, 0, 0, 0, 0, 0x10}));
  EXPECT_EQ(vf0.vlan.id, 100);
  EXPECT_EQ(vf0.vlan.qos, 2);
  EXPECT_EQ(vf0.vlan.protocol, ETH_P_8021Q);
  EXPECT_FALSE(vf0.spoofchk);
  EXPECT_TRUE(vf0.trust);
  EXPECT_EQ(vf0.linkState, link::VfLinkState::kEnable);
  EXPECT_EQ(info->vfs[1].vlan.id, 0);
}

TEST(Decode, DevlinkPortsAndEswitch) {
  if (!present("reply_devlink_ports")) GTEST_SKIP() << "captured in the VM tier only";
  Fixture fx = load("reply_devlink_ports");
  std::vector<devlink::Port> ports;
  for (const auto& r : fx.replies()) {
    auto p = devlink::decodePort(r);
    ASSERT_TRUE(p.ok()) << p.error().describe();
    ports.push_back(*p);
  }
  ASSERT_EQ(ports.size(), 5u);
  int vfs = 0;
  for (const auto& p : ports) {
    if (p.flavour == devlink::PortFlavour::kPciVf) {
      ++vfs;
      EXPECT_EQ(p.pfNumber, 0);
      EXPECT_EQ(p.index, 128u + *p.vfNumber);
      EXPECT_GT(p.netdevIfindex, 0);
    }
  }
  EXPECT_EQ(vfs, 4);
  Fixture es = load("reply_devlink_eswitch");
  auto mode = devlink::decodeEswitch(es.replies().at(0));
  ASSERT_TRUE(mode.ok());
  EXPECT_EQ(*mode, devlink::EswitchMode::kSwitchdev);
}

// Decoders read an attribute only once its policy has checked it: a
// payload too short for its type is an error that names it, never a 0.
TEST(Decode, AnAttributeTooShortForItsTypeIsAnErrorNamingIt) {
  Message m(RTM_NEWTFILTER, 0);
  tcmsg t{};
  t.tcm_ifindex = 2;
  t.tcm_parent = tc::kIngress;
  t.tcm_info = TC_H_MAKE(10u << 16, htons(ETH_P_IP));
  m.putHeader(t);
  m.putStrz(TCA_KIND, "flower");
  {
    auto opts = m.nest(TCA_OPTIONS);
    m.putU16(TCA_FLOWER_FLAGS, tc::kSkipHw);  // a u32 in the kernel's policy
  }
  const auto bytes = m.bytes();
  auto f = tc::decodeFilter(RawMessage(bytes.begin(), bytes.end()));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().message(), "attribute TCA_FLOWER_FLAGS of flower is shorter than a u32 (2 bytes)");
}

// The offset of an extended ack as a path of names, through nests whose
// space a sibling chooses (a filter's options by its kind, an action's by
// its kind).
TEST(AttributePath, NamesEachLevelDownToTheAttribute) {
  tc::Filter f;
  f.ifindex = 2;
  f.priority = 10;
  f.protocol = ETH_P_IP;
  tc::Flower fl;
  fl.key.dst4 = ip4("10.0.0.0", 24);
  tc::Action a;
  a.op = tc::Mirred{tc::Mirred::Op::kEgressRedirect, 3};
  a.verdict = TC_ACT_STOLEN;
  fl.actions.push_back(a);
  f.spec = fl;
  const Message m = tc::encodeAddFilter(f);
  const auto bytes = m.bytes();
  // The offset of the attribute at the end of `types`, walking down.
  auto offsetOf = [&](std::vector<uint16_t> types) -> uint32_t {
    size_t begin = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(tcmsg)), end = bytes.size();
    uint32_t at = 0;
    for (uint16_t want : types) {
      bool found = false;
      for (size_t p = begin; p + sizeof(nlattr) <= end;) {
        const auto* nla = reinterpret_cast<const nlattr*>(bytes.data() + p);
        if ((nla->nla_type & NLA_TYPE_MASK) == want) {
          at = static_cast<uint32_t>(p);
          begin = p + sizeof(nlattr);
          end = p + nla->nla_len;
          found = true;
          break;
        }
        p += NLA_ALIGN(nla->nla_len);
      }
      EXPECT_TRUE(found) << "attribute " << want;
    }
    return at;
  };
  const uint32_t dst = offsetOf({TCA_OPTIONS, TCA_FLOWER_KEY_IPV4_DST});
  EXPECT_EQ(attributePath(bytes, sizeof(tcmsg), dst, m.policy()),
            "TCA_OPTIONS > TCA_FLOWER_KEY_IPV4_DST (offset " + std::to_string(dst) + ")");
  const uint32_t parms = offsetOf({TCA_OPTIONS, TCA_FLOWER_ACT, 1, TCA_ACT_OPTIONS, TCA_MIRRED_PARMS});
  EXPECT_EQ(attributePath(bytes, sizeof(tcmsg), parms, m.policy()),
            "TCA_OPTIONS > TCA_FLOWER_ACT > action > TCA_ACT_OPTIONS > TCA_MIRRED_PARMS (offset " +
                std::to_string(parms) + ")");
  // Inside an attribute, the attribute; without a policy, numbers.
  EXPECT_EQ(attributePath(bytes, sizeof(tcmsg), dst + 6, m.policy()),
            "TCA_OPTIONS > TCA_FLOWER_KEY_IPV4_DST (offset " + std::to_string(dst + 6) + ")");
  EXPECT_EQ(attributePath(bytes, sizeof(tcmsg), dst, nullptr),
            "attr " + std::to_string(TCA_OPTIONS) + " > attr " + std::to_string(TCA_FLOWER_KEY_IPV4_DST) + " (offset " +
                std::to_string(dst) + ")");
}

TEST(Decode, MalformedMessagesAreErrorsNotCrashes) {
  Fixture fx = load("reply_u32_dump");
  for (const auto& r : fx.replies()) {
    for (size_t cut = NLMSG_HDRLEN; cut < r.size(); cut += 3) {
      RawMessage truncated(r.begin(), r.begin() + static_cast<long>(cut));
      reinterpret_cast<nlmsghdr*>(truncated.data())->nlmsg_len = static_cast<uint32_t>(cut);
      (void)tc::decodeFilter(truncated);  // must not crash or read out of bounds
    }
  }
  SUCCEED();
}

}  // namespace
}  // namespace vfsteer::netlink
