// Per-packet cost of the host datapath (classification + a redirect stage)
// with 1 to 100,000 rules (tables; up to 64 also the classifier made for the
// policy), against a minimal parse-and-redirect program, both run with
// BPF_PROG_TEST_RUN in the same process: the tc entry against a minimal tc
// program, the XDP entry against a minimal XDP program. For tc also against
// a "floor": the minimal program plus one hash lookup of a key as long as
// the datapath's (the least any table-driven classifier does). Each row
// also runs a second datapath that parses every frame in full (no fast
// parse; Datapath::Parser::kFullOnly) with the same tables, so that what
// the fast parse saves shows in the same run. Then the
// trombone with real frames: the XDP entry run with
// BPF_F_TEST_XDP_LIVE_FRAMES, so every frame really is redirected out of a
// veth, with the tables and with the classifier made for the policy,
// against the minimal XDP program redirecting to the same veth: frames per
// second on one core. Last, what the XDP entry's handover
// saves tc: real frames arrive on a veth whose tc ingress runs the tc
// entry, once without and once with the XDP entry in front (which then
// passes each frame on with its classification in XDP metadata); the
// kernel's own per-program run time (bpf_stats) gives the tc entry's ns per
// frame in both, and the XDP entry's with and without reading the driver's
// RX metadata. Ends with one JSON line of every figure.
// Run as root:
//   build/bench/host_datapath_bench [rules...]     (default: 1 16 64 1000 100000)
// Up to kSpecializedMaxRules rules, each size also runs with the classifier
// made for the policy (bpf_classifier.hpp) instead of the tables.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <net/if.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "cli_runner.hpp"
#include "host_model.hpp"
#include "vfsteer/netlink/socket.hpp"
#include "vfsteer/representors/bpf_classifier.hpp"
#include "vfsteer/representors/datapath.hpp"

using namespace vfsteer;
using namespace vfsteer::representors;

namespace {

constexpr int kRepeat = 2000000;
constexpr int kRuns = 5;
constexpr uint32_t kIfindex = 1;  // lo: test runs attribute the packet to it

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
    k.dst4 = htonl(testing::udpRuleAddress(i));
    k.dport = htons(5000);
    k.proto = 17;
    uint32_t v = 1;
    if (bpf_map_update_elem(mapFd, &k, &v, BPF_ANY) != 0) return false;
  }
  return true;
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

// Runs `progFd` on `count` live frames arriving on `ingress`: each verdict
// is carried out (a redirect sends the frame). The ns per frame, or -1 with
// errno set. Call from inside the namespace that holds `ingress`.
double runLiveFrames(int progFd, uint32_t ingress, const std::vector<uint8_t>& frame, int count) {
  xdp_md xdp{};
  xdp.ingress_ifindex = ingress;
  xdp.data_end = static_cast<uint32_t>(frame.size());
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = static_cast<uint32_t>(frame.size()),
              .ctx_in = &xdp, .ctx_size_in = sizeof xdp, .repeat = count,
              .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = kLiveBatch);
  if (bpf_prog_test_run_opts(progFd, &opts) != 0) return -1;
  return static_cast<double>(opts.duration);
}

// Frames per second (millions) of `progFd` on live frames arriving on
// `ingress`, best of kRuns.
double liveMpps(int progFd, uint32_t ingress, const std::vector<uint8_t>& frame) {
  double best = 0;
  for (int run = 0; run < kRuns; ++run) {
    const double ns = runLiveFrames(progFd, ingress, frame, kLiveFrames);
    if (ns < 0) {
      std::perror("bpf_prog_test_run_opts (live frames)");
      return -1;
    }
    if (ns == 0) return -1;
    best = std::max(best, 1000.0 / ns);
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

// vb's received-packet counter, as ip(8) reports it.
uint64_t rxPackets(const std::string& ns, const std::string& dev) {
  auto r = testing::runProgram({"/usr/sbin/ip", "-n", ns, "-s", "-j", "link", "show", "dev", dev});
  auto doc = nlohmann::json::parse(r.out, nullptr, false);
  if (doc.is_discarded() || !doc.is_array() || doc.empty()) return 0;
  return doc[0]["stats64"]["rx"]["packets"].get<uint64_t>();
}

// A veth pair va/vb in a namespace of its own (vb has GRO on, so va takes
// XDP frames: veth_xdp_xmit needs NAPI on the peer); runs `inside` in it
// with va's and vb's ifindex, then reports how many frames vb received and
// deletes the namespace.
uint64_t withVethPair(const std::function<Status(uint32_t va, uint32_t vb)>& inside) {
  const std::string ns = "vfsb-" + std::to_string(getpid());
  auto ip = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/sbin/ip");
    return testing::runProgram(args).status == 0;
  };
  if (!ip({"netns", "add", ns}) || !ip({"-n", ns, "link", "add", "va", "type", "veth", "peer", "name", "vb"}) ||
      !ip({"-n", ns, "link", "set", "va", "up"}) || !ip({"-n", ns, "link", "set", "vb", "up"}) ||
      testing::runProgram({"/usr/sbin/ip", "netns", "exec", ns, "ethtool", "-K", "vb", "gro", "on"}).status != 0) {
    std::fprintf(stderr, "cannot set up the veth pair\n");
    ip({"netns", "del", ns});
    return 0;
  }
  auto netns = netlink::Netns::byName(ns);
  Status ran = netns.ok() ? netns->runInside([&]() -> Status {
    const auto va = static_cast<uint32_t>(if_nametoindex("va"));
    const auto vb = static_cast<uint32_t>(if_nametoindex("vb"));
    if (va == 0 || vb == 0) return Error::fromErrno(errno, "find va and vb");
    return inside(va, vb);
  }) : netns.error();
  if (!ran.ok()) std::fprintf(stderr, "%s\n", ran.error().describe().c_str());
  const uint64_t arrived = ran.ok() ? rxPackets(ns, "vb") : 0;
  ip({"netns", "del", ns});
  return arrived;
}

Status useTables(Datapath& dp, uint32_t& gen, const HostTables& tables) {
  gen ^= 1;
  VFSTEER_TRY(dp.writeGeneration(gen, tables));
  VFSTEER_TRY(dp.activate(gen));
  (void)dp.clearGeneration(gen ^ 1);
  return okStatus();
}

// The trombone on real frames: frames "arriving" on va and redirected back
// out of it.
struct LiveFigures {
  double vfsteerMpps = -1, minimalMpps = -1;
  double specializedMpps = -1;  // the same policy with its specialized classifier
  uint64_t arrived = 0;  // frames vb received: the redirects really sent them
};

LiveFigures measureLive(Datapath& dp, uint32_t& gen) {
  LiveFigures out;
  out.arrived = withVethPair([&](uint32_t va, uint32_t) -> Status {
    HostTables tables = testing::udpTables(1, va, va);
    VFSTEER_TRY(useTables(dp, gen, tables));
    bpf_object* minimal = minimalRedirectingTo(va);
    if (!minimal) return Error(ErrorCode::kInternal, "cannot load the minimal program redirecting to va");
    const auto frame = testing::udpFrame(0);
    out.vfsteerMpps = liveMpps(dp.xdpFd(), va, frame);
    tables.classifier = HostTables::Classifier::kSpecialized;
    if (Status s = useTables(dp, gen, tables); !s.ok()) {
      bpf_object__close(minimal);
      return s;
    }
    out.specializedMpps = liveMpps(dp.xdpFd(), va, frame);
    out.minimalMpps = liveMpps(bpf_program__fd(bpf_object__find_program_by_name(minimal, "minimal_xdp")), va, frame);
    bpf_object__close(minimal);
    return okStatus();
  });
  return out;
}

// The kernel's run count and run time of a program (bpf_stats).
struct RunStats {
  uint64_t count = 0, ns = 0;
};
Result<RunStats> runStats(int progFd) {
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(progFd, &info, &len) != 0) return Error::fromErrno(errno, "read program info");
  return RunStats{info.run_cnt, info.run_time_ns};
}

// What the XDP entry's handover saves tc: the tc entry's ns per frame for
// frames of a chain that runs in tc, without the XDP entry (tc parses and
// classifies) and with it (tc takes XDP's verdict), plus the XDP entry's
// own ns per frame.
struct HandoverFigures {
  double tcAloneNs = -1, tcAfterXdpNs = -1, xdpNs = -1;
  double xdpRxNs = -1;  // the port's own vfs_xdp_rx: the same plus the RX metadata kfuncs
  uint64_t handedOver = 0;  // the datapath's count of frames tc took from XDP
};
constexpr int kHandoverFrames = 1000000;

HandoverFigures measureHandover(Datapath& dp, uint32_t& gen) {
  HandoverFigures out;
  withVethPair([&](uint32_t va, uint32_t vb) -> Status {
    VFSTEER_TRY(useTables(dp, gen, testing::udpTables(1, vb, 0, /*tcOnly=*/true)));
    bpf_object* minimal = minimalRedirectingTo(va);
    if (!minimal) return Error(ErrorCode::kInternal, "cannot load the minimal program redirecting to va");
    const int sender = bpf_program__fd(bpf_object__find_program_by_name(minimal, "minimal_xdp"));
    // ns per run of `prog` over one batch of live frames sent to vb.
    auto nsPerRun = [&](int prog, double& figure) -> Status {
      VFSTEER_ASSIGN_OR_RETURN(RunStats before, runStats(prog));
      if (runLiveFrames(sender, va, testing::udpFrame(0), kHandoverFrames) < 0)
        return Error::fromErrno(errno, "send live frames to vb");
      usleep(200000);  // let vb's NAPI drain its ring
      VFSTEER_ASSIGN_OR_RETURN(RunStats after, runStats(prog));
      if (after.count == before.count) return Error(ErrorCode::kInternal, "the program never ran");
      figure = static_cast<double>(after.ns - before.ns) / static_cast<double>(after.count - before.count);
      return okStatus();
    };
    auto measure = [&]() -> Status {
      LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(vb), .attach_point = BPF_TC_INGRESS);
      LIBBPF_OPTS(bpf_tc_opts, tcOpts, .prog_fd = dp.ingressFd());
      if (bpf_tc_hook_create(&hook) != 0 || bpf_tc_attach(&hook, &tcOpts) != 0)
        return Error::fromErrno(errno, "attach the tc entry to vb");
      VFSTEER_TRY(nsPerRun(dp.ingressFd(), out.tcAloneNs));
      if (bpf_xdp_attach(static_cast<int>(vb), dp.xdpFd(), XDP_FLAGS_DRV_MODE, nullptr) != 0)
        return Error::fromErrno(errno, "attach the XDP entry to vb");
      VFSTEER_ASSIGN_OR_RETURN(GlobalCounters before, dp.globalCounters());
      VFSTEER_TRY(nsPerRun(dp.ingressFd(), out.tcAfterXdpNs));
      VFSTEER_ASSIGN_OR_RETURN(GlobalCounters after, dp.globalCounters());
      out.handedOver = after.fromXdp - before.fromXdp;
      VFSTEER_TRY(nsPerRun(dp.xdpFd(), out.xdpNs));
      // The entry that also reads the driver's RX metadata, bound to vb.
      VFSTEER_ASSIGN_OR_RETURN(auto rx, Datapath::loadRxEntry(dp.dir(), vb));
      LIBBPF_OPTS(bpf_xdp_attach_opts, replace, .old_prog_fd = dp.xdpFd());
      if (bpf_xdp_attach(static_cast<int>(vb), rx.fd.get(), XDP_FLAGS_DRV_MODE | XDP_FLAGS_REPLACE, &replace) != 0)
        return Error::fromErrno(errno, "attach the RX metadata entry to vb");
      return nsPerRun(rx.fd.get(), out.xdpRxNs);
    };
    // bpf_stats count while this descriptor is open.
    const int statsFd = bpf_enable_stats(BPF_STATS_RUN_TIME);
    Status s = statsFd < 0 ? Error::fromErrno(errno, "enable bpf_stats") : measure();
    if (statsFd >= 0) close(statsFd);
    bpf_object__close(minimal);
    return s;  // the namespace goes, and with it both attachments
  });
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
  if (sizes.empty()) sizes = {1, 16, static_cast<int>(kSpecializedMaxRules), 1000, 100000};

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
  auto dpFull = Datapath::create(dir + "-full-parse", Datapath::Parser::kFullOnly);
  if (!dpFull.ok()) {
    std::fprintf(stderr, "%s\n", dpFull.error().describe().c_str());
    (void)dp->destroy();
    return 1;
  }
  std::printf("BPF_PROG_TEST_RUN, 64-byte UDP/IPv4 frame, %d runs x %d repetitions (best), one match shape;\n"
              "specialized: the classifier made for the policy, the frame matching its last rule\n",
              kRuns, kRepeat);
  std::printf("%4s  %8s  %-11s  %14s  %10s  %14s  %7s  %12s  %7s\n", "hook", "rules", "program", "vfsteer ns/pkt",
              "full parse", "minimal ns/pkt", "ratio", "floor ns/pkt", "ratio");
  int status = 0;
  uint32_t gen = dp->activeGeneration();
  uint32_t genFull = dpFull->activeGeneration();
  nlohmann::json rows = nlohmann::json::array();
  for (int n : sizes) {
    for (auto classifier : {HostTables::Classifier::kTables, HostTables::Classifier::kSpecialized}) {
      const bool specialized = classifier == HostTables::Classifier::kSpecialized;
      HostTables tables = testing::udpTables(n, kIfindex, kIfindex);
      if (specialized && !specializable(tables)) continue;
      tables.classifier = classifier;
      gen ^= 1;
      genFull ^= 1;
      auto written = dp->writeGeneration(gen, tables);
      auto active = written.ok() ? dp->activate(gen) : written;
      if (active.ok()) active = dpFull->writeGeneration(genFull, tables);
      if (active.ok()) active = dpFull->activate(genFull);
      if (!active.ok()) {
        std::fprintf(stderr, "%s\n", active.error().describe().c_str());
        status = 1;
        break;
      }
      (void)dp->clearGeneration(gen ^ 1);
      (void)dpFull->clearGeneration(genFull ^ 1);
      if (!fillFloor(floorMap, n)) {
        std::perror("fill the floor program's table");
        status = 1;
        break;
      }
      // The tables cost the same for any rule; the specialized classifier
      // tries its rules in order, so its worst case is the last.
      auto frame = testing::udpFrame(specialized ? n - 1 : n / 2);
      const char* program = specialized ? "specialized" : "tables";
      for (Hook hook : {Hook::kTc, Hook::kXdp}) {
        const bool tc = hook == Hook::kTc;
        const int verdict = tc ? TC_ACT_REDIRECT : XDP_REDIRECT;
        double ours = nsPerPacket(tc ? dp->ingressFd() : dp->xdpFd(), hook, frame, verdict);
        double full = nsPerPacket(tc ? dpFull->ingressFd() : dpFull->xdpFd(), hook, frame, verdict);
        double base = nsPerPacket(tc ? minimalFd : minimalXdpFd, hook, frame, verdict);
        double floor = tc ? nsPerPacket(floorFd, hook, frame, verdict) : 0;
        if (ours < 0 || full < 0 || base < 0 || floor < 0) {
          status = 1;
          break;
        }
        nlohmann::json row = {{"hook", tc ? "tc" : "xdp"}, {"rules", n},         {"program", program},
                              {"ns", ours},               {"full_parse_ns", full}, {"minimal_ns", base}};
        if (tc) {
          row["floor_ns"] = floor;
          std::printf("%4s  %8d  %-11s  %14.1f  %10.1f  %14.1f  %6.2fx  %12.1f  %6.2fx\n", "tc", n, program, ours,
                      full, base, ours / base, floor, ours / floor);
        } else {
          std::printf("%4s  %8d  %-11s  %14.1f  %10.1f  %14.1f  %6.2fx  %12s  %7s\n", "xdp", n, program, ours, full,
                      base, ours / base, "-", "-");
        }
        rows.push_back(row);
      }
      if (status != 0) break;
    }
    if (status != 0) break;
  }
  nlohmann::json live;
  if (status == 0) {
    const LiveFigures l = measureLive(*dp, gen);
    if (l.vfsteerMpps <= 0 || l.specializedMpps <= 0 || l.minimalMpps <= 0 || l.arrived == 0) {
      std::fprintf(stderr, "live frames: no figures, or no frame arrived at the veth's peer\n");
      status = 1;
    } else {
      std::printf("\nlive frames (BPF_F_TEST_XDP_LIVE_FRAMES, %d frames, batches of %u, best of %d), redirected out "
                  "of a veth, one core:\n  vfsteer XDP entry %.2f Mpps with tables, %.2f Mpps specialized; minimal "
                  "redirect %.2f Mpps; ratios %.2fx and %.2fx\n",
                  kLiveFrames, kLiveBatch, kRuns, l.vfsteerMpps, l.specializedMpps, l.minimalMpps,
                  l.vfsteerMpps / l.minimalMpps, l.specializedMpps / l.minimalMpps);
      std::printf("  frames that arrived at the peer (all three, every run): %llu of %llu sent\n",
                  static_cast<unsigned long long>(l.arrived), 3ULL * kRuns * kLiveFrames);
      live = {{"vfsteer", l.vfsteerMpps},
              {"specialized", l.specializedMpps},
              {"minimal", l.minimalMpps},
              {"ratio", l.vfsteerMpps / l.minimalMpps},
              {"ratio_specialized", l.specializedMpps / l.minimalMpps},
              {"arrived", l.arrived},
              {"sent", 3ULL * kRuns * kLiveFrames}};
    }
  }
  nlohmann::json handover;
  if (status == 0) {
    const HandoverFigures h = measureHandover(*dp, gen);
    if (h.tcAloneNs <= 0 || h.tcAfterXdpNs <= 0 || h.xdpNs <= 0 || h.xdpRxNs <= 0 || h.handedOver == 0) {
      std::fprintf(stderr, "handover: no figures, or tc never took a verdict from the XDP entry\n");
      status = 1;
    } else {
      std::printf("\na frame the XDP entry passes on to tc (a chain that needs tc; live frames into a veth, "
                  "kernel bpf_stats):\n  tc entry alone %.1f ns/frame; after the XDP entry %.1f ns/frame "
                  "(%.2fx; %llu frames taken with XDP's verdict); the XDP entry itself %.1f ns/frame\n",
                  h.tcAloneNs, h.tcAfterXdpNs, h.tcAfterXdpNs / h.tcAloneNs,
                  static_cast<unsigned long long>(h.handedOver), h.xdpNs);
      std::printf("  the XDP entry reading RX metadata (vfs_xdp_rx, veth's kfuncs) %.1f ns/frame, %.2fx vfs_xdp\n",
                  h.xdpRxNs, h.xdpRxNs / h.xdpNs);
      handover = {{"tc_alone_ns", h.tcAloneNs},
                  {"tc_after_xdp_ns", h.tcAfterXdpNs},
                  {"ratio", h.tcAfterXdpNs / h.tcAloneNs},
                  {"xdp_ns", h.xdpNs},
                  {"xdp_rx_metadata_ns", h.xdpRxNs},
                  {"handed_over", h.handedOver}};
    }
  }
  (void)dp->destroy();
  (void)dpFull->destroy();
  bpf_object__close(minimal);
  if (status == 0)
    std::printf("%s\n",
                nlohmann::json{{"rows", rows}, {"live_mpps", live}, {"handover", handover}}.dump().c_str());
  return status;
}
