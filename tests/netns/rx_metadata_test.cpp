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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <net/if.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
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
#include "vfsteer/representors/datapath.hpp"

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

// The XDP entry that reads RX metadata (vfs_xdp_rx), bound to va. Frames
// come from vb; one of them gets a VLAN tag on vb's egress the way a NIC
// that strips tags hands frames over: in skb metadata, not in the frame.
// A tc program on va reads vfsteer's metadata as a user stage would.
struct MetaReader {
  bpf_object* obj = nullptr;
  int seenFd = -1;
  ~MetaReader() { if (obj) bpf_object__close(obj); }
};

struct Seen {  // tests/bpf/meta_reader.bpf.c's struct seen
  uint32_t frames, found, valid, rxHash, rxHashType, skbHash, vlanProto, vlanTci, skbVlanPresent, skbVlanTci,
      verdict, ifindex;
};

Seen seenAt(const MetaReader& r, uint32_t key) {
  Seen s{};
  EXPECT_EQ(bpf_map_lookup_elem(r.seenFd, &key, &s), 0);
  return s;
}

// One tc program per hook (handle 1, priority 1); `replace` puts another in its place.
Status attachTc(int ifindex, bpf_tc_attach_point where, int progFd, bool replace = false) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = where);
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = progFd, .flags = replace ? static_cast<__u32>(BPF_TC_F_REPLACE) : 0u, .handle = 1,
              .priority = 1);
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) return Error::fromErrno(-err, "create a clsact hook");
  if (int e = bpf_tc_attach(&hook, &opts); e) return Error::fromErrno(-e, "attach a tc program");
  return okStatus();
}

TEST(RxMetadataNetns, TheXdpEntryHandsTheDriversMetadataToTcAndUserStages) {
  VFSTEER_REQUIRE_ROOT();
  ScratchNetns ns;
  const int va = ns.ifindex("va"), vb = ns.ifindex("vb");
  ASSERT_GT(va, 0);
  ASSERT_TRUE(representors::Datapath::ensureBpffs().ok());
  const std::string dir = "/sys/fs/bpf/vfsteer-test-rx-" + std::to_string(getpid());
  auto dp = representors::Datapath::create(dir);
  ASSERT_TRUE(dp.ok()) << dp.error().describe();
  struct Unpin {
    representors::Datapath& dp;
    ~Unpin() { (void)dp.destroy(); }
  } unpin{*dp};

  // One chain, run in XDP: drop frames tagged 77 on va.
  representors::HostTables t;
  vfs_tuple tuple{};
  tuple.mask.ifindex = 0xffffffff;
  tuple.mask.tpid0 = 0xffff;
  tuple.mask.tci0 = htons(0x0fff);
  tuple.compact = 1;
  t.tuples.push_back(tuple);
  vfs_chain chain{};
  chain.id = 1;
  chain.nstages = 1;
  chain.flags = VFS_CHAIN_XDP;
  chain.stages[0].kind = VFS_ST_DROP;
  t.chains.push_back(chain);
  representors::HostRule rule;
  rule.masked.ifindex = static_cast<uint32_t>(va);
  rule.masked.tpid0 = htons(ETH_P_8021Q);
  rule.masked.tci0 = htons(77);
  rule.rule.priority = 1;
  t.rules.push_back(rule);
  const uint32_t gen = dp->activeGeneration() ^ 1;
  ASSERT_TRUE(dp->writeGeneration(gen, t).ok());
  ASSERT_TRUE(dp->activate(gen).ok());

  MetaReader reader;
  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = dir.c_str());  // a user stage's vfs_jmp is vfsteer's
  reader.obj = bpf_object__open_file(VFSTEER_META_READER_BPF, &opts);
  ASSERT_NE(reader.obj, nullptr);
  ASSERT_EQ(bpf_object__load(reader.obj), 0);
  reader.seenFd = bpf_object__find_map_fd_by_name(reader.obj, "seen");
  const int readFd = bpf_program__fd(bpf_object__find_program_by_name(reader.obj, "read_meta"));
  const int tagFd = bpf_program__fd(bpf_object__find_program_by_name(reader.obj, "tag_egress"));

  auto netns = netlink::Netns::byName(ns.name());
  ASSERT_TRUE(netns.ok());
  representors::Datapath::RxEntry entry;
  Status set = netns->runInside([&]() -> Status {
    VFSTEER_ASSIGN_OR_RETURN(entry, representors::Datapath::loadRxEntry(dir, static_cast<uint32_t>(va)));
    if (int err = bpf_xdp_attach(va, entry.fd.get(), XDP_FLAGS_DRV_MODE, nullptr); err)
      return Error::fromErrno(-err, "attach the RX metadata entry to va");
    VFSTEER_TRY(attachTc(va, BPF_TC_INGRESS, readFd));
    return attachTc(vb, BPF_TC_EGRESS, tagFd);
  });
  ASSERT_TRUE(set.ok()) << set.error().describe();
  EXPECT_NE(entry.id, 0u);
  EXPECT_NE(entry.id, dp->xdpProgId()) << "a program of its own, bound to va";
  EXPECT_TRUE(dp->usesItsMaps(entry.id)) << "on the datapath's maps";
  bpf_prog_info readerInfo{};
  uint32_t infoLen = sizeof readerInfo;
  ASSERT_EQ(bpf_obj_get_info_by_fd(readFd, &readerInfo, &infoLen), 0);
  EXPECT_FALSE(dp->usesItsMaps(readerInfo.id)) << "a program of someone else's";

  auto udpTo = [](uint16_t port) {
    return FrameBuilder::ethernet(mac("02:00:00:00:00:0a"), mac("02:00:00:00:00:0b"), ETH_P_IP,
                                  FrameBuilder::ipv4("10.0.0.2", "10.0.0.1", IPPROTO_UDP,
                                                     FrameBuilder::udp(1000, port, text("meta"))));
  };
  const Bytes plain = udpTo(9990), tagged = udpTo(9991);
  auto send = [&](const MetaReader& r, bool expectTagged) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (seenAt(r, 0).frames < 1 && std::chrono::steady_clock::now() < deadline) {
      EXPECT_TRUE(sendFrames(ns.name(), "vb", {plain, tagged}).ok());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_GE(seenAt(r, 0).frames, 1u) << "no frame reached va's tc";
    if (expectTagged) {
      ASSERT_GE(seenAt(r, 1).frames, 1u) << "no tagged frame reached va's tc";
    }
  };

  send(reader, false);
  const Seen p = seenAt(reader, 0);
  EXPECT_EQ(p.found, p.frames) << "every frame carries vfsteer's metadata";
  EXPECT_TRUE(p.valid & VFSTEER_META_RX_HASH) << "veth supplies the RX hash";
  EXPECT_EQ(p.rxHash, p.skbHash) << "the RX hash is the kernel's hash of the same frame";
  EXPECT_NE(p.rxHash, 0u);
  EXPECT_FALSE(p.valid & VFSTEER_META_VLAN) << "an untagged frame has no stripped tag";
  EXPECT_EQ(p.skbVlanPresent, 0u);
  EXPECT_EQ(p.verdict, static_cast<uint32_t>(VFS_HO_UNMATCHED)) << "no chain for it: the XDP entry said so to tc";
  EXPECT_EQ(p.ifindex, static_cast<uint32_t>(va));

  // The tagged frame matched the chain through its stripped tag and was
  // dropped in XDP, with the tag back in the frame (4 more bytes).
  EXPECT_EQ(seenAt(reader, 1).frames, 0u) << "the XDP entry classified the frame by the tag the driver reported";
  auto counters = dp->chainCounters(1);
  ASSERT_TRUE(counters.ok());
  ASSERT_GE(counters->packets, 1u);
  EXPECT_EQ(counters->bytes, counters->packets * (plain.size() + 4)) << "counted with its tag, as on the wire";

  // Without the chain, the tagged frame reaches tc: the tag in metadata is
  // the tag that was sent, and the kernel's skb says the same.
  ASSERT_TRUE(dp->writeGeneration(gen ^ 1, representors::HostTables{}).ok());
  ASSERT_TRUE(dp->activate(gen ^ 1).ok());
  MetaReader again;
  again.obj = bpf_object__open_file(VFSTEER_META_READER_BPF, &opts);
  ASSERT_NE(again.obj, nullptr);
  ASSERT_EQ(bpf_object__load(again.obj), 0);
  again.seenFd = bpf_object__find_map_fd_by_name(again.obj, "seen");
  ASSERT_TRUE(netns->runInside([&] {
    return attachTc(va, BPF_TC_INGRESS, bpf_program__fd(bpf_object__find_program_by_name(again.obj, "read_meta")),
                    true);
  }).ok());
  send(again, true);
  const Seen g = seenAt(again, 1);
  EXPECT_EQ(g.found, g.frames);
  EXPECT_TRUE(g.valid & VFSTEER_META_VLAN);
  EXPECT_EQ(g.vlanTci, 77u);
  EXPECT_EQ(g.vlanProto, htons(ETH_P_8021Q));
  EXPECT_EQ(g.skbVlanPresent, 1u);
  EXPECT_EQ(g.skbVlanTci & 0x0fff, 77u);

  // The shared entry (vfs_xdp) reads no driver metadata: its frames carry
  // the verdict and no field marked valid, never zeros taken for values.
  MetaReader plainEntry;
  plainEntry.obj = bpf_object__open_file(VFSTEER_META_READER_BPF, &opts);
  ASSERT_NE(plainEntry.obj, nullptr);
  ASSERT_EQ(bpf_object__load(plainEntry.obj), 0);
  plainEntry.seenFd = bpf_object__find_map_fd_by_name(plainEntry.obj, "seen");
  ASSERT_TRUE(netns->runInside([&]() -> Status {
    LIBBPF_OPTS(bpf_xdp_attach_opts, xo, .old_prog_fd = entry.fd.get());
    if (int e = bpf_xdp_attach(va, dp->xdpFd(), XDP_FLAGS_DRV_MODE | XDP_FLAGS_REPLACE, &xo); e)
      return Error::fromErrno(-e, "replace the RX entry with vfs_xdp");
    return attachTc(va, BPF_TC_INGRESS,
                    bpf_program__fd(bpf_object__find_program_by_name(plainEntry.obj, "read_meta")), true);
  }).ok());
  send(plainEntry, true);
  for (uint32_t key : {0u, 1u}) {
    const Seen s = seenAt(plainEntry, key);
    EXPECT_EQ(s.found, s.frames) << key;
    EXPECT_EQ(s.valid, 0u) << key << ": vfs_xdp supplies no driver field";
    EXPECT_EQ(s.verdict, static_cast<uint32_t>(VFS_HO_UNMATCHED)) << key;
  }
}

// `vfsteer metadata header` writes vfsteer_meta.h from the datapath's BTF: a
// stage built against it (with vfsteer_stage.h next to it, nothing of the
// source tree) compiles, passes the layout check apply makes, and loads.
TEST(RxMetadataNetns, TheWrittenHeaderBuildsAStageThatPassesTheLayoutCheckAndLoads) {
  VFSTEER_REQUIRE_ROOT();
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("vfsteer-header-" + std::to_string(getpid()));
  fs::create_directories(dir);
  struct Remove {
    fs::path p;
    ~Remove() { fs::remove_all(p); }
  } removeDir{dir};
  auto written = vfsteerCli({"metadata", "header", "-o", (dir / "vfsteer_meta.h").string()});
  ASSERT_EQ(written.status, 0) << written.err;
  std::ifstream in(dir / "vfsteer_meta.h");
  const std::string header((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(header.find("struct vfsteer_meta {"), std::string::npos) << header;
  EXPECT_NE(header.find("#define VFSTEER_META_VERSION 1"), std::string::npos) << header;
  auto printed = vfsteerCli({"metadata", "header"});
  EXPECT_EQ(printed.out, header) << "without -o it prints the same";

  for (const char* f : {"/representors/bpf/vfsteer_stage.h", "/tests/bpf/meta_seen.h", "/tests/bpf/meta_stage.bpf.c"})
    fs::copy_file(std::string(VFSTEER_SOURCE_DIR) + f, dir / fs::path(f).filename());
  const std::string object = (dir / "stage.bpf.o").string();
  auto built = runProgram({VFSTEER_CLANG, "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu",
                           "-I" + dir.string(), "-c", (dir / "meta_stage.bpf.c").string(), "-o", object});
  ASSERT_EQ(built.status, 0) << built.err;
  auto reads = representors::readsVfsteerMeta(object);
  ASSERT_TRUE(reads.ok()) << reads.error().describe();
  EXPECT_TRUE(*reads) << "the stage reads vfsteer's metadata, in this vfsteer's layout";

  ASSERT_TRUE(representors::Datapath::ensureBpffs().ok());
  const std::string pins = "/sys/fs/bpf/vfsteer-test-header-" + std::to_string(getpid());
  fs::create_directories(pins);
  struct Unpin {
    std::string p;
    ~Unpin() { fs::remove_all(p); }
  } unpin{pins};
  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pins.c_str());
  bpf_object* obj = bpf_object__open_file(object.c_str(), &opts);
  ASSERT_NE(obj, nullptr);
  EXPECT_EQ(bpf_object__load(obj), 0) << "the verifier takes a stage built against the written header";
  bpf_object__close(obj);

  auto bad = vfsteerCli({"metadata", "header", "-o", "/nonexistent/dir/vfsteer_meta.h"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("cannot write /nonexistent/dir/vfsteer_meta.h"), std::string::npos) << bad.err;
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

// The issue's own test: a user stage in the lab reads the RX hash and the
// VLAN tag from vfsteer's metadata. The wire hands uplink0 one frame with
// its tag in skb metadata (as a NIC that strips tags does) and one without.
// With the XDP entry (here veth's, which reads all three fields), the stage
// sees the kernel's hash and the tag that was sent; with host_xdp: off it
// sees no metadata at all, never zeros taken for values.
TEST_F(RxMetadataLab, AUserStageReadsTheRxHashAndTheStrippedTagFromMetadata) {
  VFSTEER_REQUIRE_ROOT();
  auto wire = netlink::Netns::byName(labNetns("wire"));
  ASSERT_TRUE(wire.ok());
  MetaReader tagger;
  tagger.obj = bpf_object__open_file(VFSTEER_META_READER_BPF, nullptr);
  ASSERT_NE(tagger.obj, nullptr);
  // Only its tag_egress program is used: its vfs_jmp (pinned by name, in
  // bpffs's root with no pin directory given) must not be pinned at all.
  ASSERT_EQ(bpf_map__set_pin_path(bpf_object__find_map_by_name(tagger.obj, "vfs_jmp"), nullptr), 0);
  ASSERT_EQ(bpf_object__load(tagger.obj), 0);
  const int tagFd = bpf_program__fd(bpf_object__find_program_by_name(tagger.obj, "tag_egress"));
  int wireIndex = 0;
  ASSERT_TRUE(wire->runInside([&] {
    wireIndex = static_cast<int>(if_nametoindex("wire0"));
    return attachTc(wireIndex, BPF_TC_EGRESS, tagFd);
  }).ok());
  struct Untag {
    netlink::Netns& ns;
    int ifindex;
    ~Untag() {
      (void)ns.runInside([&] {
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
        bpf_tc_hook_destroy(&hook);
        return okStatus();
      });
    }
  } untag{*wire, wireIndex};

  auto apply = [&](const char* hostXdp) {
    const std::string path = "/tmp/vfsteer-meta-" + std::to_string(getpid()) + "-" + hostXdp + ".yaml";
    std::ofstream(path) << "version: 1\ndevice: {pf: uplink0, netns: " << labNetns("host")
                        << ", vfs: {count: 4}, host_xdp: " << hostXdp << "}\nchains:\n"
                        << "  - {name: plain, priority: 1, match: {ip_proto: udp, dst_port: 9990}, stages: [{bpf: "
                           "{object: " VFSTEER_META_STAGE_BPF ", program: meta_stage}}, {deliver: {vf: 0}}]}\n"
                        << "  - {name: tagged, priority: 2, match: {ip_proto: udp, dst_port: 9991}, stages: [{bpf: "
                           "{object: " VFSTEER_META_STAGE_BPF ", program: meta_stage}}, {deliver: {vf: 0}}]}\n";
    auto r = vfsteerCli({"apply", "-f", path});
    ASSERT_EQ(r.status, 0) << r.err << r.out;
  };
  auto seenNow = [&](uint32_t key) {
    Seen s{};
    int fd = bpf_obj_get((labPins() + "/meta_seen").c_str());
    EXPECT_GE(fd, 0) << "the stage pins its map in vfsteer's directory";
    if (fd >= 0) {
      EXPECT_EQ(bpf_map_lookup_elem(fd, &key, &s), 0);
      close(fd);
    }
    return s;
  };
  auto udpTo = [](uint16_t port) {
    return FrameBuilder::ethernet(mac("02:00:00:00:00:10"), mac("02:00:00:00:00:fe"), ETH_P_IP,
                                  FrameBuilder::ipv4("10.9.0.1", "10.1.0.1", IPPROTO_UDP,
                                                     FrameBuilder::udp(40000, port, text("meta-stage"))));
  };
  auto send = [&] { ASSERT_TRUE(sendFrames(labNetns("wire"), "wire0", {udpTo(9990), udpTo(9991)}).ok()); };

  apply("auto");
  auto rep = vfsteerCli({"report", "-o", "json", "--instance", labInstance()});
  ASSERT_EQ(rep.status, 0) << rep.err;
  const auto doc = nlohmann::json::parse(rep.out);
  ASSERT_EQ(doc["datapath"]["xdp_attachments"].size(), 1u);
  EXPECT_EQ(doc["datapath"]["xdp_attachments"][0]["rx_metadata"], true)
      << "veth reads RX metadata on this kernel: uplink0 gets its own entry";
  EXPECT_EQ(doc["datapath"]["xdp_attachments"][0]["attached"], true);
  std::vector<std::string> ports;
  for (const auto& p : doc["xdp_rx_metadata"]) {
    ports.push_back(p["port"]);
    for (const auto& [field, f] : p["fields"].items()) EXPECT_EQ(f["supplied"], "yes") << p["port"] << " " << field;
  }
  EXPECT_EQ(ports, kLabHostDevices) << "report has metadata show's table";
  for (const auto& c : doc["chains"]) {
    EXPECT_EQ(c["host_hook"], "tc") << "a bpf stage runs in tc; the XDP entry is there for the metadata";
    EXPECT_EQ(c["rx_metadata"], "supplied by uplink0's XDP entry: rx_hash, rx_timestamp, vlan_tag") << c.dump();
  }
  send();
  const Seen plain = seenNow(0), tagged = seenNow(1);
  ASSERT_EQ(plain.frames, 1u);
  ASSERT_EQ(tagged.frames, 1u) << "the tagged frame reached the stage with its tag in skb metadata";
  for (const Seen& s : {plain, tagged}) {
    EXPECT_EQ(s.found, 1u);
    EXPECT_TRUE(s.valid & VFSTEER_META_RX_HASH);
    EXPECT_EQ(s.rxHash, s.skbHash) << "the RX hash is the kernel's hash of the frame";
    EXPECT_EQ(s.verdict, static_cast<uint32_t>(VFS_HO_CHAIN)) << "the XDP entry handed tc its chain";
  }
  EXPECT_FALSE(plain.valid & VFSTEER_META_VLAN);
  EXPECT_TRUE(tagged.valid & VFSTEER_META_VLAN);
  EXPECT_EQ(tagged.vlanTci, 77u) << "the tag that was sent";
  EXPECT_EQ(tagged.vlanProto, htons(ETH_P_8021Q));
  EXPECT_EQ(tagged.skbVlanTci & 0x0fff, 77u);

  apply("off");
  auto offRep = vfsteerCli({"report", "-o", "json", "--instance", labInstance()});
  ASSERT_EQ(offRep.status, 0) << offRep.err;
  for (const auto& c : nlohmann::json::parse(offRep.out)["chains"])
    EXPECT_EQ(c["rx_metadata"], "not supplied: the policy sets device.host_xdp: off") << c.dump();
  send();
  const Seen plainOff = seenNow(0), taggedOff = seenNow(1);
  EXPECT_EQ(plainOff.frames, 2u);
  EXPECT_EQ(taggedOff.frames, 2u);
  EXPECT_EQ(plainOff.found, 1u) << "no XDP entry: the stage finds no metadata";
  EXPECT_EQ(taggedOff.found, 1u) << "no XDP entry: the stage finds no metadata";
}

}  // namespace
}  // namespace vfsteer::testing
