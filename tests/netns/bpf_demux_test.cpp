// The generated NIC demux program, run in software with BPF_PROG_TEST_RUN
// (the same instructions netdevsim or a BPF-offload NIC receives): for
// generated policies planned for the netdevsim profile and generated frames,
// its verdict must be the one the reference interpreter's NIC step gives
// (drop when the matching NIC rule drops, otherwise pass to the host).
// Both hooks (tc and XDP) are checked, and truncated frames must pass.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/pkt_cls.h>
#include <unistd.h>

#include <functional>
#include <optional>

#include "engine/demux_rules.hpp"
#include "generators.hpp"
#include "scratch_netns.hpp"
#include "vfsteer/demux/interpreter.hpp"
#include "vfsteer/demux/splitter.hpp"
#include "vfsteer/policies/loader.hpp"
#include "vfsteer/representors/bpf_demux.hpp"

namespace vfsteer::testing {
namespace {

using namespace policies;
using representors::DemuxHook;
using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

// The model frame as bytes on the wire (payload: 8 bytes of padding).
Bytes wireBytes(const demux::Frame& f) {
  Bytes b(f.dst.bytes.begin(), f.dst.bytes.end());
  b.insert(b.end(), f.src.bytes.begin(), f.src.bytes.end());
  for (const auto& t : f.tags) {
    put16(b, t.proto == VlanProto::k8021AD ? 0x88a8 : 0x8100);
    put16(b, static_cast<uint16_t>(t.prio << 13 | t.id));
  }
  put16(b, f.ethertype);
  Bytes l4;
  if (f.ipProto == 6 || f.ipProto == 17 || f.ipProto == 132) {
    put16(l4, f.srcPort);
    put16(l4, f.dstPort);
  }
  l4.resize(l4.size() + 16, 0);
  if (f.isIp4()) {
    const uint8_t hdr[12] = {0x45, 0, 0, static_cast<uint8_t>(20 + l4.size()), 0, 0, 0x40, 0, 64, f.ipProto, 0, 0};
    b.insert(b.end(), hdr, hdr + 12);
    b.insert(b.end(), f.srcIp.begin(), f.srcIp.begin() + 4);
    b.insert(b.end(), f.dstIp.begin(), f.dstIp.begin() + 4);
  } else if (f.isIp6()) {
    const uint8_t hdr[8] = {0x60, 0, 0, 0, 0, static_cast<uint8_t>(l4.size()), f.ipProto, 64};
    b.insert(b.end(), hdr, hdr + 8);
    b.insert(b.end(), f.srcIp.begin(), f.srcIp.end());
    b.insert(b.end(), f.dstIp.begin(), f.dstIp.end());
  }
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

class Program {
 public:
  Program(const std::vector<representors::DemuxRule>& rules, DemuxHook hook) : hook_(hook) {
    auto fd = representors::loadDemux(representors::compileDemux(rules, hook), hook, 0);
    if (!fd.ok()) error_ = fd.error().describe();
    else fd_ = *fd;
  }
  ~Program() {
    if (fd_ >= 0) close(fd_);
  }
  const std::string& error() const { return error_; }
  bool loaded() const { return fd_ >= 0; }

  // True when the program drops the frame; fails the test on any other
  // verdict than drop or pass.
  bool drops(const Bytes& frame) {
    auto v = tryDrops(frame);
    EXPECT_TRUE(v.has_value()) << "BPF_PROG_TEST_RUN refused a " << frame.size() << "-byte frame";
    return v.value_or(false);
  }
  // Nothing when the kernel refuses to run the frame at all (tc test runs
  // on Linux 6.18 refuse an IPv4 ethertype without a whole IPv4 header).
  std::optional<bool> tryDrops(Bytes frame) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
                .data_size_in = static_cast<uint32_t>(frame.size()), .repeat = 1);
    if (bpf_prog_test_run_opts(fd_, &opts) != 0) return std::nullopt;
    const int verdict = static_cast<int>(opts.retval);
    if (hook_ == DemuxHook::kTc) {
      EXPECT_TRUE(verdict == TC_ACT_SHOT || verdict == TC_ACT_UNSPEC) << verdict;
      return verdict == TC_ACT_SHOT;
    }
    EXPECT_TRUE(verdict == XDP_DROP || verdict == XDP_PASS) << verdict;
    return verdict == XDP_DROP;
  }

 private:
  DemuxHook hook_;
  int fd_ = -1;
  std::string error_;
};

Profile netdevsimProfile() {
  auto p = loadProfileFile(std::string(VFSTEER_SOURCE_DIR) + "/profiles/netdevsim.yaml");
  EXPECT_TRUE(p.ok()) << p.error().describe();
  return *p;
}

bool nicDrops(const Policy& policy, const demux::Plan& plan, const demux::Packet& p) {
  const demux::NicRule* rule = demux::nicRuleFor(policy, plan, p);
  if (!rule) return false;
  for (size_t i = 0; i < rule->stageCount; ++i)
    if (policy.chains[rule->chain].stages[i].kind() == StageKind::kDrop) return true;
  return false;
}

TEST(BpfDemux, VerdictsEqualTheInterpretersNicStep) {
  VFSTEER_REQUIRE_ROOT();
  const Profile profile = netdevsimProfile();
  Generator gen(5150);
  constexpr int kRounds = 250;
  size_t frames = 0, drops = 0, policiesWithNicRules = 0;
  for (int round = 0; round < kRounds; ++round) {
    auto policy = loadPolicyText(gen.policyYaml(6, 4), "generated.yaml");
    ASSERT_TRUE(policy.ok()) << policy.error().describe();
    auto plan = demux::plan(*policy, profile, {});
    ASSERT_TRUE(plan.ok()) << plan.error().describe();
    auto rules = engine::buildDemuxRules(*policy, *plan);
    ASSERT_TRUE(rules.ok()) << rules.error().describe();
    if (!rules->empty()) ++policiesWithNicRules;
    for (DemuxHook hook : {DemuxHook::kTc, DemuxHook::kXdp}) {
      Program prog(*rules, hook);
      ASSERT_TRUE(prog.loaded()) << prog.error();
      for (int i = 0; i < 40; ++i) {
        demux::Packet p = gen.packet(*policy);
        p.in = Port{};  // the program sits on the uplink
        if (p.frame.tags.size() > 2) continue;  // deeper than the profile's vlan_depth
        const bool want = nicDrops(*policy, *plan, p);
        ASSERT_EQ(prog.drops(wireBytes(p.frame)), want)
            << "round " << round << " packet " << i << ": expected " << (want ? "drop" : "pass");
        ++frames;
        drops += want;
      }
    }
  }
  // The generated cases must exercise both verdicts.
  EXPECT_GT(policiesWithNicRules, size_t{kRounds / 2});
  EXPECT_GT(drops, 80u);
  EXPECT_GT(frames - drops, 1000u);
  std::printf("checked %zu frames (%zu drops) over %d policies\n", frames, drops, kRounds);
}

// The rules of a one-chain policy "match: MATCH, stages: [drop]" planned for
// netdevsim.
std::vector<representors::DemuxRule> dropRules(const std::string& match) {
  const std::string yaml = "version: 1\ndevice: {pf: eth0}\nchains:\n  - name: c\n    priority: 1\n"
                           "    match: " + match + "\n    stages: [drop]\n";
  auto policy = loadPolicyText(yaml, "case.yaml");
  EXPECT_TRUE(policy.ok()) << policy.error().describe();
  if (!policy.ok()) return {};
  auto plan = demux::plan(*policy, netdevsimProfile(), {});
  EXPECT_TRUE(plan.ok() && !plan->nicRules.empty()) << match;
  if (!plan.ok()) return {};
  auto rules = engine::buildDemuxRules(*policy, *plan);
  EXPECT_TRUE(rules.ok()) << rules.error().describe();
  return rules.ok() ? *rules : std::vector<representors::DemuxRule>{};
}

demux::Frame baseFrame(bool v6) {
  demux::Frame f;
  f.dst = *parseMac("02:00:00:00:00:01");
  f.src = *parseMac("02:00:00:00:00:02");
  f.tags = {{VlanProto::k8021AD, 10, 3}, {VlanProto::k8021Q, 20, 0}};
  std::string err;
  f.ethertype = v6 ? 0x86dd : 0x0800;
  f.srcIp = parseIpPrefix(v6 ? "2001:db8::1" : "10.0.0.1", &err)->addr;
  f.dstIp = parseIpPrefix(v6 ? "2001:db8:0:1::1" : "10.0.1.1", &err)->addr;
  f.ipProto = 17;
  f.srcPort = 53;
  f.dstPort = 80;
  return f;
}

struct KeyCase {
  const char* match;
  bool v6;
  std::function<void(demux::Frame&)> miss;  // a change the rule must notice
};

// One key at a time: the base frame matches, a frame differing only in that
// key does not. Catches byte-order, mask and offset mistakes that random
// policies hit too rarely.
TEST(BpfDemux, EachKeyDecides) {
  VFSTEER_REQUIRE_ROOT();
  const std::vector<KeyCase> cases = {
      {"{dst_mac: \"02:00:00:00:00:01\"}", false, [](auto& f) { f.dst.bytes[5] = 9; }},
      {"{dst_mac: \"02:00:00:00:00:01\"}", false, [](auto& f) { f.dst.bytes[0] = 6; }},
      {"{src_mac: \"02:00:00:00:00:00/ff:ff:ff:ff:ff:00\"}", false, [](auto& f) { f.src.bytes[4] = 7; }},
      {"{vlan: {id: 10, proto: 802.1ad}}", false, [](auto& f) { f.tags[0].id = 11; }},
      {"{vlan: {id: 10, proto: 802.1ad}}", false, [](auto& f) { f.tags[0].proto = VlanProto::k8021Q; }},
      {"{vlan: {id: 10, prio: 3, proto: 802.1ad}}", false, [](auto& f) { f.tags[0].prio = 2; }},
      {"{vlan: {id: 10, proto: 802.1ad}, cvlan: 20}", false, [](auto& f) { f.tags[1].id = 21; }},
      {"{vlan: {id: 10, proto: 802.1ad}, cvlan: 20}", false, [](auto& f) { f.tags.pop_back(); }},
      {"{ethertype: ipv4}", false, [](auto& f) { f.ethertype = 0x0806; }},
      {"{src_ip: 10.0.0.1}", false, [](auto& f) { f.srcIp[3] = 2; }},
      {"{dst_ip: 10.0.1.0/24}", false, [](auto& f) { f.dstIp[2] = 2; }},
      {"{dst_ip: 10.0.1.0/24}", false, [](auto& f) { f.dstIp[0] = 11; }},
      {"{ip_proto: udp}", false, [](auto& f) { f.ipProto = 6; }},
      {"{ip_proto: udp, dst_port: 80}", false, [](auto& f) { f.dstPort = 81; }},
      {"{ip_proto: udp, dst_port: 80}", false, [](auto& f) { std::swap(f.srcPort, f.dstPort); }},
      {"{ip_proto: udp, src_port: 53}", false, [](auto& f) { f.srcPort = 54; }},
      {"{ip_proto: udp, src_port: 53}", false, [](auto& f) { f.srcPort = 53 << 8; }},
      {"{dst_ip: \"2001:db8:0:1::/64\"}", true, [](auto& f) { f.dstIp[7] = 2; }},
      {"{src_ip: \"2001:db8::1\"}", true, [](auto& f) { f.srcIp[15] = 2; }},
      {"{src_ip: \"2001:db8::1\"}", true, [](auto& f) { f.srcIp[0] = 0x21; }},
      {"{ip_proto: udp, dst_port: 80}", true, [](auto& f) { f.dstPort = 81; }},
      {"{ip_proto: udp}", true, [](auto& f) { f.ipProto = 6; }},
  };
  for (DemuxHook hook : {DemuxHook::kTc, DemuxHook::kXdp}) {
    for (const KeyCase& c : cases) {
      Program prog(dropRules(c.match), hook);
      ASSERT_TRUE(prog.loaded()) << prog.error();
      demux::Frame f = baseFrame(c.v6);
      EXPECT_TRUE(prog.drops(wireBytes(f))) << c.match << " should match the base frame";
      c.miss(f);
      EXPECT_FALSE(prog.drops(wireBytes(f))) << c.match << " should not match the changed frame";
    }
  }
}

TEST(BpfDemux, TruncatedFramesPassToTheHost) {
  VFSTEER_REQUIRE_ROOT();
  // Drop rules on every layer: a truncated frame must not match them.
  representors::DemuxRule l2, l4;
  l2.dmac = representors::DemuxRule::Mac{{2, 0, 0, 0, 0, 1}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
  l2.outer = representors::DemuxRule::Tag{htons(0x8100), htons(10), htons(0x0fff)};
  l2.ethertype = htons(0x0800);
  l2.drop = true;
  l4.ethertype = htons(0x0800);
  l4.ipProto = 17;
  l4.dport = htons(53);
  l4.drop = true;
  demux::Frame f;
  f.dst = *parseMac("02:00:00:00:00:01");
  f.tags.push_back({VlanProto::k8021Q, 10, 0});
  f.ipProto = 17;
  f.dstPort = 53;
  const Bytes full = wireBytes(f);
  for (DemuxHook hook : {DemuxHook::kTc, DemuxHook::kXdp}) {
    Program tagRule({l2}, hook), portRule({l4}, hook);
    ASSERT_TRUE(tagRule.loaded() && portRule.loaded()) << tagRule.error() << portRule.error();
    EXPECT_TRUE(tagRule.drops(full));
    // Untagged, the L4 rule sees UDP port 53.
    demux::Frame untagged = f;
    untagged.tags.clear();
    EXPECT_TRUE(portRule.drops(wireBytes(untagged)));
    const Bytes plain = wireBytes(untagged);
    int ran = 0;
    // Shorter than Ethernet + IPv4 + the two ports: the ports are unknown.
    for (size_t len = 14; len < 14 + 20 + 4; ++len) {
      auto dropped = portRule.tryDrops(Bytes(plain.begin(), plain.begin() + len));
      if (!dropped) continue;
      ++ran;
      EXPECT_FALSE(*dropped) << "length " << len;
    }
    // Shorter than Ethernet + the tag: the tag is unknown.
    for (size_t len = 14; len < 14 + 4; ++len) {
      auto dropped = tagRule.tryDrops(Bytes(full.begin(), full.begin() + len));
      if (!dropped) continue;
      ++ran;
      EXPECT_FALSE(*dropped) << "length " << len;
    }
    EXPECT_GE(ran, hook == DemuxHook::kTc ? 8 : 28);
  }
}

}  // namespace
}  // namespace vfsteer::testing
