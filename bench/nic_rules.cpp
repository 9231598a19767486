// NIC rules at batch speed: `vfsteer apply --profile mlx5 --emulate-nic` of
// N flower chains on the lab, and the re-apply that changes nothing, against
// `tc -batch` of the same N flower filters (skip_hw, mirred to the VF's
// representor) in the same guest, in the same run. Needs cls_flower and
// act_mirred: run it in the VM tier,
//   tests/vm/vm-run --timeout 1800 -- build/bench/nic_rules_bench [N...]
// (default N: 1 2000 8000). A first apply has a fixed cost (loading the
// host datapath), and so has starting tc; the comparison is of what the
// rules cost: (apply(N) - apply(1)) against (tc(N) - tc(1)). The floor
// for a re-apply that changes nothing is reading both sides at all:
// libyaml's own event scan of the same file (no node tree) and one bare
// netlink dump of the device's filters (libmnl, messages counted, nothing
// decoded), both also measured here. A no-op takes the policy from the cache
// the first apply kept (it does not scan the YAML); the same no-op with
// that entry removed first ("no-op, parsed": what every no-op cost before
// the cache) is measured too.
// Prints a table, then one JSON line of the figures.
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli_runner.hpp"
#include "engine/state.hpp"
#include "vfsteer/common/paths.hpp"
#include "yaml_scan.hpp"

using namespace vfsteer::testing;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kRepetitions = 5;
constexpr int kVfs = 4;
// The lab's instance, which keeps its policy cache entry in its state directory.
constexpr const char* kLabInstance = "uplink0:vfs-host";

[[noreturn]] void fail(const std::string& what, const CliResult& r) {
  std::fprintf(stderr, "%s failed (%d): %s%s\n", what.c_str(), r.status, r.out.c_str(), r.err.c_str());
  std::exit(1);
}

double timed(const std::vector<std::string>& argv, bool vfsteer) {
  const auto start = Clock::now();
  CliResult r = vfsteer ? runVfsteer(argv) : runProgram(argv);
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  if (r.status != 0) fail(argv[0], r);
  return s;
}

std::string prefixOf(int k) { return "10." + std::to_string((k >> 8) & 255) + "." + std::to_string(k & 255) + ".0/24"; }
int portOf(int k) { return 1000 + k; }

std::string writePolicy(int n) {
  const std::string path = "/tmp/nic-rules-" + std::to_string(n) + ".yaml";
  std::ofstream out(path);
  out << "version: 1\ndevice: {pf: uplink0, vfs: {count: " << kVfs << "}}\nchains:\n";
  for (int k = 0; k < n; ++k)
    out << "  - {name: c" << k << ", priority: " << k + 1 << ", match: {dst_ip: " << prefixOf(k)
        << ", ip_proto: tcp, dst_port: " << portOf(k) << "}, stages: [{deliver: {vf: " << k % kVfs << "}}]}\n";
  return path;
}

// The same filters as tc commands: priority, protocol and keys as vfsteer
// gives them.
std::string writeBatch(int n) {
  const std::string path = "/tmp/nic-rules-" + std::to_string(n) + ".tc";
  std::ofstream out(path);
  out << "qdisc add dev uplink0 clsact\n";
  for (int k = 0; k < n; ++k)
    out << "filter add dev uplink0 ingress prio " << 10000 + 2 * (k + 1) << " protocol ip flower skip_hw dst_ip "
        << prefixOf(k) << " ip_proto tcp dst_port " << portOf(k) << " action mirred egress redirect dev pf0vf"
        << k % kVfs << "\n";
  return path;
}

// One dump of `device`'s ingress filters in namespace `netns`, as bare as
// netlink allows: the seconds it takes and the filters it returned (-1 on
// failure). From a thread of its own, which alone enters the namespace.
std::pair<double, long> bareFilterDump(const std::string& netns, const std::string& device) {
  double seconds = -1;
  long filters = -1;
  std::thread([&] {
    const int ns = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) return;
    const bool entered = setns(ns, CLONE_NEWNET) == 0;
    close(ns);
    if (!entered) return;
    std::unique_ptr<mnl_socket, decltype(&mnl_socket_close)> socket(mnl_socket_open(NETLINK_ROUTE), mnl_socket_close);
    mnl_socket* nl = socket.get();
    if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) != 0) return;
    std::vector<char> buf(1 << 16);
    const auto start = Clock::now();
    nlmsghdr* h = mnl_nlmsg_put_header(buf.data());
    h->nlmsg_type = RTM_GETTFILTER;
    h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    h->nlmsg_seq = 1;
    auto* t = static_cast<tcmsg*>(mnl_nlmsg_put_extra_header(h, sizeof(tcmsg)));
    t->tcm_family = AF_UNSPEC;
    t->tcm_ifindex = static_cast<int>(if_nametoindex(device.c_str()));
    t->tcm_parent = TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS);
    if (mnl_socket_sendto(nl, h, h->nlmsg_len) < 0) return;
    long count = 0;
    for (bool done = false; !done;) {
      const ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
      if (n <= 0) return;
      int len = static_cast<int>(n);
      for (auto* m = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(m, len); m = mnl_nlmsg_next(m, &len)) {
        if (m->nlmsg_type == NLMSG_ERROR) return;
        if (m->nlmsg_type == NLMSG_DONE) done = true;
        else ++count;
      }
    }
    seconds = std::chrono::duration<double>(Clock::now() - start).count();
    filters = count;
  }).join();
  return {seconds, filters};
}

struct Figures {
  int n = 0;
  double apply = 1e9, noop = 1e9, noopParsed = 1e9, tc = 1e9, scan = 1e9, dump = 1e9;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::stoi(argv[i]));
  if (sizes.empty()) sizes = {1, 2000, 8000};
  if (std::find(sizes.begin(), sizes.end(), 1) == sizes.end()) sizes.insert(sizes.begin(), 1);

  runVfsteer({"teardown"});
  runVfsteer({"lab", "down"});
  if (auto up = runVfsteer({"lab", "up", "--vfs", std::to_string(kVfs)}); up.status != 0) fail("lab up", up);
  std::vector<Figures> all;
  for (int n : sizes) {
    Figures f;
    f.n = n;
    const std::string policy = writePolicy(n), batch = writeBatch(n);
    for (int rep = 0; rep < kRepetitions; ++rep) {
      f.apply = std::min(f.apply, timed({"apply", "-f", policy, "--profile", "mlx5", "--emulate-nic"}, true));
      f.noop = std::min(f.noop, timed({"apply", "-f", policy, "--profile", "mlx5", "--emulate-nic"}, true));
      const std::string entry =
          *vfsteer::paths::instanceDir(vfsteer::paths::kStateRoot, kLabInstance) + "/" + vfsteer::engine::kPolicyCacheFile;
      if (std::remove(entry.c_str()) != 0) {
        std::fprintf(stderr, "the apply kept no policy cache entry at %s\n", entry.c_str());
        return 1;
      }
      f.noopParsed =
          std::min(f.noopParsed, timed({"apply", "-f", policy, "--profile", "mlx5", "--emulate-nic"}, true));
      // The bare dump, of what the apply put there (a filter per chain and
      // the host datapath's own).
      const auto [dumpSeconds, filters] = bareFilterDump("vfs-host", "uplink0");
      if (dumpSeconds < 0 || filters < n) {
        std::fprintf(stderr, "the bare dump of uplink0 failed or found %ld filters for %d chains\n", filters, n);
        return 1;
      }
      f.dump = std::min(f.dump, dumpSeconds);
      timed({"teardown"}, true);
      f.tc = std::min(f.tc, timed({"/usr/sbin/tc", "-n", "vfs-host", "-batch", batch}, false));
      timed({"/usr/sbin/tc", "-n", "vfs-host", "qdisc", "del", "dev", "uplink0", "clsact"}, false);
      const auto start = Clock::now();
      vfsteer::bench::scanLibyaml(policy);
      f.scan = std::min(f.scan, std::chrono::duration<double>(Clock::now() - start).count());
    }
    all.push_back(f);
    std::fprintf(stderr, "N=%d done\n", n);
  }
  runVfsteer({"lab", "down"});

  // Ratios compare what the rules cost: each figure less its N = 1 value.
  // The floor of a no-op is the scan plus the bare dump.
  const Figures& one = all.front();
  std::printf("%8s | %9s %9s %9s %11s %9s %11s | %16s %16s %16s %17s %14s\n", "rules", "apply s", "no-op s",
              "parsed s", "tc -batch s", "scan s", "bare dump s", "apply/tc (rules)", "no-op/tc (rules)",
              "parsed/tc", "floor/tc (rules)", "no-op/floor");
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& f : all) {
    const double tcRules = f.tc - one.tc;
    const double floorRules = (f.scan + f.dump) - (one.scan + one.dump);
    nlohmann::json row{{"n", f.n},
                       {"apply_s", f.apply},
                       {"noop_s", f.noop},
                       {"noop_parsed_s", f.noopParsed},
                       {"tc_batch_s", f.tc},
                       {"libyaml_scan_s", f.scan},
                       {"bare_dump_s", f.dump}};
    if (f.n == 1) {
      std::printf("%8d | %9.2f %9.2f %9.2f %11.2f %9.3f %11.3f | %16s\n", f.n, f.apply, f.noop, f.noopParsed, f.tc,
                  f.scan, f.dump, "(fixed costs)");
    } else {
      row["apply_vs_tc_rules"] = (f.apply - one.apply) / tcRules;
      row["noop_vs_tc_rules"] = (f.noop - one.noop) / tcRules;
      row["noop_parsed_vs_tc_rules"] = (f.noopParsed - one.noopParsed) / tcRules;
      row["floor_vs_tc_rules"] = floorRules / tcRules;
      row["noop_vs_floor_rules"] = (f.noop - one.noop) / floorRules;
      std::printf("%8d | %9.2f %9.2f %9.2f %11.2f %9.3f %11.3f | %15.2fx %15.2fx %15.2fx %16.2fx %13.2fx\n", f.n,
                  f.apply, f.noop, f.noopParsed, f.tc, f.scan, f.dump, row["apply_vs_tc_rules"].get<double>(),
                  row["noop_vs_tc_rules"].get<double>(), row["noop_parsed_vs_tc_rules"].get<double>(),
                  row["floor_vs_tc_rules"].get<double>(), row["noop_vs_floor_rules"].get<double>());
    }
    rows.push_back(row);
  }
  std::printf("%s\n", nlohmann::json{{"nic_rules", rows}}.dump().c_str());
  return 0;
}
