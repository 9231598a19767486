// Host only, on the lab (veth profile): `vfsteer apply` of N chains and the
// re-apply that changes nothing, with the peak memory of each, against the
// same for one chain (the fixed costs: starting, loading the host datapath)
// and libyaml's own event scan of the policy (the parser vfsteer reads
// policies with), in the same run. The ratios
// put what the chains cost, (apply(N) - apply(1)), against that scan: the
// least any tool reading this YAML spends on it. Run as root:
//   build/bench/host_apply_bench [N...]   (default: 1 4095)
// Prints a table, then one JSON line of the figures.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "measure.hpp"
#include "yaml_scan.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kRepetitions = 3;

// vfsteer ARGS: its wall time and peak RSS (the bench stops if it fails).
vfsteer::bench::Run runVfsteer(const std::vector<std::string>& args) {
  std::vector<std::string> argv{VFSTEER_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = vfsteer::bench::measure(argv);
  if (r.seconds < 0) std::exit(1);
  return r;
}

vfsteer::bench::Run faster(vfsteer::bench::Run a, vfsteer::bench::Run b) {
  return a.seconds < 0 || b.seconds < a.seconds ? b : a;
}

std::string writePolicy(int n) {
  const std::string path = "/tmp/vfsteer-host-apply-" + std::to_string(n) + ".yaml";
  std::ofstream out(path);
  out << "version: 1\ndevice: {pf: uplink0, vfs: {count: 4}}\nchains:\n";
  for (int k = 0; k < n; ++k)
    out << "  - {name: c" << k << ", priority: " << k + 1 << ", match: {dst_ip: 10." << ((k >> 8) & 255) << "."
        << (k & 255) << ".0/24, ip_proto: tcp, dst_port: " << 1000 + k << "}, stages: [{deliver: {vf: " << k % 4
        << "}}]}\n";
  return path;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::stoi(argv[i]));
  if (sizes.empty()) sizes = {1, 4095};
  runVfsteer({"teardown"});
  runVfsteer({"lab", "down"});
  runVfsteer({"lab", "up", "--vfs", "4"});
  std::printf("%8s | %18s | %18s | %14s | %13s | %13s\n", "chains", "apply s / MiB", "no-op s / MiB", "libyaml scan s",
              "apply / scan", "no-op / scan");
  nlohmann::json rows = nlohmann::json::array();
  vfsteer::bench::Run first, firstNoop;  // the smallest size: the fixed costs
  for (int n : sizes) {
    const std::string policy = writePolicy(n);
    vfsteer::bench::Run apply, noop;
    double scan = 1e9;
    for (int rep = 0; rep < kRepetitions; ++rep) {
      apply = faster(apply, runVfsteer({"apply", "-f", policy}));
      noop = faster(noop, runVfsteer({"apply", "-f", policy}));
      runVfsteer({"teardown"});
      const auto start = Clock::now();
      vfsteer::bench::scanLibyaml(policy);
      scan = std::min(scan, std::chrono::duration<double>(Clock::now() - start).count());
    }
    std::printf("%8d | %8.2f %9.0f | %8.2f %9.0f | %14.3f", n, apply.seconds, apply.rssMiB, noop.seconds,
                noop.rssMiB, scan);
    nlohmann::json row{{"chains", n},           {"apply_s", apply.seconds}, {"apply_rss_mib", apply.rssMiB},
                       {"noop_s", noop.seconds}, {"noop_rss_mib", noop.rssMiB}, {"libyaml_scan_s", scan}};
    if (first.seconds < 0) {  // the smallest size: the fixed costs, no ratio
      first = apply, firstNoop = noop;
      std::printf(" | %13s | %13s\n", "-", "-");
    } else {
      row["apply_cost_to_scan"] = (apply.seconds - first.seconds) / scan;
      row["noop_cost_to_scan"] = (noop.seconds - firstNoop.seconds) / scan;
      std::printf(" | %12.2fx | %12.2fx\n", row["apply_cost_to_scan"].get<double>(),
                  row["noop_cost_to_scan"].get<double>());
    }
    rows.push_back(std::move(row));
  }
  runVfsteer({"lab", "down"});
  std::printf("%s\n", nlohmann::json{{"host_apply", rows}}.dump().c_str());
  return 0;
}
