// NIC metadata for host programs: `vfsteer metadata show` says which XDP RX
// metadata kfuncs a port's driver implements. The ground truth is a
// device-bound XDP program that calls each kfunc on real frames: a kfunc the
// driver lacks returns -EOPNOTSUPP. veth implements all three on this
// kernel (6.18; the netdev family reports them since 6.8).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <netinet/in.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/ports.hpp"
#include "engine/rx_metadata.hpp"
#include "lab_fixture.hpp"
#include "packets.hpp"
#include "scratch_netns.hpp"
#include "vfsteer/netlink/socket.hpp"

namespace vfsteer::testing {
namespace {

#ifndef BPF_F_XDP_DEV_BOUND_ONLY
#define BPF_F_XDP_DEV_BOUND_ONLY (1U << 6)  // uapi linux/bpf.h, Linux 6.3
#endif

// The probe program, bound to `ifname` and attached to it in native mode,
// inside `netns` (a device-bound program names its device by ifindex, which
// the kernel resolves in the loader's namespace).
struct BoundProbe {
  bpf_object* obj = nullptr;
  int ifindex = 0;
  int resultsFd = -1;
  ~BoundProbe() { if (obj) bpf_object__close(obj); }
};

Status loadBoundProbe(const std::string& netns, const std::string& ifname, int ifindex, BoundProbe& out) {
  VFSTEER_ASSIGN_OR_RETURN(auto ns, netlink::Netns::byName(netns));
  return ns.runInside([&]() -> Status {
    out.obj = bpf_object__open_file(VFSTEER_RX_METADATA_PROBE_BPF, nullptr);
    if (!out.obj) return Error::fromErrno(errno, "open " + std::string(VFSTEER_RX_METADATA_PROBE_BPF));
    bpf_program* prog = bpf_object__find_program_by_name(out.obj, "rx_metadata_probe");
    if (!prog) return Error(ErrorCode::kInternal, "no program rx_metadata_probe");
    bpf_program__set_ifindex(prog, static_cast<__u32>(ifindex));
    bpf_program__set_flags(prog, bpf_program__flags(prog) | BPF_F_XDP_DEV_BOUND_ONLY);
    if (int err = bpf_object__load(out.obj); err) return Error::fromErrno(-err, "load the probe bound to " + ifname);
    if (int err = bpf_xdp_attach(ifindex, bpf_program__fd(prog), XDP_FLAGS_DRV_MODE, nullptr); err)
      return Error::fromErrno(-err, "attach the probe to " + ifname);
    out.ifindex = ifindex;
    out.resultsFd = bpf_object__find_map_fd_by_name(out.obj, "results");
    return okStatus();
  });
}

int64_t slot(const BoundProbe& p, uint32_t key) {
  int64_t value = 0;
  EXPECT_EQ(bpf_map_lookup_elem(p.resultsFd, &key, &value), 0);
  return value;
}

TEST(RxMetadataNetns, WhatMetadataShowSaysIsWhatTheKfuncsReturnOnRealFrames) {
  VFSTEER_REQUIRE_ROOT();
  ScratchNetns ns;
  const int va = ns.ifindex("va");
  ASSERT_GT(va, 0);

  auto ports = engine::makeRealPorts();
  auto genl = ports->netlink(ns.name(), NETLINK_GENERIC);
  ASSERT_TRUE(genl.ok()) << genl.error().describe();
  auto devices = engine::readNetdevDevices(**genl);
  ASSERT_TRUE(devices.ok()) << devices.error().describe();
  ASSERT_TRUE(devices->has_value()) << "the netns tier runs on a kernel with the netdev family (6.3+)";
  representors::Topology t;
  t.pf = "va";
  t.pfIfindex = va;
  const auto said = engine::rxMetadataOf(t, *devices);
  ASSERT_EQ(said.size(), 1u);
  ASSERT_EQ(said[0].fields.size(), engine::kRxFields.size());
  for (const auto& f : said[0].fields)
    ASSERT_NE(f.supply, engine::Supply::kUnknown) << "the kernel (6.8+) reports xdp-rx-metadata-features: " << f.reason;

  BoundProbe probe;
  Status loaded = loadBoundProbe(ns.name(), "va", va, probe);
  ASSERT_TRUE(loaded.ok()) << loaded.error().describe();
  const Bytes udp = FrameBuilder::ethernet(mac("02:00:00:00:00:0a"), mac("02:00:00:00:00:0b"), ETH_P_IP,
                                           FrameBuilder::ipv4("10.0.0.2", "10.0.0.1", IPPROTO_UDP,
                                                              FrameBuilder::udp(1000, 2000, text("probe"))));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (slot(probe, 3) < 2 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(sendFrames(ns.name(), "vb", {udp, FrameBuilder::tagged(udp, ETH_P_8021Q, 7)}).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GE(slot(probe, 3), 2) << "the probe saw no frames on va";
  for (size_t i = 0; i < engine::kRxFields.size(); ++i) {
    const int64_t rc = slot(probe, static_cast<uint32_t>(i));
    const auto& f = said[0].fields[i];
    EXPECT_EQ(f.supply == engine::Supply::kYes, rc != -EOPNOTSUPP)
        << engine::name(f.field) << ": the kfunc returned " << rc << ", metadata show says " << engine::name(f.supply)
        << " (" << f.reason << ")";
  }
  // veth implements all three (veth_xdp_metadata_ops): none returned -EOPNOTSUPP.
  for (uint32_t i = 0; i < 3; ++i) EXPECT_NE(slot(probe, i), -EOPNOTSUPP) << "kfunc " << i;
}

class RxMetadataLab : public LabTest {};

nlohmann::json showJson(const std::vector<std::string>& extra) {
  std::vector<std::string> args{"metadata", "show", "--pf", "uplink0", "--netns", labNetns("host"), "-o", "json"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = vfsteerCli(args);
  EXPECT_EQ(r.status, 0) << r.err;
  return nlohmann::json::parse(r.out, nullptr, false);
}

TEST_F(RxMetadataLab, ShowListsEveryPortAndComparesTheUplinkWithTheProfile) {
  VFSTEER_REQUIRE_ROOT();
  const auto doc = showJson({});
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc["profile"], "veth");
  std::vector<std::string> listed;
  for (const auto& p : doc["ports"]) {
    listed.push_back(p["port"]);
    for (const auto& [field, f] : p["fields"].items()) EXPECT_EQ(f["supplied"], "yes") << p["port"] << " " << field;
  }
  EXPECT_EQ(listed, kLabHostDevices);
  EXPECT_TRUE(doc["disagreements"].empty()) << doc["disagreements"].dump();

  // i40e's driver implements none: its profile claims none, and says so.
  const auto other = showJson({"--profile", "i40e"});
  ASSERT_EQ(other["disagreements"].size(), 3u) << other.dump();
  for (const auto& d : other["disagreements"]) {
    EXPECT_EQ(d["port"], "uplink0");
    EXPECT_EQ(d["claimed"], false);
    EXPECT_EQ(d["supplied"], "yes");
  }
  auto table = vfsteerCli({"metadata", "show", "--pf", "uplink0", "--netns", labNetns("host")});
  EXPECT_EQ(table.status, 0) << table.err;
  EXPECT_NE(table.out.find("agree with the kernel on uplink0"), std::string::npos) << table.out;

  auto discover = vfsteerCli({"discover", "--pf", "uplink0", "--netns", labNetns("host"), "-o", "json"});
  ASSERT_EQ(discover.status, 0) << discover.err;
  const auto found = nlohmann::json::parse(discover.out, nullptr, false);
  ASSERT_TRUE(found.contains("xdp_rx_metadata")) << discover.out;
  EXPECT_EQ(found["xdp_rx_metadata"], doc["ports"]);
}

TEST_F(RxMetadataLab, BadInputSaysWhatToGive) {
  VFSTEER_REQUIRE_ROOT();
  auto none = vfsteerCli({"metadata", "show"});
  EXPECT_EQ(none.status, 1);
  EXPECT_NE(none.err.find("name the device: --pf NAME or -f POLICY"), std::string::npos) << none.err;
  auto profile = vfsteerCli({"metadata", "show", "--pf", "uplink0", "--netns", labNetns("host"), "--profile", "mlx"});
  EXPECT_EQ(profile.status, 1);
  EXPECT_NE(profile.err.find("did you mean \"mlx5\"?"), std::string::npos) << profile.err;
  auto pf = vfsteerCli({"metadata", "show", "--pf", "nosuch0", "--netns", labNetns("host")});
  EXPECT_EQ(pf.status, 1);
  EXPECT_NE(pf.err.find("nosuch0"), std::string::npos) << pf.err;
}

}  // namespace
}  // namespace vfsteer::testing
