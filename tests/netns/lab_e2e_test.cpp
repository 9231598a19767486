// End to end on the real kernel: `vfsteer lab up`, `vfsteer apply`, real
// frames sent from vfs-wire (or a VF), captured in the VF namespaces, and
// `vfsteer report` counters checked against what was sent.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "lab_fixture.hpp"
#include "packets.hpp"
#include "scratch_netns.hpp"

namespace vfsteer::testing {
namespace {

using nlohmann::json;
using FB = FrameBuilder;

const Mac kWire = mac("02:00:00:00:00:fe");
const Mac kUplink = mac("02:00:00:00:00:ff");
Mac vfMac(int i) { return mac(("02:00:00:00:00:1" + std::to_string(i)).c_str()); }

// device.host_xdp and device.host_classifier of the policies tests write:
// the data-path tests run with the XDP entry ("auto") and in tc only
// ("off"), each with the classifier made for the policy ("auto"; the
// tests' policies are small) and with the tables ("tables").
std::string gHostXdp = "auto";
std::string gHostClassifier = "auto";

std::string writePolicy(const std::string& chains) {
  static int n = 0;
  const std::string path = "/tmp/vfsteer-e2e-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".yaml";
  std::ofstream(path) << "version: 1\ndevice: {pf: uplink0, netns: " << labNetns("host")
                      << ", vfs: {count: 4}, host_xdp: " << gHostXdp << ", host_classifier: " << gHostClassifier
                      << "}\nchains:\n"
                      << chains;
  return path;
}

json report() {
  auto r = vfsteerCli({"report", "-o", "json", "--instance", labInstance()});
  EXPECT_EQ(r.status, 0) << r.err;
  return r.status == 0 ? json::parse(r.out) : json();
}

const json& chainIn(const json& rep, const std::string& name) {
  for (const auto& c : rep["chains"])
    if (c["name"] == name) return c;
  static const json none;
  ADD_FAILURE() << "no chain " << name << " in the report";
  return none;
}

uint64_t chainPackets(const json& rep, const std::string& name) {
  const json& c = chainIn(rep, name);
  return c.contains("counters") ? c["counters"]["packets"].get<uint64_t>() : 0;
}

uint64_t stagePackets(const json& rep, const std::string& name, size_t stage) {
  const json& c = chainIn(rep, name);
  return c["stages"][stage].value("packets", uint64_t{0});
}

// Everything that arrives at the VFs and at the wire while `send` runs.
struct Arrivals {
  std::map<std::string, std::vector<Captured>> at;
  std::vector<Captured> with(const std::string& where, const Bytes& marker) const {
    std::vector<Captured> out;
    auto it = at.find(where);
    if (it == at.end()) return out;
    for (const auto& c : it->second)
      if (contains(c.frame, marker)) out.push_back(c);
    return out;
  }
  size_t countEverywhere(const Bytes& marker) const {
    size_t n = 0;
    for (const auto& [where, frames] : at) n += with(where, marker).size();
    return n;
  }
};

Arrivals sendAndCapture(const std::string& netns, const std::string& ifname, const std::vector<Bytes>& frames) {
  std::map<std::string, Capture> caps;
  for (int i = 0; i < 4; ++i) {
    auto c = Capture::open(labNetns("vf" + std::to_string(i)), "vf" + std::to_string(i));
    EXPECT_TRUE(c.ok()) << c.error().describe();
    caps.emplace("vf" + std::to_string(i), std::move(*c));
  }
  auto w = Capture::open(labNetns("wire"), "wire0");
  EXPECT_TRUE(w.ok());
  caps.emplace("wire0", std::move(*w));
  auto sent = sendFrames(netns, ifname, frames);
  EXPECT_TRUE(sent.ok()) << sent.error().describe();
  Arrivals a;
  for (auto& [where, cap] : caps) {
    a.at[where] = cap.collect();
    EXPECT_EQ(cap.dropped(), 0u) << "the capture on " << where << " overflowed; what it saw is incomplete";
  }
  return a;
}

Arrivals fromWire(const std::vector<Bytes>& frames) { return sendAndCapture(labNetns("wire"), "wire0", frames); }

Bytes udp4(const Mac& dst, const char* src, const char* dstIp, uint16_t dport, const std::string& marker) {
  return FB::ethernet(dst, kWire, 0x0800, FB::ipv4(src, dstIp, 17, FB::udp(40000, dport, text(marker))));
}

class LabE2E : public LabTest {
 protected:
  void apply(const std::string& chains) {
    auto r = vfsteerCli({"apply", "-f", writePolicy(chains)});
    ASSERT_EQ(r.status, 0) << r.err << r.out;
  }
};

// The same packets and expectations with the host datapath's XDP entry and
// without it (chains the XDP entry can run take it in the first, tc in the
// second), and with the classifier made for the policy and with the tables.
struct DataPathVariant {
  const char* hostXdp;
  const char* hostClassifier;
};
void PrintTo(const DataPathVariant& v, std::ostream* os) {
  *os << "host_xdp: " << v.hostXdp << ", host_classifier: " << v.hostClassifier;
}

class LabDataPath : public LabE2E, public ::testing::WithParamInterface<DataPathVariant> {
 protected:
  void SetUp() override {
    LabE2E::SetUp();
    gHostXdp = GetParam().hostXdp;
    gHostClassifier = GetParam().hostClassifier;
  }
  void TearDown() override {
    LabE2E::TearDown();
    gHostXdp = "auto";
    gHostClassifier = "auto";
  }
};
INSTANTIATE_TEST_SUITE_P(Hooks, LabDataPath,
                         ::testing::Values(DataPathVariant{"auto", "auto"}, DataPathVariant{"off", "auto"},
                                           DataPathVariant{"auto", "tables"}, DataPathVariant{"off", "tables"}),
                         [](const auto& p) {
                           return std::string(std::string(p.param.hostXdp) == "auto" ? "Xdp" : "TcOnly") +
                                  (std::string(p.param.hostClassifier) == "auto" ? "Specialized" : "Tables");
                         });

TEST_P(LabDataPath, Ipv4AndIpv6L4MatchesDeliverTheFrameUnchanged) {
  apply(R"(  - {name: v4, priority: 1, match: {ip_proto: udp, dst_ip: 10.1.0.0/24, dst_port: 7001}, stages: [{deliver: {vf: 0}}]}
  - {name: v6, priority: 2, match: {ip_proto: tcp, dst_ip: "2001:db8:1::/64", dst_port: 7002}, stages: [{deliver: {vf: 1}}]}
)");
  Bytes v4 = udp4(vfMac(0), "10.9.0.1", "10.1.0.7", 7001, "v4-match");
  Bytes v4miss = udp4(vfMac(0), "10.9.0.1", "10.1.0.7", 7009, "v4-miss");
  Bytes v6 = FB::ethernet(vfMac(1), kWire, 0x86dd,
                          FB::ipv6("2001:db8:9::1", "2001:db8:1::5", 6, FB::tcp(5000, 7002, text("v6-match"))));
  Bytes v6ext = FB::ethernet(vfMac(1), kWire, 0x86dd,
                             FB::ipv6WithHopByHop("2001:db8:9::1", "2001:db8:1::6", 6,
                                                  FB::tcp(5000, 7002, text("v6-extension"))));
  auto got = fromWire({v4, v4miss, v6, v6ext});
  auto a = got.with("vf0", text("v4-match"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].frame, v4) << "delivered unchanged";
  EXPECT_EQ(got.countEverywhere(text("v4-miss")), 0u) << "unmatched traffic stays on the host";
  ASSERT_EQ(got.with("vf1", text("v6-match")).size(), 1u);
  EXPECT_EQ(got.with("vf1", text("v6-match"))[0].frame, v6);
  EXPECT_EQ(got.with("vf1", text("v6-extension")).size(), 1u) << "IPv6 extension headers are skipped";
  auto rep = report();
  EXPECT_EQ(chainPackets(rep, "v4"), 1u);
  EXPECT_EQ(chainPackets(rep, "v6"), 2u);
  EXPECT_EQ(stagePackets(rep, "v6", 0), 2u);
  EXPECT_GE(rep["host_totals"]["unmatched"].get<uint64_t>(), 1u);
}

TEST_P(LabDataPath, VlanPopPushAndQinQ) {
  apply(R"(  - {name: pop, priority: 1, match: {vlan: 200, ip_proto: udp, dst_port: 7003}, stages: [vlan_pop, {deliver: {vf: 2}}]}
  - {name: push, priority: 2, match: {ip_proto: udp, dst_port: 7008}, stages: [{vlan_push: {id: 55, prio: 3}}, {deliver: {vf: 0}}]}
  - {name: qinq, priority: 3, match: {vlan: {id: 300, proto: 802.1ad}, cvlan: 301}, stages: [vlan_pop, {deliver: {vf: 3}}]}
  - {name: qinq2, priority: 4, match: {vlan: {id: 310, proto: 802.1ad}, cvlan: 311}, stages: [vlan_pop, vlan_pop, {deliver: {vf: 1}}]}
)");
  Bytes inner = udp4(vfMac(2), "10.9.0.1", "10.2.0.1", 7003, "vlan-pop");
  Bytes pushed = udp4(vfMac(0), "10.9.0.1", "10.2.0.1", 7008, "vlan-push");
  Bytes q = udp4(vfMac(3), "10.9.0.1", "10.2.0.1", 9, "qinq-one");
  Bytes q2 = udp4(vfMac(1), "10.9.0.1", "10.2.0.1", 9, "qinq-two");
  auto got = fromWire({FB::tagged(inner, 0x8100, 200), pushed,
                       FB::tagged(FB::tagged(q, 0x8100, 301), 0x88a8, 300),
                       FB::tagged(FB::tagged(q2, 0x8100, 311), 0x88a8, 310)});
  auto popped = got.with("vf2", text("vlan-pop"));
  ASSERT_EQ(popped.size(), 1u);
  EXPECT_EQ(popped[0].frame, inner) << "the tag the kernel had lifted into metadata is gone";
  auto p = got.with("vf0", text("vlan-push"));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].frame, FB::tagged(pushed, 0x8100, (3 << 13) | 55));
  auto one = got.with("vf3", text("qinq-one"));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].frame, FB::tagged(q, 0x8100, 301)) << "outer 802.1ad popped, inner 802.1Q kept";
  auto two = got.with("vf1", text("qinq-two"));
  ASSERT_EQ(two.size(), 1u);
  EXPECT_EQ(two[0].frame, q2);
  auto rep = report();
  for (const char* c : {"pop", "push", "qinq", "qinq2"}) EXPECT_EQ(chainPackets(rep, c), 1u) << c;
}

// vlan: none takes untagged frames only; the same packet with a tag goes on
// to the next chain (whether the kernel lifted the tag into metadata or not).
TEST_P(LabDataPath, VlanNoneTakesUntaggedFramesOnly) {
  apply(R"(  - {name: plain, priority: 1, match: {vlan: none, ip_proto: udp, dst_port: 7201}, stages: [{deliver: {vf: 0}}]}
  - {name: rest, priority: 2, match: {ip_proto: udp, dst_port: 7201}, stages: [{deliver: {vf: 1}}]}
)");
  Bytes plain = udp4(vfMac(0), "10.9.0.1", "10.2.0.1", 7201, "plain-frame");
  Bytes inner = udp4(vfMac(1), "10.9.0.1", "10.2.0.1", 7201, "vlan5-frame");
  auto got = fromWire({plain, FB::tagged(inner, 0x8100, 5)});
  EXPECT_EQ(got.with("vf0", text("plain-frame")).size(), 1u);
  EXPECT_EQ(got.with("vf1", text("plain-frame")).size(), 0u);
  EXPECT_EQ(got.with("vf1", text("vlan5-frame")).size(), 1u) << "the tagged frame is not the untagged chain's";
  EXPECT_EQ(got.with("vf0", text("vlan5-frame")).size(), 0u);
  auto rep = report();
  EXPECT_EQ(chainPackets(rep, "plain"), 1u);
  EXPECT_EQ(chainPackets(rep, "rest"), 1u);
}

TEST_P(LabDataPath, VxlanAndGeneveDecap) {
  apply(R"(  - {name: vx, priority: 1, match: {tunnel: {type: vxlan, vni: 77}}, stages: [tunnel_decap, {deliver: {vf: 0}}]}
  - {name: gn, priority: 2, match: {tunnel: {type: geneve, vni: 78}, ip_proto: udp}, stages: [tunnel_decap, {deliver: {vf: 1}}]}
)");
  Bytes inner0 = FB::ethernet(vfMac(0), mac("02:aa:00:00:00:01"), 0x0800,
                              FB::ipv4("172.16.0.1", "172.16.0.2", 17, FB::udp(1, 2, text("vxlan-inner"))));
  Bytes inner1 = FB::ethernet(vfMac(1), mac("02:aa:00:00:00:02"), 0x0800,
                              FB::ipv4("172.16.1.1", "172.16.1.2", 17, FB::udp(1, 2, text("geneve-inner"))));
  Bytes inner2 = FB::ethernet(vfMac(1), mac("02:aa:00:00:00:03"), 0x0800,
                              FB::ipv4("172.16.1.1", "172.16.1.2", 17, FB::udp(1, 2, text("other-vni"))));
  auto outer = [](uint16_t port, const Bytes& tunnel) {
    return FB::ethernet(kUplink, kWire, 0x0800, FB::ipv4("192.0.2.10", "192.0.2.20", 17, FB::udp(33333, port, tunnel)));
  };
  auto got = fromWire({outer(4789, FB::vxlan(77, inner0)), outer(6081, FB::geneve(78, inner1, 2)),
                       outer(4789, FB::vxlan(79, inner2))});
  auto a = got.with("vf0", text("vxlan-inner"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].frame, inner0) << "exactly the inner frame";
  auto b = got.with("vf1", text("geneve-inner"));
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].frame, inner1) << "GENEVE options removed with the header";
  EXPECT_EQ(got.countEverywhere(text("other-vni")), 0u);
  auto rep = report();
  EXPECT_EQ(chainPackets(rep, "vx"), 1u);
  EXPECT_EQ(chainPackets(rep, "gn"), 1u);
}

TEST_P(LabDataPath, PoliceDropsAboveItsRate) {
  // 800 kbit/s is 100 kB/s; a burst of 4 KB lets about four 1000-byte frames
  // through when 100 arrive at once.
  apply(R"(  - {name: metered, priority: 1, match: {ip_proto: udp, dst_port: 7005}, stages: [{police: {rate_kbps: 800, burst_kb: 4}}, {deliver: {vf: 2}}]}
)");
  std::vector<Bytes> frames;
  std::string pad(960, 'p');
  for (int i = 0; i < 100; ++i) frames.push_back(udp4(vfMac(2), "10.9.0.1", "10.5.0.1", 7005, "police-" + pad));
  auto got = fromWire(frames);
  const size_t passed = got.with("vf2", text("police-")).size();
  EXPECT_GE(passed, 3u);
  EXPECT_LE(passed, 10u);
  auto rep = report();
  EXPECT_EQ(stagePackets(rep, "metered", 0), 100u);
  EXPECT_EQ(stagePackets(rep, "metered", 1), passed);
  EXPECT_EQ(rep["host_totals"]["policed"].get<uint64_t>(), 100u - passed);
}

TEST_F(LabE2E, UserBpfStageRunsAndTheChainContinues) {
  apply(R"(  - {name: inspect, priority: 1, match: {ip_proto: udp, dst_port: 7006}, stages: [{bpf: {object: examples/bpf/count.bpf.o, program: count}}, {deliver: {vf: 3}}]}
)");
  std::vector<Bytes> frames;
  for (int i = 0; i < 5; ++i) frames.push_back(udp4(vfMac(3), "10.9.0.1", "10.6.0.1", 7006, "bpf-stage"));
  auto got = fromWire(frames);
  EXPECT_EQ(got.with("vf3", text("bpf-stage")).size(), 5u);
  int fd = bpf_obj_get((labPins() + "/count_packets").c_str());
  ASSERT_GE(fd, 0) << "the example pins its counter map in vfsteer's directory";
  uint32_t zero = 0;
  uint64_t counted = 0;
  ASSERT_EQ(bpf_map_lookup_elem(fd, &zero, &counted), 0);
  close(fd);
  EXPECT_EQ(counted, 5u);
  auto rep = report();
  EXPECT_EQ(stagePackets(rep, "inspect", 0), 5u);
  EXPECT_EQ(stagePackets(rep, "inspect", 1), 5u);
  EXPECT_EQ(rep["host_totals"]["bpf_stage_missing"].get<uint64_t>(), 0u);
}

TEST_P(LabDataPath, DropUnmatchedAndMalformedTakeTheirPaths) {
  apply(R"(  - {name: blocked, priority: 1, match: {src_ip: 192.0.2.0/24}, stages: [drop]}
  - {name: anything-udp, priority: 2, match: {ip_proto: udp}, stages: [{deliver: {vf: 0}}]}
)");
  std::vector<Bytes> frames;
  for (int i = 0; i < 3; ++i) frames.push_back(udp4(vfMac(0), "192.0.2.9", "10.7.0.1", 9, "dropped"));
  Bytes notUdp = FB::ethernet(vfMac(0), kWire, 0x0800, FB::ipv4("10.9.0.1", "10.7.0.1", 6, FB::tcp(1, 2, text("unmatched"))));
  frames.push_back(notUdp);
  frames.push_back(FB::ethernet(vfMac(0), kWire, 0x0806, text("arp-like-unmatched")));
  // Malformed: an IPv4 header claiming 60 bytes in a 60-byte frame, an IHL
  // below 5, and an IPv6 extension header running past the frame.
  Bytes longIhl = udp4(vfMac(0), "10.9.0.1", "10.7.0.1", 9, "malformed-ihl");
  longIhl[14] = 0x4f;
  Bytes shortIhl = udp4(vfMac(0), "10.9.0.1", "10.7.0.1", 9, "malformed-short");
  shortIhl[14] = 0x43;
  Bytes badExt = FB::ethernet(vfMac(0), kWire, 0x86dd,
                              FB::ipv6("2001:db8::1", "2001:db8::2", 0, Bytes{17, 255, 0, 0, 0, 0, 0, 0}));
  frames.push_back(longIhl);
  frames.push_back(shortIhl);
  frames.push_back(badExt);
  auto got = fromWire(frames);
  EXPECT_EQ(got.countEverywhere(text("dropped")), 0u);
  EXPECT_EQ(got.countEverywhere(text("unmatched")), 0u);
  EXPECT_EQ(got.countEverywhere(text("malformed")), 0u) << "malformed frames are never steered";
  auto rep = report();
  EXPECT_EQ(chainPackets(rep, "blocked"), 3u);
  EXPECT_EQ(chainPackets(rep, "anything-udp"), 0u);
  EXPECT_EQ(rep["host_totals"]["malformed"].get<uint64_t>(), 3u);
  EXPECT_EQ(rep["host_totals"]["unmatched"].get<uint64_t>(), 2u);
}

TEST_P(LabDataPath, MirrorAndTrafficFromAVfToTheUplink) {
  apply(R"(  - {name: copy, priority: 1, match: {ip_proto: udp, dst_port: 7009}, stages: [{mirror: {vf: 1}}, {deliver: {vf: 0}}]}
  - {name: out, priority: 1, match: {from: {vf: 2}, ip_proto: udp, dst_port: 7010}, stages: [{deliver: uplink}]}
)");
  auto got = fromWire({udp4(vfMac(0), "10.9.0.1", "10.8.0.1", 7009, "mirrored")});
  EXPECT_EQ(got.with("vf0", text("mirrored")).size(), 1u);
  EXPECT_EQ(got.with("vf1", text("mirrored")).size(), 1u);
  Bytes up = FB::ethernet(kWire, vfMac(2), 0x0800, FB::ipv4("10.8.0.2", "10.9.0.1", 17, FB::udp(1, 7010, text("from-vf2"))));
  auto back = sendAndCapture(labNetns("vf2"), "vf2", {up});
  auto w = back.with("wire0", text("from-vf2"));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].frame, up);
  auto rep = report();
  EXPECT_EQ(chainPackets(rep, "copy"), 1u);
  EXPECT_EQ(chainPackets(rep, "out"), 1u);
}

// A capture on uplink0 sees what reaches its stack (taps run before tc
// ingress); a frame the XDP entry redirects never gets there.
TEST_F(LabE2E, XdpEntryRunsItsChainsBeforeTheStackAndPassesTheRestToTc) {
  const std::string chains = R"(  - {name: fast, priority: 1, match: {ip_proto: udp, dst_port: 7100}, stages: [vlan_push: {id: 42}, {deliver: {vf: 0}}]}
  - {name: marked, priority: 2, match: {ip_proto: udp, dst_port: 7101}, stages: [{mark: 5}, {deliver: {vf: 1}}]}
)";
  auto tagged = [](const Bytes& plain, uint8_t vid) {
    Bytes out(plain.begin(), plain.begin() + 12);
    for (uint8_t b : {uint8_t{0x81}, uint8_t{0x00}, uint8_t{0x00}, vid}) out.push_back(b);
    out.insert(out.end(), plain.begin() + 12, plain.end());
    return out;
  };
  // Besides one frame per chain: a tagged frame for the tc chain (the
  // kernel moves its tag out of the frame between XDP and tc) and one no
  // chain matches. XDP passes the last three on to tc with its verdict.
  auto send = [&] {
    auto tap = Capture::open(labNetns("host"), "uplink0");
    EXPECT_TRUE(tap.ok());
    auto got = fromWire({udp4(vfMac(0), "10.9.0.1", "10.10.0.1", 7100, "xdp-fast"),
                         udp4(vfMac(1), "10.9.0.1", "10.10.0.1", 7101, "tc-marked"),
                         tagged(udp4(vfMac(1), "10.9.0.1", "10.10.0.1", 7101, "tc-tagged"), 9),
                         udp4(vfMac(1), "10.9.0.1", "10.10.0.1", 7199, "no-chain")});
    got.at["uplink0"] = tap->collect();
    return got;
  };
  apply(chains);
  json rep = report();
  EXPECT_EQ(chainIn(rep, "fast")["host_hook"], "xdp");
  EXPECT_EQ(chainIn(rep, "marked")["host_hook"], "tc");
  EXPECT_EQ(chainIn(rep, "marked")["host_hook_reason"],
            "stage 0 (mark 5) sets the skb mark; XDP runs before there is an skb");
  ASSERT_EQ(rep["datapath"]["xdp_attachments"].size(), 1u) << rep["datapath"].dump();
  EXPECT_EQ(rep["datapath"]["xdp_attachments"][0]["ifname"], "uplink0");
  EXPECT_EQ(rep["datapath"]["xdp_attachments"][0]["mode"], "native");
  EXPECT_EQ(rep["datapath"]["xdp_attachments"][0]["attached"], true);

  auto got = send();
  auto fast = got.with("vf0", text("xdp-fast"));
  ASSERT_EQ(fast.size(), 1u);
  const Bytes pushed = tagged(udp4(vfMac(0), "10.9.0.1", "10.10.0.1", 7100, "xdp-fast"), 42);
  EXPECT_EQ(fast[0].frame, pushed) << "the XDP entry pushed the tag";
  EXPECT_EQ(got.with("vf1", text("tc-marked")).size(), 1u);
  EXPECT_EQ(got.with("vf1", text("tc-tagged")).size(), 1u);
  EXPECT_EQ(got.with("uplink0", text("xdp-fast")).size(), 0u) << "redirected in XDP, before the stack";
  EXPECT_EQ(got.with("uplink0", text("tc-marked")).size(), 1u) << "passed on to the stack and tc";
  rep = report();
  EXPECT_EQ(chainPackets(rep, "fast"), 1u) << "counted once";
  EXPECT_EQ(chainPackets(rep, "marked"), 2u) << "counted once each, in tc";
  EXPECT_EQ(rep["host_totals"]["unmatched"].get<uint64_t>(), 1u) << "counted once, in tc";
  EXPECT_EQ(rep["host_totals"]["classified_in_xdp"].get<uint64_t>(), 3u)
      << "tc took XDP's verdict for the frames it passed on and classified none of them again";

  // host_xdp: off takes the entry away; the same chains run in tc.
  gHostXdp = "off";
  apply(chains);
  gHostXdp = "auto";
  rep = report();
  EXPECT_EQ(chainIn(rep, "fast")["host_hook"], "tc");
  EXPECT_EQ(chainIn(rep, "fast")["host_hook_reason"], "the policy sets device.host_xdp: off");
  EXPECT_TRUE(rep["datapath"]["xdp_attachments"].empty());
  got = send();
  ASSERT_EQ(got.with("vf0", text("xdp-fast")).size(), 1u);
  EXPECT_EQ(got.with("vf0", text("xdp-fast"))[0].frame, pushed) << "tc pushes the same tag";
  EXPECT_EQ(got.with("uplink0", text("xdp-fast")).size(), 1u) << "now through the stack";
  EXPECT_EQ(got.with("vf1", text("tc-tagged")).size(), 1u);
  rep = report();
  EXPECT_EQ(chainPackets(rep, "fast"), 2u);
  EXPECT_EQ(chainPackets(rep, "marked"), 4u);
  EXPECT_EQ(rep["host_totals"]["unmatched"].get<uint64_t>(), 2u);
  EXPECT_EQ(rep["host_totals"]["classified_in_xdp"].get<uint64_t>(), 3u) << "no XDP entry, no verdict to take";

  // And back: the entry returns.
  apply(chains);
  rep = report();
  ASSERT_EQ(rep["datapath"]["xdp_attachments"].size(), 1u);
  EXPECT_EQ(rep["datapath"]["xdp_attachments"][0]["attached"], true);
}

TEST_P(LabDataPath, SecondApplyWritesNothingAndAPolicyChangeHasNoWindow) {
  const std::string a = writePolicy(R"(  - {name: flow, priority: 1, match: {ip_proto: udp, dst_port: 7020}, stages: [{deliver: {vf: 0}}]}
)");
  const std::string b = writePolicy(R"(  - {name: flow, priority: 1, match: {ip_proto: udp, dst_port: 7020}, stages: [{deliver: {vf: 1}}]}
)");
  ASSERT_EQ(vfsteerCli({"apply", "-f", a}).status, 0);
  auto before = report();
  auto again = vfsteerCli({"apply", "-f", a});
  ASSERT_EQ(again.status, 0);
  EXPECT_NE(again.out.find("nothing to change"), std::string::npos) << again.out;
  auto after = report();
  EXPECT_EQ(after["datapath"]["generation"], before["datapath"]["generation"]);
  EXPECT_EQ(after["datapath"]["prog_id"], before["datapath"]["prog_id"]);
  EXPECT_EQ(after["datapath"]["classifier"],
            std::string(GetParam().hostClassifier) == "auto" ? "specialized" : "tables");

  // Stream frames while the policy changes: each must reach vf0 (old) or
  // vf1 (new); none may fall to the default path in between.
  std::map<std::string, Capture> caps;
  for (int i : {0, 1}) caps.emplace("vf" + std::to_string(i), std::move(*Capture::open(labNetns("vf" + std::to_string(i)), "vf" + std::to_string(i))));
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::thread sender([&] {
    while (!stop) {
      std::vector<Bytes> burst;
      for (int i = 0; i < 20; ++i) burst.push_back(udp4(vfMac(0), "10.9.0.1", "10.20.0.1", 7020, "swap"));
      if (sendFrames(labNetns("wire"), "wire0", burst).ok()) sent += 20;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto changed = vfsteerCli({"apply", "-f", b});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stop = true;
  sender.join();
  ASSERT_EQ(changed.status, 0) << changed.err;
  size_t old = 0, fresh = 0;
  for (const auto& c : caps.at("vf0").collect()) old += contains(c.frame, text("swap"));
  for (const auto& c : caps.at("vf1").collect()) fresh += contains(c.frame, text("swap"));
  // A capture that overflowed loses frames the datapath delivered (the
  // default socket buffer holds about 230; a slow machine sends 12 bursts
  // before the swap): that is the harness, not the swap.
  ASSERT_EQ(caps.at("vf0").dropped() + caps.at("vf1").dropped(), 0u) << "a capture socket overflowed";
  EXPECT_GT(old, 0u);
  EXPECT_GT(fresh, 0u);
  EXPECT_EQ(old + fresh, static_cast<size_t>(sent.load())) << "a frame was lost during the swap";
}

// The netdevsim profile's NIC demux program, emulated in software on the
// lab's uplink: a drop chain ends at the "NIC" (the host never sees it),
// a chain the NIC only demuxes is handed to the host datapath.
TEST_F(LabE2E, EmulatedBpfNicDemuxDropsInTheNicAndTrapsTheRest) {
  auto policy = writePolicy(R"(  - {name: blocked, priority: 1, match: {src_ip: 192.0.2.0/24}, stages: [drop]}
  - {name: web, priority: 2, match: {vlan: 100, ip_proto: udp, dst_port: 7040}, stages: [vlan_pop, {deliver: {vf: 1}}]}
)");
  auto r = vfsteerCli({"apply", "-f", policy, "--profile", "netdevsim", "--emulate-nic"});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("cls_bpf skip_hw, emulating the NIC"), std::string::npos) << r.out;
  Bytes blocked = udp4(vfMac(0), "192.0.2.9", "10.1.0.7", 7040, "nic-drop");
  Bytes web = udp4(vfMac(1), "10.9.0.1", "10.1.0.7", 7040, "nic-trap");
  auto got = fromWire({blocked, blocked, FB::tagged(web, 0x8100, 100)});
  EXPECT_EQ(got.countEverywhere(text("nic-drop")), 0u);
  auto w = got.with("vf1", text("nic-trap"));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].frame, web);
  auto rep = report();
  EXPECT_TRUE(rep["nic_emulated"].get<bool>());
  EXPECT_TRUE(rep["nic_program"]["attached"].get<bool>());
  EXPECT_FALSE(rep["nic_program"]["in_hw"].get<bool>()) << "emulated: in software";
  EXPECT_EQ(chainIn(rep, "blocked")["split"], 1) << "the drop runs in the NIC";
  EXPECT_EQ(chainPackets(rep, "blocked"), 0u) << "the host never sees what the NIC dropped";
  EXPECT_EQ(chainPackets(rep, "web"), 1u);
  auto show = runProgram({"/usr/sbin/tc", "-n", labNetns("host"), "-j", "filter", "show", "dev", "uplink0", "ingress"});
  ASSERT_EQ(show.status, 0);
  bool demux = false;
  for (const auto& f : json::parse(show.out))
    if (f.value("pref", 0) == 10000 && f.contains("options"))
      demux |= f["options"].value("skip_hw", false) && f["options"]["prog"].value("name", "") == "vfsteer_demux";
  EXPECT_TRUE(demux) << show.out;
  auto again = vfsteerCli({"apply", "-f", policy, "--profile", "netdevsim", "--emulate-nic"});
  EXPECT_NE(again.out.find("nothing to change"), std::string::npos) << again.out;
}

// Engine u32 (profile ixgbe), emulated in software on the lab's uplink:
// the tables, links and rules laid out for ixgbe's flow director steer real
// frames as the chains say, in the kernel's own u32 classifier. Port rules
// of one address share a table; UDP to the same port is not TCP's; what
// no NIC rule matches reaches the host datapath.
TEST_F(LabE2E, EmulatedU32LayoutSteersByAddressProtocolAndPort) {
  auto policy = writePolicy(R"(  - {name: web, priority: 1, match: {dst_ip: 10.1.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}
  - {name: tls, priority: 2, match: {dst_ip: 10.1.0.0/24, ip_proto: tcp, dst_port: 443}, stages: [{deliver: {vf: 1}}]}
  - {name: dns, priority: 3, match: {dst_ip: 10.1.1.0/24, ip_proto: udp, dst_port: 80}, stages: [{deliver: {vf: 2}}]}
  - {name: rest, priority: 4, match: {ip_proto: udp, dst_port: 7060}, stages: [{deliver: {vf: 3}}]}
)");
  auto r = vfsteerCli({"apply", "-f", policy, "--profile", "ixgbe", "--emulate-nic"});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("add u32 table 2: on uplink0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("add the u32 link 800:0:7fc into table 2: on uplink0"), std::string::npos) << r.out;
  auto tcp4 = [](int vf, const char* dst, uint16_t dport, const std::string& marker) {
    return FB::ethernet(vfMac(vf), kWire, 0x0800, FB::ipv4("10.9.0.1", dst, 6, FB::tcp(40000, dport, text(marker))));
  };
  auto got = fromWire({tcp4(0, "10.1.0.7", 80, "u32-web"), tcp4(1, "10.1.0.8", 443, "u32-tls"),
                       udp4(vfMac(2), "10.9.0.1", "10.1.1.9", 80, "u32-dns"),
                       tcp4(2, "10.1.1.9", 80, "u32-tcp-not-dns"),
                       udp4(vfMac(3), "10.9.0.1", "10.2.0.1", 7060, "u32-rest")});
  EXPECT_EQ(got.with("vf0", text("u32-web")).size(), 1u);
  EXPECT_EQ(got.with("vf1", text("u32-tls")).size(), 1u);
  EXPECT_EQ(got.with("vf2", text("u32-dns")).size(), 1u);
  EXPECT_EQ(got.countEverywhere(text("u32-tcp-not-dns")), 0u) << "TCP to the DNS table's address matches no rule";
  EXPECT_EQ(got.with("vf3", text("u32-rest")).size(), 1u) << "an IPv4-and-IPv6 chain runs on the host";
  auto rep = report();
  EXPECT_EQ(chainIn(rep, "web")["split"], 1);
  EXPECT_EQ(chainIn(rep, "rest")["split"], 0);
  EXPECT_EQ(chainPackets(rep, "web"), 0u) << "the host never sees what the NIC steered";
  EXPECT_EQ(chainPackets(rep, "rest"), 1u);
  auto again = vfsteerCli({"apply", "-f", policy, "--profile", "ixgbe", "--emulate-nic"});
  EXPECT_NE(again.out.find("nothing to change"), std::string::npos) << again.out << again.err;
  auto down = vfsteerCli({"teardown", "--instance", labInstance()});
  ASSERT_EQ(down.status, 0) << down.err;
  auto show = runProgram({"/usr/sbin/tc", "-n", labNetns("host"), "filter", "show", "dev", "uplink0", "ingress"});
  EXPECT_EQ(show.out, "") << "tables, links and rules are gone";
}

// A chain leaves and its u32 table goes while another table stays: the
// kernel lets go of a table only after its link's deferred release (an RCU
// grace period), so the table's removal right after the link's is refused
// as in use at first (this failed every time before the retry).
TEST_F(LabE2E, U32TableGoesWithItsLinkWhileAnotherTableStays) {
  const std::string web = "  - {name: web, priority: 1, match: {dst_ip: 10.1.0.0/24, ip_proto: tcp, dst_port: 80}, "
                          "stages: [{deliver: {vf: 0}}]}\n";
  const std::string dns = "  - {name: dns, priority: 2, match: {dst_ip: 10.1.1.0/24, ip_proto: udp, dst_port: 53}, "
                          "stages: [{deliver: {vf: 2}}]}\n";
  const auto both = writePolicy(web + dns), one = writePolicy(web);
  auto tables = [] {
    auto show = runProgram({"/usr/sbin/tc", "-n", labNetns("host"), "filter", "show", "dev", "uplink0", "ingress"});
    int n = 0;
    for (size_t at = 0; (at = show.out.find("ht divisor 1", at)) != std::string::npos; ++at) ++n;
    return n;  // the root table counts too
  };
  for (int round = 0; round < 3; ++round) {
    auto up = vfsteerCli({"apply", "-f", both, "--profile", "ixgbe", "--emulate-nic"});
    ASSERT_EQ(up.status, 0) << up.err << up.out;
    EXPECT_EQ(tables(), 3);
    auto down = vfsteerCli({"apply", "-f", one, "--profile", "ixgbe", "--emulate-nic"});
    ASSERT_EQ(down.status, 0) << "round " << round << ": " << down.err << down.out;
    EXPECT_NE(down.out.find("remove u32 table 2: on uplink0"), std::string::npos) << down.out;
    EXPECT_EQ(tables(), 2);
  }
}

// Someone else's u32 on the uplink: u32 tables are shared by the device's
// u32 priorities and ixgbe offloads only the first, so apply refuses before
// it changes anything, and says which filter is in the way.
TEST_F(LabE2E, U32EngineRefusesAnUplinkWithForeignU32Filters) {
  ScratchNetns::ip({"netns", "exec", labNetns("host"), "tc", "qdisc", "add", "dev", "uplink0", "clsact"});
  ScratchNetns::ip({"netns", "exec", labNetns("host"), "tc", "filter", "add", "dev", "uplink0", "ingress", "prio", "100",
                    "protocol", "ip", "u32", "match", "ip", "dst", "10.99.0.1/32", "action", "mirred", "egress",
                    "redirect", "dev", "pf0vf3"});
  auto before = runProgram({"/usr/sbin/tc", "-n", labNetns("host"), "-j", "filter", "show", "dev", "uplink0", "ingress"});
  auto policy = writePolicy(R"(  - {name: web, priority: 1, match: {dst_ip: 10.1.0.0/24, ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}
)");
  auto r = vfsteerCli({"apply", "-f", policy, "--profile", "ixgbe", "--emulate-nic"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("uplink0 holds u32 filters vfsteer does not own (tc ingress priority 100)"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("nothing was changed"), std::string::npos) << r.err;
  auto after = runProgram({"/usr/sbin/tc", "-n", labNetns("host"), "-j", "filter", "show", "dev", "uplink0", "ingress"});
  EXPECT_EQ(before.out, after.out);
  EXPECT_FALSE(std::filesystem::exists(labPins()));
  ScratchNetns::ip({"netns", "exec", labNetns("host"), "tc", "qdisc", "del", "dev", "uplink0", "clsact"});
}

// `vfsteer enforce skip-sw` on a running system: the lab's NIC (profile
// veth) can take nothing, so it fails, names the reason and changes nothing.
TEST_F(LabE2E, EnforceSkipSwThatTheNicCannotTakeChangesNothing) {
  apply(R"(  - {name: web, priority: 1, match: {ip_proto: udp, dst_port: 7050}, stages: [{deliver: {vf: 0}}]}
)");
  auto before = runProgram({"/usr/sbin/tc", "-n", labNetns("host"), "-s", "-j", "filter", "show", "dev", "uplink0", "ingress"});
  auto bad = vfsteerCli({"enforce", "skip-sw", "--chain", "nosuch", "--instance", labInstance()});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("no such chain; its chains: web"), std::string::npos) << bad.err;
  auto r = vfsteerCli({"enforce", "skip-sw", "--chain", "web", "--instance", labInstance()});
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("chain web is skip-sw, but no part of it can run in the NIC: profile veth has no hardware offload"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("nothing was changed"), std::string::npos);
  auto after = runProgram({"/usr/sbin/tc", "-n", labNetns("host"), "-s", "-j", "filter", "show", "dev", "uplink0", "ingress"});
  EXPECT_EQ(json::parse(before.out).dump(), json::parse(after.out).dump());
  // Still steering.
  auto got = fromWire({udp4(vfMac(0), "10.9.0.1", "10.1.0.7", 7050, "still-steered")});
  EXPECT_EQ(got.with("vf0", text("still-steered")).size(), 1u);
}

TEST_F(LabE2E, TeardownRemovesOnlyWhatVfsteerMade) {
  // A foreign clsact and filter on the uplink, there before vfsteer.
  ScratchNetns::ip({"netns", "exec", labNetns("host"), "tc", "qdisc", "add", "dev", "uplink0", "clsact"});
  ScratchNetns::ip({"netns", "exec", labNetns("host"), "tc", "filter", "add", "dev", "uplink0", "ingress", "prio", "100",
                    "protocol", "ip", "u32", "match", "ip", "dst", "10.99.0.1/32", "action", "mirred", "egress",
                    "redirect", "dev", "pf0vf3"});
  apply(R"(  - {name: flow, priority: 1, match: {ip_proto: udp, dst_port: 7030}, stages: [{deliver: {vf: 0}}]}
  - {name: vfside, priority: 1, match: {from: {vf: 1}}, stages: [{deliver: uplink}]}
)");
  ASSERT_TRUE(std::filesystem::exists(labPins()));
  auto down = vfsteerCli({"teardown", "--instance", labInstance()});
  ASSERT_EQ(down.status, 0) << down.err;
  EXPECT_FALSE(std::filesystem::exists(labPins()));
  auto show = runProgram({"/usr/sbin/tc", "-n", labNetns("host"), "-j", "filter", "show", "dev", "uplink0", "ingress"});
  ASSERT_EQ(show.status, 0);
  auto filters = json::parse(show.out);
  bool foreign = false, ours = false;
  for (const auto& f : filters) {
    foreign |= f.value("pref", 0) == 100;
    ours |= f.value("pref", 0) == 40000;
  }
  EXPECT_TRUE(foreign) << "the foreign filter survives";
  EXPECT_FALSE(ours);
  auto rep = runProgram({"/usr/sbin/tc", "-n", labNetns("host"), "-j", "qdisc", "show", "dev", "pf0vf1"});
  EXPECT_EQ(rep.out.find("clsact"), std::string::npos) << "the clsact vfsteer added on pf0vf1 is gone";
  ScratchNetns::ip({"netns", "exec", labNetns("host"), "tc", "qdisc", "del", "dev", "uplink0", "clsact"});
}

}  // namespace
}  // namespace vfsteer::testing
