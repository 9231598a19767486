// Per-packet cost of the host datapath (classification + a redirect stage)
// with 1, 1,000 and 100,000 rules, against a minimal parse-and-redirect
// program, both run with BPF_PROG_TEST_RUN in the same process: the tc
// entry against a minimal tc program, the XDP entry against a minimal XDP
// program. For tc also against a "floor": the minimal program plus one hash
// lookup of a key as long as the datapath's (the least any table-driven
// classifier does). Run as root:
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

HostTables tablesWith(int rules) {
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
  c.stages[0].u32 = kIfindex;
  t.chains.push_back(c);
  for (int i = 0; i < rules; ++i) {
    HostRule r;
    r.tuple = 0;
    r.masked.ifindex = kIfindex;
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
        continue;
      }
      double floor = nsPerPacket(floorFd, hook, frame, verdict);
      if (floor < 0) {
        status = 1;
        break;
      }
      std::printf("%4s  %8d  %14.1f  %14.1f  %6.2fx  %12.1f  %6.2fx\n", "tc", n, ours, base, ours / base, floor,
                  ours / floor);
    }
    if (status != 0) break;
  }
  (void)dp->destroy();
  bpf_object__close(minimal);
  return status;
}
