// Per-packet cost of the host datapath (classification + a redirect stage)
// with 1, 1,000 and 100,000 rules, against a minimal parse-and-redirect
// program, both run with BPF_PROG_TEST_RUN in the same process: the tc
// entry against a minimal tc program, the XDP entry against a minimal XDP
// program. For tc also against a "floor": the minimal program plus one hash
// lookup of a key as long as the datapath's (the least any table-driven
// classifier does). Then the trombone with real frames: the XDP entry run
// with BPF_F_TEST_XDP_LIVE_FRAMES, so every frame really is redirected out
// of a veth, against the minimal XDP program redirecting to the same veth:
// frames per second on one core. Ends with one JSON line of every figure.
// Run as root:
//   build/bench/host_datapath_bench [rules...]     (default: 1 1000 100000)
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_cls.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <net/if.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "cli_runner.hpp"
#include "vfsteer/netlink/socket.hpp"
#include "vfsteer/representors/datapath.hpp"

using namespace vfsteer;
using namespace vfsteer::representors;

namespace {

constexpr int kRepeat = 2000000;
constexpr int kRuns = 5;
constexpr uint32_t kIfindex = 1;  // lo: test runs attribute the packet to it

uint32_t ruleAddress(int i) { return 0x0a000000u + static_cast<uint32_t>(i); }

// A UDP/IPv4 frame to the address of rule `i`.
std::vector<uint8_t> frameFor(int i) {
  std::vector<uint8_t> f(64, 0);
  std::memcpy(f.data(), "\x02\x00\x00\x00\x00\x10\x02\x00\x00\x00\x00\xfe\x08\x00", 14);
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  ip[3] = 50;
  ip[8] = 64;
  ip[9] = 17;
  uint32_t src = htonl(0x0a090001), dst = htonl(ruleAddress(i));
  std::memcpy(ip + 12, &src, 4);
  std::memcpy(ip + 16, &dst, 4);
  uint8_t* udp = ip + 20;
  udp[0] = 0x9c;
  udp[1] = 0x40;
  udp[2] = 0x13;
  udp[3] = 0x88;  // 5000
  return f;
}

// bench/bpf/minimal.bpf.c's struct floor_key.
struct FloorKey {
  uint32_t ifindex;
  uint32_t dst4;
  uint16_t dport;
  uint8_t proto;
  uint8_t pad[37];
};
static_assert(sizeof(FloorKey) == 48, "as long as vfs_compact_rule_key");

// The floor program's table with `rules` entries, like tablesWith's rules.
bool fillFloor(int mapFd, int rules) {
  for (int i = 0; i < rules; ++i) {
    FloorKey k{};
    k.ifindex = kIfindex;
    k.dst4 = htonl(ruleAddress(i));
    k.dport = htons(5000);
    k.proto = 17;
    uint32_t v = 1;
    if (bpf_map_update_elem(mapFd, &k, &v, BPF_ANY) != 0) return false;
  }
  return true;
}

// `rules` rules matching frames that arrive on `ingress`, whose one chain
// redirects them out of `target`.
HostTables tablesWith(int rules, uint32_t ingress = kIfindex, uint32_t target = kIfindex) {
  HostTables t;
  vfs_tuple tuple{};
  tuple.mask.ifindex = 0xffffffff;
  tuple.mask.ethertype = 0xffff;
  tuple.mask.ip_proto = 0xff;
  tuple.mask.dport = 0xffff;
  tuple.mask.dst4 = 0xffffffff;
  tuple.compact = 1;
  t.tuples.push_back(tuple);
  vfs_chain c{};
  c.id = 0;
  c.nstages = 1;
  c.flags = VFS_CHAIN_XDP;
  c.stages[0].kind = VFS_ST_REDIRECT;
  c.stages[0].u32 = target;
  t.chains.push_back(c);
  for (int i = 0; i < rules; ++i) {
    HostRule r;
    r.tuple = 0;
    r.masked.ifindex = ingress;
    r.masked.ethertype = htons(0x0800);
    r.masked.ip_proto = 17;
    r.masked.dport = htons(5000);
    r.masked.dst4 = htonl(ruleAddress(i));
    r.rule.priority = 1;
    r.rule.chain = 0;
    t.rules.push_back(r);
  }
  return t;
}

enum class Hook { kTc, kXdp };

// Average nanoseconds per run over kRepeat runs, best of kRuns.
double nsPerPacket(int progFd, Hook hook, const std::vector<uint8_t>& frame, int expect) {
  double best = 1e9;
  for (int run = 0; run < kRuns; ++run) {
    __sk_buff skb{};
    skb.ingress_ifindex = kIfindex;
    skb.ifindex = kIfindex;
    xdp_md xdp{};
    xdp.ingress_ifindex = kIfindex;
    xdp.data_end = static_cast<uint32_t>(frame.size());
    void* ctx = hook == Hook::kTc ? static_cast<void*>(&skb) : static_cast<void*>(&xdp);
    const uint32_t ctxSize = hook == Hook::kTc ? sizeof skb : sizeof xdp;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = static_cast<uint32_t>(frame.size()),
                .ctx_in = ctx, .ctx_size_in = ctxSize, .repeat = kRepeat);
    if (bpf_prog_test_run_opts(progFd, &opts) != 0) {
      std::perror("bpf_prog_test_run_opts");
      return -1;
    }
    if (static_cast<int>(opts.retval) != expect) {
      std::fprintf(stderr, "unexpected verdict %u (wanted %d)\n", opts.retval, expect);
      return -1;
    }
    best = std::min(best, static_cast<double>(opts.duration));
  }
  return best;
}

constexpr int kLiveFrames = 10000000;
constexpr uint32_t kLiveBatch = 64;

// Frames per second (millions) of `progFd` run on live frames arriving on
// `ingress`: each verdict is carried out (a redirect sends the frame), best
// of kRuns. Call from inside the namespace that holds `ingress`.
double liveMpps(int progFd, uint32_t ingress, const std::vector<uint8_t>& frame) {
  double best = 0;
  for (int run = 0; run < kRuns; ++run) {
    xdp_md xdp{};
    xdp.ingress_ifindex = ingress;
    xdp.data_end = static_cast<uint32_t>(frame.size());
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = static_cast<uint32_t>(frame.size()),
                .ctx_in = &xdp, .ctx_size_in = sizeof xdp, .repeat = kLiveFrames,
                .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = kLiveBatch);
    if (bpf_prog_test_run_opts(progFd, &opts) != 0) {
      std::perror("bpf_prog_test_run_opts (live frames)");
      return -1;
    }
    if (opts.duration == 0) return -1;
    best = std::max(best, 1000.0 / static_cast<double>(opts.duration));
  }
  return best;
}

// A minimal XDP program that redirects every frame to `target`.
bpf_object* minimalRedirectingTo(uint32_t target) {
  bpf_object* obj = bpf_object__open_file(VFSTEER_BENCH_MINIMAL_OBJ, nullptr);
  if (!obj) return nullptr;
  bpf_map* rodata = nullptr;
  bpf_map* m = nullptr;
  bpf_object__for_each_map(m, obj) if (std::string(bpf_map__name(m)).find(".rodata") != std::string::npos) rodata = m;
  // minimal.bpf.c's only constant: target_ifindex.
  if (!rodata || bpf_map__set_initial_value(rodata, &target, sizeof target) != 0 || bpf_object__load(obj) != 0) {
    bpf_object__close(obj);
    return nullptr;
  }
  return obj;
}

// The trombone on real frames: a veth pair in a namespace of its own, frames
// "arriving" on va and redirected back out of it (vb has GRO on, so va
// takes XDP frames: veth_xdp_xmit needs NAPI on the peer).
struct LiveFigures {
  double vfsteerMpps = -1, minimalMpps = -1;
  uint64_t arrived = 0;  // frames vb received: the redirects really sent them
};

// vb's received-packet counter, as ip(8) reports it.
uint64_t rxPackets(const std::string& ns, const std::string& dev) {
  auto r = testing::runProgram({"/usr/sbin/ip", "-n", ns, "-s", "-j", "link", "show", "dev", dev});
  auto doc = nlohmann::json::parse(r.out, nullptr, false);
  if (doc.is_discarded() || !doc.is_array() || doc.empty()) return 0;
  return doc[0]["stats64"]["rx"]["packets"].get<uint64_t>();
}
LiveFigures measureLive(Datapath& dp, uint32_t& gen) {
  LiveFigures out;
  const std::string ns = "vfsb-" + std::to_string(getpid());
  auto ip = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/sbin/ip");
    return testing::runProgram(args).status == 0;
  };
  if (!ip({"netns", "add", ns}) || !ip({"-n", ns, "link", "add", "va", "type", "veth", "peer", "name", "vb"}) ||
      !ip({"-n", ns, "link", "set", "va", "up"}) || !ip({"-n", ns, "link", "set", "vb", "up"}) ||
      testing::runProgram({"/usr/sbin/ip", "netns", "exec", ns, "ethtool", "-K", "vb", "gro", "on"}).status != 0) {
    std::fprintf(stderr, "cannot set up the live-frames veth pair\n");
    ip({"netns", "del", ns});
    return out;
  }
  auto netns = netlink::Netns::byName(ns);
  Status ran = netns.ok() ? netns->runInside([&]() -> Status {
    const auto va = static_cast<uint32_t>(if_nametoindex("va"));
    if (va == 0) return Error::fromErrno(errno, "find va");
    gen ^= 1;
    VFSTEER_TRY(dp.writeGeneration(gen, tablesWith(1, va, va)));
    VFSTEER_TRY(dp.activate(gen));
    (void)dp.clearGeneration(gen ^ 1);
    bpf_object* minimal = minimalRedirectingTo(va);
    if (!minimal) return Error(ErrorCode::kInternal, "cannot load the minimal program redirecting to va");
    const auto frame = frameFor(0);
    out.vfsteerMpps = liveMpps(dp.xdpFd(), va, frame);
    out.minimalMpps = liveMpps(bpf_program__fd(bpf_object__find_program_by_name(minimal, "minimal_xdp")), va, frame);
    bpf_object__close(minimal);
    return okStatus();
  }) : netns.error();
  if (!ran.ok()) std::fprintf(stderr, "live frames: %s\n", ran.error().describe().c_str());
  out.arrived = rxPackets(ns, "vb");
  ip({"netns", "del", ns});
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    std::fprintf(stderr, "host_datapath_bench: needs root (loads BPF programs)\n");
    return 1;
  }
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::stoi(argv[i]));
  if (sizes.empty()) sizes = {1, 1000, 100000};

  bpf_object* minimal = bpf_object__open_file(VFSTEER_BENCH_MINIMAL_OBJ, nullptr);
  if (!minimal || bpf_object__load(minimal) != 0) {
    std::fprintf(stderr, "cannot load %s\n", VFSTEER_BENCH_MINIMAL_OBJ);
    return 1;
  }
  const int minimalFd = bpf_program__fd(bpf_object__find_program_by_name(minimal, "minimal"));
  const int minimalXdpFd = bpf_program__fd(bpf_object__find_program_by_name(minimal, "minimal_xdp"));
  const int floorFd = bpf_program__fd(bpf_object__find_program_by_name(minimal, "minimal_lookup"));
  const int floorMap = bpf_map__fd(bpf_object__find_map_by_name(minimal, "floor_rules"));

  if (auto s = Datapath::ensureBpffs(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.error().describe().c_str());
    return 1;
  }
  const std::string dir = "/sys/fs/bpf/vfsteer-bench-" + std::to_string(getpid());
  auto dp = Datapath::create(dir);
  if (!dp.ok()) {
    std::fprintf(stderr, "%s\n", dp.error().describe().c_str());
    return 1;
  }
  std::printf("BPF_PROG_TEST_RUN, 64-byte UDP/IPv4 frame, %d runs x %d repetitions (best), one match shape\n",
              kRuns, kRepeat);
  std::printf("%4s  %8s  %14s  %14s  %7s  %12s  %7s\n", "hook", "rules", "vfsteer ns/pkt", "minimal ns/pkt", "ratio",
              "floor ns/pkt", "ratio");
  int status = 0;
  uint32_t gen = dp->activeGeneration();
  nlohmann::json rows = nlohmann::json::array();
  for (int n : sizes) {
    gen ^= 1;
    auto written = dp->writeGeneration(gen, tablesWith(n));
    auto active = written.ok() ? dp->activate(gen) : written;
    if (!active.ok()) {
      std::fprintf(stderr, "%s\n", active.error().describe().c_str());
      status = 1;
      break;
    }
    (void)dp->clearGeneration(gen ^ 1);
    if (!fillFloor(floorMap, n)) {
      std::perror("fill the floor program's table");
      status = 1;
      break;
    }
    auto frame = frameFor(n / 2);
    for (Hook hook : {Hook::kTc, Hook::kXdp}) {
      const bool tc = hook == Hook::kTc;
      const int verdict = tc ? TC_ACT_REDIRECT : XDP_REDIRECT;
      double ours = nsPerPacket(tc ? dp->ingressFd() : dp->xdpFd(), hook, frame, verdict);
      double base = nsPerPacket(tc ? minimalFd : minimalXdpFd, hook, frame, verdict);
      if (ours < 0 || base < 0) {
        status = 1;
        break;
      }
      if (!tc) {
        std::printf("%4s  %8d  %14.1f  %14.1f  %6.2fx  %12s  %7s\n", "xdp", n, ours, base, ours / base, "-", "-");
        rows.push_back({{"hook", "xdp"}, {"rules", n}, {"program", "tables"}, {"ns", ours}, {"minimal_ns", base}});
        continue;
      }
      double floor = nsPerPacket(floorFd, hook, frame, verdict);
      if (floor < 0) {
        status = 1;
        break;
      }
      std::printf("%4s  %8d  %14.1f  %14.1f  %6.2fx  %12.1f  %6.2fx\n", "tc", n, ours, base, ours / base, floor,
                  ours / floor);
      rows.push_back({{"hook", "tc"}, {"rules", n}, {"program", "tables"}, {"ns", ours}, {"minimal_ns", base},
                      {"floor_ns", floor}});
    }
    if (status != 0) break;
  }
  nlohmann::json live;
  if (status == 0) {
    const LiveFigures l = measureLive(*dp, gen);
    if (l.vfsteerMpps <= 0 || l.minimalMpps <= 0 || l.arrived == 0) {
      std::fprintf(stderr, "live frames: no figures, or no frame arrived at the veth's peer\n");
      status = 1;
    } else {
      std::printf("\nlive frames (BPF_F_TEST_XDP_LIVE_FRAMES, %d frames, batches of %u, best of %d), redirected out "
                  "of a veth, one core:\n  vfsteer XDP entry %.2f Mpps, minimal redirect %.2f Mpps, ratio %.2fx\n",
                  kLiveFrames, kLiveBatch, kRuns, l.vfsteerMpps, l.minimalMpps, l.vfsteerMpps / l.minimalMpps);
      std::printf("  frames that arrived at the peer (both programs, every run): %llu of %llu sent\n",
                  static_cast<unsigned long long>(l.arrived), 2ULL * kRuns * kLiveFrames);
      live = {{"vfsteer", l.vfsteerMpps},
              {"minimal", l.minimalMpps},
              {"ratio", l.vfsteerMpps / l.minimalMpps},
              {"arrived", l.arrived},
              {"sent", 2ULL * kRuns * kLiveFrames}};
    }
  }
  (void)dp->destroy();
  bpf_object__close(minimal);
  if (status == 0) std::printf("%s\n", nlohmann::json{{"rows", rows}, {"live_mpps", live}}.dump().c_str());
  return status;
}
