// libFuzzer target: the BPF programs that parse packets, run by the kernel
// on random frames through BPF_PROG_TEST_RUN: the host datapath (its tc and
// XDP entries, with tables from a policy that uses every match key and
// stage; once with the classifier made for the policy and the fast parse,
// once with the tables and the full parse only, which must run the same
// chain with the same verdict) and the
// generated NIC demux program (tc and XDP). Loading them is the verifier
// check; each run must succeed and return a verdict the hook allows. Needs
// root (it loads BPF programs and pins the datapath under /sys/fs/bpf).
#include <bpf/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "engine/demux_rules.hpp"
#include "engine/host_program.hpp"
#include "vfsteer/demux/splitter.hpp"
#include "vfsteer/policies/loader.hpp"
#include "vfsteer/representors/bpf_classifier.hpp"
#include "vfsteer/representors/bpf_demux.hpp"
#include "vfsteer/representors/datapath.hpp"

using namespace vfsteer;

namespace {

constexpr uint32_t kIfindex = 1;  // lo: test runs attribute packets to it

// Every match key and host stage the datapath implements.
const char* kPolicy = R"(version: 1
device: {pf: uplink0, vfs: {count: 4}}
chains:
  - {name: web, priority: 10, match: {vlan: 100, ip_proto: tcp, dst_ip: 10.0.0.0/24, dst_port: 80}, stages: [vlan_pop, {deliver: {vf: 0}}]}
  - {name: qinq, priority: 11, match: {vlan: 10, cvlan: 20}, stages: [vlan_pop, vlan_pop, {deliver: {vf: 1}}]}
  - {name: vx, priority: 20, match: {tunnel: {type: vxlan, vni: 42}}, stages: [tunnel_decap, {queue: 3}, {deliver: {vf: 1}}]}
  - {name: gnv, priority: 21, match: {tunnel: {type: geneve, vni: 7}}, stages: [tunnel_decap, {mark: 9}, {deliver: {vf: 2}}]}
  - {name: v6, priority: 25, match: {dst_ip: "2001:db8::/32", ip_proto: udp, src_port: 1000}, stages: [{vlan_push: 5}, {deliver: {vf: 3}}]}
  - {name: count, priority: 30, match: {ip_proto: udp, dst_port: 53}, stages: [{bpf: {object: )" VFSTEER_SOURCE_DIR
                      R"(/examples/bpf/count.bpf.o, program: count}}, {mirror: {vf: 0}}, {deliver: {vf: 2}}]}
  - {name: metered, priority: 40, match: {dst_ip: 10.0.9.0/24}, stages: [{police: {rate_kbps: 800, burst_kb: 4}}, {deliver: {vf: 3}}]}
  - {name: l2, priority: 45, match: {dst_mac: "02:00:00:00:00:10", ethertype: 0x88b5}, stages: [{deliver: host}]}
  - {name: blocked, priority: 50, match: {src_ip: 192.0.2.0/24}, stages: [drop]}
  - {name: vf0-out, priority: 10, match: {from: {vf: 0}, ip_proto: tcp}, stages: [{mark: 7}, {deliver: uplink}]}
)";

// The host datapath twice: with the classifier made for the policy (the
// one a policy this small gets) and the fast parse, and with the tables and
// the full parse only; every frame runs through both, and both must run the
// same chain.
struct Programs {
  int hostIngress = -1;
  int hostXdp = -1;
  int tablesIngress = -1;
  int tablesXdp = -1;
  std::vector<uint32_t> chainIds;  // the host chains' counter ids
  int demuxTc = -1;
  int demuxXdp = -1;
  std::optional<representors::Datapath> datapath;        // specialized
  std::optional<representors::Datapath> tablesDatapath;  // tables
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "datapath_parser_fuzz: %s\n", what.c_str());
  std::abort();
}

std::string g_pinDir;

void removePins() {
  for (const std::string& dir : {g_pinDir, g_pinDir + "-tables"}) {
    auto dp = representors::Datapath::open(dir);
    if (dp.ok() && dp->has_value()) (void)(*dp)->destroy();
  }
}

// A datapath pinned in `dir` running `tables` with `classifier` and `parser`.
representors::Datapath loadDatapath(const std::string& dir, representors::HostTables tables,
                                    representors::HostTables::Classifier classifier,
                                    representors::Datapath::Parser parser) {
  auto dp = representors::Datapath::create(dir, parser);
  if (!dp.ok()) die("the host datapath does not load: " + dp.error().describe());
  for (const auto& prog : tables.userPrograms)
    if (auto s = dp->loadUserProgram(prog); !s.ok()) die(s.error().describe());
  tables.classifier = classifier;
  const uint32_t gen = dp->activeGeneration() ^ 1;
  if (auto s = dp->writeGeneration(gen, tables); !s.ok()) die(s.error().describe());
  if (auto s = dp->activate(gen); !s.ok()) die(s.error().describe());
  return std::move(*dp);
}

Programs& programs() {
  static Programs p = [] {
    if (geteuid() != 0) die("needs root (loads BPF programs)");
    auto policy = policies::loadPolicyText(kPolicy, "fuzz-datapath.yaml");
    if (!policy.ok()) die(policy.error().describe());
    auto profiles = policies::loadProfileDir(VFSTEER_SOURCE_DIR "/profiles");
    if (!profiles.ok()) die(profiles.error().describe());
    Programs out;

    // The host datapath with every chain on the host.
    auto veth = policies::selectProfile(*profiles, "veth", "");
    auto hostPlan = veth.ok() ? demux::plan(*policy, *veth) : Result<demux::Plan>(veth.error());
    if (!hostPlan.ok() || !hostPlan->ok()) die("cannot plan the fuzz policy on veth");
    engine::HostBindings bindings;
    bindings.xdpMode = policies::HostXdp::kNative;  // every chain XDP can run is marked for it
    bindings.uplinkIfindex = IfIndex{kIfindex};
    bindings.uplinkName = "lo";
    for (uint16_t vf = 0; vf < 4; ++vf) {
      bindings.repIfindex[VfIndex{vf}] = IfIndex{kIfindex};
      bindings.repName[VfIndex{vf}] = "lo";
    }
    auto host = engine::buildHostProgram(*policy, *hostPlan, bindings, nullptr);
    if (!host.ok()) die(host.error().describe());
    if (auto s = representors::Datapath::ensureBpffs(); !s.ok()) die(s.error().describe());
    g_pinDir = "/sys/fs/bpf/vfsteer-fuzz-" + std::to_string(getpid());
    std::atexit(removePins);
    if (!representors::specializable(host->tables)) die("the fuzz policy is too large to specialize");
    out.datapath = loadDatapath(g_pinDir, host->tables, representors::HostTables::Classifier::kSpecialized,
                                representors::Datapath::Parser::kFastThenFull);
    out.tablesDatapath = loadDatapath(g_pinDir + "-tables", host->tables, representors::HostTables::Classifier::kTables,
                                      representors::Datapath::Parser::kFullOnly);
    out.hostIngress = out.datapath->ingressFd();
    out.hostXdp = out.datapath->xdpFd();
    out.tablesIngress = out.tablesDatapath->ingressFd();
    out.tablesXdp = out.tablesDatapath->xdpFd();
    for (const auto& [name, id] : host->chainIds) out.chainIds.push_back(id);

    // The NIC demux program for what netdevsim's profile takes.
    auto nsim = policies::selectProfile(*profiles, "netdevsim", "");
    auto nicPlan = nsim.ok() ? demux::plan(*policy, *nsim) : Result<demux::Plan>(nsim.error());
    if (!nicPlan.ok()) die("cannot plan the fuzz policy on netdevsim");
    auto rules = engine::buildDemuxRules(*policy, *nicPlan);
    if (!rules.ok()) die(rules.error().describe());
    for (auto [hook, fd] : {std::pair{representors::DemuxHook::kTc, &out.demuxTc},
                            std::pair{representors::DemuxHook::kXdp, &out.demuxXdp}}) {
      auto loaded = representors::loadDemux(representors::compileDemux(*rules, hook), hook, 0);
      if (!loaded.ok()) die("the demux program does not load: " + loaded.error().describe());
      *fd = *loaded;
    }
    return out;
  }();
  return p;
}

// libFuzzer cannot see inside the kernel: what a run did (program, verdict,
// length change, mark and queue set; for the host datapath the chain and
// stages it ran and the global counters it moved) becomes coverage through
// these extra counters, so inputs that take new paths through the BPF code
// are kept.
__attribute__((section("__libfuzzer_extra_counters"))) uint8_t g_paths[1 << 12];

void notePath(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t h = (a * 0x9e3779b97f4a7c15ULL) ^ (b * 0xc2b2ae3d27d4eb4fULL) ^ (c * 0x165667b19e3779f9ULL);
  h ^= h >> 29;
  g_paths[h % sizeof g_paths]++;
}

// Runs `fd` on the frame; returns its verdict, or nothing when the kernel
// refuses the frame itself (a tc test run wants the whole L3 header of the
// ethertype it names).
std::optional<int> run(int fd, int which, const std::vector<uint8_t>& frame, bool tc) {
  __sk_buff ctx{}, ctxOut{};
  ctx.ingress_ifindex = kIfindex;
  ctx.ifindex = kIfindex;
  std::vector<uint8_t> out(frame.size() + 256);
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_out = out.data(),
              .data_size_in = static_cast<uint32_t>(frame.size()), .data_size_out = static_cast<uint32_t>(out.size()),
              .ctx_in = tc ? &ctx : nullptr, .ctx_out = tc ? &ctxOut : nullptr,
              .ctx_size_in = tc ? static_cast<uint32_t>(sizeof ctx) : 0u,
              .ctx_size_out = tc ? static_cast<uint32_t>(sizeof ctxOut) : 0u,
              .repeat = 1);
  if (bpf_prog_test_run_opts(fd, &opts) != 0) {
    if (errno == EINVAL && tc && frame.size() < ETH_HLEN + 40) return std::nullopt;
    die("BPF_PROG_TEST_RUN failed on a " + std::to_string(frame.size()) + "-byte frame: " + std::strerror(errno));
  }
  const int64_t grew = static_cast<int64_t>(opts.data_size_out) - static_cast<int64_t>(frame.size());
  notePath(static_cast<uint64_t>(which) << 32 | opts.retval, static_cast<uint64_t>(grew),
           static_cast<uint64_t>(ctxOut.mark) << 32 | ctxOut.queue_mapping);
  return static_cast<int>(opts.retval);
}

// The datapath's global counters, then per host chain its packets and
// per-stage packets: what one run moved tells which path it took.
constexpr size_t kMalformed = 0, kUnmatched = 1, kPoliced = 2, kTailcallFailures = 3, kGlobals = 5;
constexpr size_t kPerChain = 1 + VFS_MAX_STAGES;
std::vector<uint64_t> counters(Programs& p, const representors::Datapath& dp) {
  std::vector<uint64_t> c;
  auto g = dp.globalCounters();
  if (!g.ok()) die(g.error().describe());
  c = {g->malformed, g->unmatched, g->policed, g->tailcallFailures, g->actionErrors};
  for (uint32_t id : p.chainIds) {
    auto cc = dp.chainCounters(id);
    if (!cc.ok()) die(cc.error().describe());
    c.push_back(cc->packets);
    c.insert(c.end(), cc->stagePackets.begin(), cc->stagePackets.end());
  }
  return c;
}

std::vector<uint64_t> counters(Programs& p) { return counters(p, *p.datapath); }

// What a run moved of the counters that say how the frame was classified:
// malformed, unmatched, and each chain's packets.
std::vector<uint64_t> classification(const std::vector<uint64_t>& before, const std::vector<uint64_t>& after) {
  std::vector<uint64_t> moved = {after[kMalformed] - before[kMalformed], after[kUnmatched] - before[kUnmatched]};
  for (size_t i = kGlobals; i < after.size(); i += kPerChain) moved.push_back(after[i] - before[i]);
  return moved;
}

// The tables' datapath must run the frame as the specialized one did (the
// same verdict, unless a policer, whose buckets are each datapath's own,
// dropped it in either; the same chain).
void sameAsTables(Programs& p, int tablesFd, int which, const std::vector<uint8_t>& frame, bool tc,
                  std::optional<int> verdict, const std::vector<uint64_t>& moved, bool policed) {
  const auto before = counters(p, *p.tablesDatapath);
  const auto v = run(tablesFd, which, frame, tc);
  const auto after = counters(p, *p.tablesDatapath);
  if (v.has_value() != verdict.has_value()) die("the kernel ran the frame on one datapath only");
  if (!v) return;
  policed |= after[kPoliced] != before[kPoliced];
  if (!policed && *v != *verdict)
    die(std::string(tc ? "tc" : "XDP") + ": verdict " + std::to_string(*verdict) +
        " with the specialized classifier, " + std::to_string(*v) + " with the tables");
  if (classification(before, after) != moved)
    die(std::string(tc ? "tc" : "XDP") + ": the specialized classifier and the tables ran different chains");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Programs& p = programs();
  // At least an Ethernet header (the kernel's own minimum), at most a
  // jumbo-free frame.
  if (size < ETH_HLEN || size > 1514) return 0;
  const std::vector<uint8_t> frame(data, data + size);
  // The XDP entry first: a frame it passes on to tc must not have been
  // counted anywhere (tc counts it), one it handles counted by its chain.
  const auto beforeXdp = counters(p);
  const auto xdp = run(p.hostXdp, 4, frame, false);
  const auto afterXdp = counters(p);
  if (xdp) {
    if (*xdp != XDP_PASS && *xdp != XDP_DROP && *xdp != XDP_REDIRECT)
      die("the XDP entry returned verdict " + std::to_string(*xdp));
    if (*xdp == XDP_PASS && afterXdp != beforeXdp) die("the XDP entry counted a frame it passed on to tc");
    for (size_t i = 0; i < afterXdp.size(); ++i)
      if (afterXdp[i] != beforeXdp[i]) notePath(5, i, afterXdp[i] - beforeXdp[i]);
  }
  sameAsTables(p, p.tablesXdp, 6, frame, false, xdp, classification(beforeXdp, afterXdp),
               afterXdp[kPoliced] != beforeXdp[kPoliced]);
  const auto before = counters(p);
  const auto tc = run(p.hostIngress, 0, frame, true);
  const auto after = counters(p);
  if (tc) {
    if (*tc != TC_ACT_OK && *tc != TC_ACT_SHOT && *tc != TC_ACT_REDIRECT && *tc != TC_ACT_UNSPEC)
      die("the host datapath returned verdict " + std::to_string(*tc));
    for (size_t i = 0; i < after.size(); ++i)
      if (after[i] != before[i]) notePath(3, i, after[i] - before[i]);
    if (after[kTailcallFailures] != before[kTailcallFailures])
      die("a bpf stage's tail call failed (its program is loaded)");
  }
  sameAsTables(p, p.tablesIngress, 7, frame, true, tc, classification(before, after),
               after[kPoliced] != before[kPoliced]);
  if (auto v = run(p.demuxTc, 1, frame, true)) {
    if (*v != TC_ACT_OK && *v != TC_ACT_SHOT && *v != TC_ACT_UNSPEC)
      die("the tc demux program returned verdict " + std::to_string(*v));
  }
  if (auto v = run(p.demuxXdp, 2, frame, false)) {
    if (*v != XDP_PASS && *v != XDP_DROP) die("the XDP demux program returned verdict " + std::to_string(*v));
  }
  return 0;
}
