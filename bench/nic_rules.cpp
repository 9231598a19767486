// NIC rules at batch speed: `vfsteer apply --profile mlx5 --emulate-nic` of
// N flower chains on the lab, and the re-apply that changes nothing, against
// `tc -batch` of the same N flower filters (skip_hw, mirred to the VF's
// representor) in the same guest, in the same run. Needs cls_flower and
// act_mirred: run it in the VM tier,
//   tests/vm/vm-run --timeout 1800 -- build/bench/nic_rules_bench [N...]
// (default N: 1 2000 8000). A first apply has a fixed cost (loading the
// host datapath), and so has starting tc; the comparison is of what the
// rules cost: (apply(N) - apply(1)) against (tc(N) - tc(1)). The floor
// for vfsteer is reading the policy at all: libyaml's own event scan of
// the same file (no node tree), also measured here.
// Prints a table, then one JSON line of the figures.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "yaml_scan.hpp"

using namespace vfsteer::testing;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kRepetitions = 3;
constexpr int kVfs = 4;

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

struct Figures {
  int n = 0;
  double apply = 1e9, noop = 1e9, tc = 1e9, scan = 1e9;
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

  const Figures& one = all.front();
  std::printf("%8s | %10s %10s %10s %14s | %16s %16s %16s\n", "rules", "apply s", "no-op s", "tc -batch s",
              "libyaml scan s", "apply/tc (rules)", "no-op/tc (rules)", "scan/tc (rules)");
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& f : all) {
    const double tcRules = f.tc - one.tc;
    const double applyRatio = f.n == 1 ? 0 : (f.apply - one.apply) / tcRules;
    const double noopRatio = f.n == 1 ? 0 : (f.noop - one.noop) / tcRules;
    const double scanRatio = f.n == 1 ? 0 : (f.scan - one.scan) / tcRules;
    if (f.n == 1)
      std::printf("%8d | %10.2f %10.2f %10.2f %14.3f | %16s %16s %16s\n", f.n, f.apply, f.noop, f.tc, f.scan,
                  "(fixed costs)", "", "");
    else
      std::printf("%8d | %10.2f %10.2f %10.2f %14.3f | %15.2fx %15.2fx %15.2fx\n", f.n, f.apply, f.noop, f.tc, f.scan,
                  applyRatio, noopRatio, scanRatio);
    nlohmann::json row{{"n", f.n}, {"apply_s", f.apply}, {"noop_s", f.noop}, {"tc_batch_s", f.tc}, {"libyaml_scan_s", f.scan}};
    if (f.n != 1) {
      row["apply_vs_tc_rules"] = applyRatio;
      row["noop_vs_tc_rules"] = noopRatio;
      row["scan_vs_tc_rules"] = scanRatio;
    }
    rows.push_back(row);
  }
  std::printf("%s\n", nlohmann::json{{"nic_rules", rows}}.dump().c_str());
  return 0;
}
