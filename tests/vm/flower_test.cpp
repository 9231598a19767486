// The NIC part of a flower profile (mlx5) run in software (apply
// --emulate-nic: flower skip_hw) on the lab, on a kernel that has
// cls_flower: VLAN pop, tunnel_key unset, mirred and the hand-over to the
// host datapath in a tc chain, checked with real packets and against
// `tc -j filter show`.
#include <gtest/gtest.h>

#include <sstream>

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
  for (auto& [where, cap] : caps) {
    got[where] = cap.collect();
    EXPECT_EQ(cap.dropped(), 0u) << "the capture on " << where << " overflowed; what it saw is incomplete";
  }
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

// The flower filters of uplink0 as configuration: what a command asked for,
// without what the kernel adds (handles, action indexes, counters, times).
json flowerConfig() {
  json out = json::array();
  for (json f : filters("uplink0")) {
    if (f.value("kind", "") != "flower" || !f.contains("options")) continue;
    json& o = f["options"];
    o.erase("in_hw");
    o.erase("in_hw_count");
    o.erase("not_in_hw");
    for (auto& a : o["actions"])
      for (const char* k : {"index", "ref", "bind", "stats", "installed", "last_used", "first_used", "expires",
                            "not_in_hw", "hw_stats", "used_hw_stats"})
        a.erase(k);
    out.push_back({{"protocol", f["protocol"]}, {"pref", f["pref"]}, {"chain", f.value("chain", 0)}, {"options", o}});
  }
  return out;
}

// `plan -o tc` prints commands tc takes as they are, and they make the same
// flower filters apply makes (both in software here: skip_sw becomes skip_hw).
TEST_F(EmulatedFlower, PlanTcCommandsAreAcceptedByTcAndMakeWhatApplyMakes) {
  const std::string policy = writeFile(
      "version: 1\ndevice: {pf: uplink0, vfs: {count: 4}}\nchains:\n"
      "  - {name: web, priority: 10, match: {vlan: 100, ip_proto: udp, dst_port: 7101}, stages: [vlan_pop, {deliver: {vf: 0}}]}\n"
      "  - {name: copy, priority: 30, match: {ip_proto: udp, dst_port: 7102}, stages: [{mirror: {vf: 2}}, {deliver: {vf: 3}}]}\n"
      "  - {name: slow, priority: 40, match: {dst_ip: 10.1.0.0/16, ip_proto: tcp}, stages: [{police: {rate_mbps: 10, burst_kb: 64}}, {deliver: {vf: 1}}]}\n"
      "  - {name: tagged, priority: 50, match: {dst_mac: \"02:00:00:00:00:10\"}, stages: [{vlan_push: {id: 20, prio: 3}}, drop]}\n");
  auto plan = runVfsteer({"plan", "-f", policy, "--profile", "mlx5", "-o", "tc"});
  ASSERT_EQ(plan.status, 0) << plan.err;
  EXPECT_EQ(plan.out.find("REP_VF"), std::string::npos) << "the lab's representors are named:\n" << plan.out;
  sh({"tc", "-n", "vfs-host", "qdisc", "add", "dev", "uplink0", "clsact"});
  int commands = 0;
  std::istringstream lines(plan.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> argv{"tc", "-n", "vfs-host"};
    std::istringstream words(line.substr(3));  // after "tc "
    for (std::string w; words >> w;) argv.push_back(w == "skip_sw" ? "skip_hw" : w);
    sh(argv);
    ++commands;
  }
  EXPECT_EQ(commands, 6) << plan.out;  // web and copy for IPv4 and IPv6; slow IPv4 only; tagged not IP
  const json byHand = flowerConfig();
  ASSERT_EQ(byHand.size(), 6u) << byHand.dump(1);
  sh({"tc", "-n", "vfs-host", "qdisc", "del", "dev", "uplink0", "clsact"});

  auto r = runVfsteer({"apply", "-f", policy, "--profile", "mlx5", "--emulate-nic"});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  const json byApply = flowerConfig();
  EXPECT_EQ(byHand, byApply) << "by hand:\n" << byHand.dump(1) << "\nby apply:\n" << byApply.dump(1);
}

}  // namespace
}  // namespace vfsteer::testing
