// The policy codec (apply's cache of loaded policies): every policy comes
// back equal, field for field, and bytes it did not write are refused.
#include <gtest/gtest.h>

#include <filesystem>

#include "generators.hpp"
#include "vfsteer/policies/codec.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::policies {
namespace {

// Every field of the policy set, and set to something other than its default.
constexpr const char* kEveryField = R"(version: 1
device:
  pf: uplink0
  netns: lab-a
  eswitch: legacy
  profile: nfp
  bpf_offload: xdp
  host_xdp: off
  host_classifier: tables
  vfs:
    count: 3
    settings:
      - {vf: 0, mac: "02:00:00:00:00:10", vlan: 100, qos: 5, vlan_proto: 802.1ad, trust: true, spoofchk: false,
         link_state: disable, max_tx_rate_mbps: 1000, min_tx_rate_mbps: 10}
      - {vf: 2, vlan: 0, link_state: enable}
chains:
  - name: tagged
    priority: 7
    offload: skip-hw
    match: {src_mac: "02:00:00:00:00:00/ff:ff:ff:00:00:00", dst_mac: "02:00:00:00:00:01",
            vlan: {id: 100, prio: 3, proto: 802.1ad}, cvlan: {id: 200, prio: 1}, src_ip: 192.0.2.0/24,
            dst_ip: 10.1.2.3/32, ip_proto: udp, src_port: 53, dst_port: 5353}
    stages: [vlan_pop, {vlan_push: {id: 300, prio: 6}}, {police: {rate_kbps: 800, burst_kb: 64}}, {mark: 4294967295},
             {queue: 9}, {bpf: {object: x.o, program: count}}, drop]
  - name: tunnel
    priority: 8
    offload: skip-sw
    match: {tunnel: {type: geneve, vni: 4242, dst_port: 6082, src_ip: "2001:db8::/32", dst_ip: "2001:db8:1::1/128"},
            ip_proto: tcp, dst_ip: "2001:db8:2::/48"}
    stages: [tunnel_decap, {deliver: {queue: 3}}]
  - name: untagged-arp
    priority: 9
    match: {vlan: none, ethertype: arp}
    stages: [{mirror: uplink}, deliver: host]
)";

Policy roundTrip(const Policy& p) {
  auto back = decodePolicy(encodePolicy(p));
  EXPECT_TRUE(back.has_value());
  return back ? *back : Policy{};
}

TEST(PolicyCodec, APolicyWithEveryFieldSetComesBackEqual) {
  auto p = loadPolicyText(kEveryField, "/etc/vfsteer/every.yaml");
  ASSERT_TRUE(p.ok()) << p.error().describe();
  // The policy really sets what the test claims (not defaults that would
  // round-trip without being written).
  ASSERT_TRUE(p->device.netns);
  ASSERT_EQ(p->device.vfSettings.size(), 2u);
  ASSERT_TRUE(p->device.vfSettings[0].minTxRateMbps);
  ASSERT_FALSE(p->device.hostXdp);
  ASSERT_FALSE(p->device.hostSpecialize);
  ASSERT_TRUE(p->chains[0].match.cvlan);
  ASSERT_TRUE(p->chains[1].match.tunnel && p->chains[1].match.tunnel->srcIp);
  ASSERT_TRUE(p->chains[2].match.untagged);
  EXPECT_EQ(roundTrip(*p), *p);
}

TEST(PolicyCodec, GeneratedPoliciesAndTheExamplesComeBackEqual) {
  testing::Generator gen(20261204);
  int loaded = 0;
  for (int i = 0; i < 400; ++i) {
    auto p = loadPolicyText(gen.policyYaml(12, 4), "gen.yaml");
    if (!p.ok()) continue;
    ++loaded;
    ASSERT_EQ(roundTrip(*p), *p) << "policy " << i;
  }
  EXPECT_GT(loaded, 300);
  for (const auto& e : std::filesystem::directory_iterator(std::string(VFSTEER_SOURCE_DIR) + "/examples")) {
    if (e.path().extension() != ".yaml") continue;
    auto p = loadPolicyFile(e.path().string());
    ASSERT_TRUE(p.ok()) << p.error().describe();
    EXPECT_EQ(roundTrip(*p), *p) << e.path();
  }
}

TEST(PolicyCodec, EqualityNoticesEachKindOfDifference) {
  // What the round trips above rely on: == compares positions, stages and
  // device settings, not just names.
  auto p = loadPolicyText(kEveryField, "every.yaml");
  ASSERT_TRUE(p.ok()) << p.error().describe();
  Policy moved = *p;
  moved.chains[0].stages[1].pos.column += 1;
  EXPECT_NE(moved, *p);
  Policy stage = *p;
  std::get<VlanPushStage>(stage.chains[0].stages[1].op).prio = 0;
  EXPECT_NE(stage, *p);
  Policy vf = *p;
  vf.device.vfSettings[0].minTxRateMbps.reset();
  EXPECT_NE(vf, *p);
}

TEST(PolicyCodec, RefusesBytesItDidNotWrite) {
  auto p = loadPolicyText(kEveryField, "every.yaml");
  ASSERT_TRUE(p.ok()) << p.error().describe();
  const std::string bytes = encodePolicy(*p);
  for (size_t n = 0; n < bytes.size(); ++n)
    ASSERT_FALSE(decodePolicy(std::string_view(bytes).substr(0, n))) << "cut at " << n << " of " << bytes.size();
  EXPECT_FALSE(decodePolicy(bytes + '\0')) << "a byte after the end";
  // The first chain's offload mode, one past the last value.
  Policy one;
  one.chains.resize(1);
  std::string chain = encodePolicy(one);
  ASSERT_TRUE(decodePolicy(chain));
  const std::string head = encodePolicy(Policy{});
  // Policy{} encodes with no chains: the chain's bytes start where its
  // count ends, and the name (4 bytes of size, empty) and priority (4)
  // come before the offload byte.
  const size_t offload = head.size() + 4 + 4;
  ASSERT_EQ(chain[offload], static_cast<char>(OffloadMode::kAuto));
  chain[offload] = 3;
  EXPECT_FALSE(decodePolicy(chain)) << "offload mode 3";
}

}  // namespace
}  // namespace vfsteer::policies
