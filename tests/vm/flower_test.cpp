// The NIC part of a flower profile (mlx5) run in software (apply
// --emulate-nic: flower skip_hw) on the lab, on a kernel that has
// cls_flower: VLAN pop, tunnel_key unset, mirred and the hand-over to the
// host datapath in a tc chain, checked with real packets and against
// `tc -j filter show`.
#include <gtest/gtest.h>

#include "netdevsim.hpp"
#include "packets.hpp"

namespace vfsteer::testing {
namespace {

using nlohmann::json;
using FB = FrameBuilder;

const Mac kWire = mac("02:00:00:00:00:fe");
const Mac kUplink = mac("02:00:00:00:00:ff");
Mac vfMac(int i) { return mac(("02:00:00:00:00:1" + std::to_string(i)).c_str()); }

class EmulatedFlower : public VmLabTest {};

std::map<std::string, std::vector<Captured>> sendAndCapture(const std::vector<Bytes>& frames) {
  std::map<std::string, Capture> caps;
  for (int i = 0; i < 4; ++i) {
    auto c = Capture::open("vfs-vf" + std::to_string(i), "vf" + std::to_string(i));
    EXPECT_TRUE(c.ok()) << c.error().describe();
    if (c.ok()) caps.emplace("vf" + std::to_string(i), std::move(*c));
  }
  auto sent = sendFrames("vfs-wire", "wire0", frames);
  EXPECT_TRUE(sent.ok()) << sent.error().describe();
  std::map<std::string, std::vector<Captured>> got;
  for (auto& [where, cap] : caps) got[where] = cap.collect();
  return got;
}

std::vector<Bytes> with(const std::vector<Captured>& frames, const Bytes& marker) {
  std::vector<Bytes> out;
  for (const auto& c : frames)
    if (contains(c.frame, marker)) out.push_back(c.frame);
  return out;
}

json filters(const std::string& dev, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{"tc", "-n", "vfs-host", "-j", "filter", "show", "dev", dev, "ingress"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return shJson(argv);
}

TEST_F(EmulatedFlower, VlanPopTunnelKeyUnsetMirredAndHostContinuationWithRealPackets) {
  const std::string policy = writeFile(
      "version: 1\ndevice: {pf: uplink0, vfs: {count: 4}}\nchains:\n"
      "  - {name: web, priority: 10, match: {vlan: 100, ip_proto: udp, dst_port: 7101}, stages: [vlan_pop, {deliver: {vf: 0}}]}\n"
      "  - {name: tenant, priority: 20, match: {tunnel: {type: vxlan, vni: 42}}, stages: [tunnel_decap, {queue: 3}, {deliver: {vf: 1}}]}\n"
      "  - {name: copy, priority: 30, match: {ip_proto: udp, dst_port: 7102}, stages: [{mirror: {vf: 2}}, {deliver: {vf: 3}}]}\n"
      "  - {name: inspect, priority: 40, match: {ip_proto: udp, dst_port: 7103}, stages: [{bpf: {object: " +
      std::string(VFSTEER_SOURCE_DIR) + "/examples/bpf/count.bpf.o, program: count}}, {deliver: {vf: 2}}]}\n");
  auto r = runVfsteer({"apply", "-f", policy, "--profile", "mlx5", "--emulate-nic"});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  // The kernel's flower rules are recognised as the ones asked for (it
  // reports them in chain 0, with handles and counters of its own).
  auto again = runVfsteer({"apply", "-f", policy, "--profile", "mlx5", "--emulate-nic"});
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_NE(again.out.find("nothing to change"), std::string::npos) << again.out;
  // VXLAN reaches the tunnel device through the host's IP stack.
  sh({"ip", "-n", "vfs-host", "addr", "add", "192.0.2.20/24", "dev", "uplink0"});

  // The rules as the kernel holds them.
  bool popRule = false;
  for (const auto& f : filters("uplink0")) {
    if (f.value("kind", "") != "flower" || !f.contains("options")) continue;
    const json& o = f["options"];
    if (o.value("keys", json::object()).value("vlan_id", 0) != 100) continue;
    popRule = o.value("skip_hw", false) && o["actions"].size() == 2 && o["actions"][0]["kind"] == "vlan" &&
              o["actions"][0]["vlan_action"] == "pop" && o["actions"][1]["kind"] == "mirred" &&
              o["actions"][1]["to_dev"] == "pf0vf0" && o["actions"][1]["mirred_action"] == "redirect";
  }
  EXPECT_TRUE(popRule) << filters("uplink0").dump(1);
  bool decapRule = false, entry = false;
  for (const auto& f : filters("vfs-vx4789")) {
    if (!f.contains("options")) continue;
    const json& o = f["options"];
    if (f.value("kind", "") == "flower")
      decapRule = o.value("keys", json::object()).value("enc_key_id", 0) == 42 && o["actions"][0]["kind"] == "tunnel_key" &&
                  o["actions"][0]["mode"] == "unset" && o["actions"].back()["kind"] == "gact" &&
                  o["actions"].back()["control_action"]["type"] == "goto";
    if (f.value("kind", "") == "bpf" && f.value("chain", 0) != 0) entry = o["prog"]["name"] == "vfs_continue";
  }
  EXPECT_TRUE(decapRule) << filters("vfs-vx4789").dump(1);
  EXPECT_TRUE(entry) << "the host datapath's entry in the goto chain";

  Bytes web = FB::ethernet(vfMac(0), kWire, 0x0800, FB::ipv4("10.9.0.1", "10.1.0.7", 17, FB::udp(1, 7101, text("web-pop"))));
  Bytes inner = FB::ethernet(vfMac(1), mac("02:aa:00:00:00:01"), 0x0800,
                             FB::ipv4("172.16.0.1", "172.16.0.2", 17, FB::udp(1, 2, text("tenant-inner"))));
  Bytes tunnel = FB::ethernet(kUplink, kWire, 0x0800,
                              FB::ipv4("192.0.2.10", "192.0.2.20", 17, FB::udp(33333, 4789, FB::vxlan(42, inner))));
  Bytes copy = FB::ethernet(vfMac(3), kWire, 0x0800, FB::ipv4("10.9.0.1", "10.1.0.7", 17, FB::udp(1, 7102, text("copy-me"))));
  Bytes inspect = FB::ethernet(vfMac(2), kWire, 0x0800, FB::ipv4("10.9.0.1", "10.1.0.7", 17, FB::udp(1, 7103, text("inspect-me"))));
  auto got = sendAndCapture({FB::tagged(web, 0x8100, 100), tunnel, copy, inspect});

  auto popped = with(got["vf0"], text("web-pop"));
  ASSERT_EQ(popped.size(), 1u);
  EXPECT_EQ(popped[0], web) << "the NIC rule popped the tag";
  auto decapped = with(got["vf1"], text("tenant-inner"));
  ASSERT_EQ(decapped.size(), 1u);
  EXPECT_EQ(decapped[0], inner) << "decapsulated by tunnel_key unset, delivered by the host continuation";
  EXPECT_EQ(with(got["vf3"], text("copy-me")).size(), 1u);
  EXPECT_EQ(with(got["vf2"], text("copy-me")).size(), 1u) << "the mirror copy";
  EXPECT_EQ(with(got["vf2"], text("inspect-me")).size(), 1u) << "the bpf stage ran on the host, then delivered";

  auto rep = runVfsteer({"report", "-o", "json"});
  ASSERT_EQ(rep.status, 0) << rep.err;
  json doc = json::parse(rep.out);
  EXPECT_TRUE(doc["nic_emulated"].get<bool>());
  for (const auto& c : doc["chains"]) {
    if (c["name"] == "tenant") {
      EXPECT_EQ(c["handover"], "continue");
      EXPECT_EQ(c["counters"]["packets"], 1) << "entered the host in the goto chain";
      EXPECT_EQ(c["stages"][2]["packets"], 1);
    }
    if (c["name"] == "inspect") {
      EXPECT_EQ(c["stages"][0]["packets"], 1);
    }
    if (c["name"] == "web") {
      EXPECT_TRUE(c["nic_rules"][0]["present"].get<bool>());
      EXPECT_EQ(c["nic_rules"][0]["packets"], 1) << "the flower rule's counter";
    }
  }
}

}  // namespace
}  // namespace vfsteer::testing
