// Inserts N u32 filters on a veth in a fresh namespace, once through
// vfsteer's batched netlink path and once through `tc -batch` with the same
// rules, and prints rules/second for both and their ratio. Run as root:
//   build/bench/u32_insert_bench [N...]      (default: 1000 4000)
// Each measurement is repeated; the best of the repetitions is reported.
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_runner.hpp"
#include "vfsteer/netlink/socket.hpp"
#include "vfsteer/netlink/tc.hpp"

using namespace vfsteer;
using namespace vfsteer::netlink;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kRepetitions = 5;
const std::string kNs = "vfsteer-bench";

bool run(const std::vector<std::string>& argv) {
  auto r = testing::runProgram(argv);
  if (r.status != 0) std::fprintf(stderr, "%s: %s", argv[0].c_str(), r.err.c_str());
  return r.status == 0;
}

// A namespace with va <-> vb and a fresh clsact on va.
bool freshNamespace() {
  testing::runProgram({"/usr/sbin/ip", "netns", "del", kNs});
  return run({"/usr/sbin/ip", "netns", "add", kNs}) &&
         run({"/usr/sbin/ip", "-n", kNs, "link", "add", "va", "type", "veth", "peer", "name", "vb"}) &&
         run({"/usr/sbin/ip", "-n", kNs, "link", "set", "va", "up"}) &&
         run({"/usr/sbin/ip", "-n", kNs, "link", "set", "vb", "up"}) &&
         run({"/usr/sbin/tc", "-n", kNs, "qdisc", "add", "dev", "va", "clsact"});
}

int ifindexOf(const std::string& dev) {
  auto r = testing::runProgram({"/usr/sbin/ip", "-n", kNs, "-o", "link", "show", "dev", dev});
  return r.status == 0 ? std::stoi(r.out) : -1;
}

std::string dotted(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
         std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

uint32_t ruleAddress(int i) { return 0x0a000000u + static_cast<uint32_t>(i); }

// Seconds to insert n rules through vfsteer (messages built inside the timing).
double viaVfsteer(int n) {
  if (!freshNamespace()) return -1;
  auto ns = Netns::byName(kNs);
  auto sock = Socket::open(NETLINK_ROUTE, &*ns);
  if (!sock.ok()) return -1;
  const int va = ifindexOf("va"), vb = ifindexOf("vb");
  auto start = Clock::now();
  std::vector<Message> batch;
  batch.reserve(n);
  for (int i = 0; i < n; ++i) {
    tc::Filter f;
    f.ifindex = va;
    f.priority = 10;
    f.protocol = ETH_P_IP;
    tc::U32 u;
    u.keys.push_back({htonl(ruleAddress(i)), 0xffffffff, 16, 0});
    tc::Action a;
    a.op = tc::Mirred{tc::Mirred::Op::kEgressRedirect, static_cast<uint32_t>(vb)};
    a.verdict = TC_ACT_STOLEN;
    u.actions.push_back(a);
    f.spec = u;
    batch.push_back(tc::encodeAddFilter(f));
  }
  auto outcomes = sock->transact(batch);
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  if (!outcomes.ok()) return -1;
  for (const auto& o : *outcomes)
    if (!o.status.ok()) {
      std::fprintf(stderr, "vfsteer: %s\n", o.status.error().describe().c_str());
      return -1;
    }
  return secs;
}

// Seconds for `tc -batch` to insert the same n rules (process start included,
// as an operator would run it).
double viaTcBatch(int n) {
  if (!freshNamespace()) return -1;
  const std::string file = "/tmp/vfsteer-bench-" + std::to_string(getpid()) + ".tc";
  {
    std::ofstream out(file);
    for (int i = 0; i < n; ++i)
      out << "filter add dev va ingress prio 10 protocol ip u32 match ip dst "
          << dotted(ruleAddress(i)) << "/32 action mirred egress redirect dev vb\n";
  }
  auto start = Clock::now();
  bool ok = run({"/usr/sbin/tc", "-n", kNs, "-batch", file});
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  unlink(file.c_str());
  return ok ? secs : -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    std::fprintf(stderr, "u32_insert_bench: needs root (it creates a network namespace)\n");
    return 1;
  }
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::stoi(argv[i]));
  if (sizes.empty()) sizes = {1000, 4000};
  std::printf("u32 filter insert on veth, best of %d runs (same kernel, same run)\n", kRepetitions);
  std::printf("%8s  %16s  %16s  %8s\n", "rules", "vfsteer rules/s", "tc -batch rules/s", "ratio");
  bool failed = false;
  nlohmann::json rows = nlohmann::json::array();
  for (int n : sizes) {
    double best[2] = {1e9, 1e9};
    for (int rep = 0; rep < kRepetitions; ++rep) {
      // Alternate the order so neither always runs on a warmer kernel.
      double a = rep % 2 ? viaTcBatch(n) : viaVfsteer(n);
      double b = rep % 2 ? viaVfsteer(n) : viaTcBatch(n);
      double v = rep % 2 ? b : a, t = rep % 2 ? a : b;
      if (v < 0 || t < 0) {
        failed = true;
        break;
      }
      best[0] = std::min(best[0], v);
      best[1] = std::min(best[1], t);
    }
    if (failed) break;
    std::printf("%8d  %16.0f  %16.0f  %7.2fx\n", n, n / best[0], n / best[1], best[1] / best[0]);
    rows.push_back({{"rules", n},
                    {"vfsteer_rules_per_s", n / best[0]},
                    {"tc_batch_rules_per_s", n / best[1]},
                    {"vfsteer_vs_tc_batch", best[1] / best[0]}});
  }
  testing::runProgram({"/usr/sbin/ip", "netns", "del", kNs});
  if (failed) return 1;
  std::printf("%s\n", nlohmann::json{{"u32_insert", rows}}.dump().c_str());
  return 0;
}
