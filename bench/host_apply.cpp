// Host only, on the lab (veth profile): `vfsteer apply` of N chains and the
// re-apply that changes nothing, with the peak memory of each, against the
// same for one chain (the fixed costs: starting, loading the host datapath)
// and yaml-cpp's own event scan of the policy, in the same run. Run as
// root:  build/bench/host_apply_bench [N...]   (default: 1 4095)
// Prints a table, then one JSON line of the figures.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "yaml_scan.hpp"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kRepetitions = 3;

struct Run {
  double seconds = 1e9;
  double rssMiB = 0;
};

// Runs vfsteer ARGS (output discarded); its wall time and peak RSS.
Run runVfsteer(const std::vector<std::string>& args) {
  std::vector<std::string> argv{VFSTEER_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> c;
  for (auto& a : argv) c.push_back(a.data());
  c.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  const auto start = Clock::now();
  if (posix_spawn(&pid, c[0], &actions, nullptr, c.data(), environ) != 0) std::exit(1);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "vfsteer %s failed\n", args[0].c_str());
    std::exit(1);
  }
  return {s, usage.ru_maxrss / 1024.0};
}

Run best(Run a, Run b) { return b.seconds < a.seconds ? b : a; }

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
  std::printf("%8s | %18s | %18s | %12s\n", "chains", "apply s / MiB", "no-op s / MiB", "yaml scan s");
  nlohmann::json rows = nlohmann::json::array();
  for (int n : sizes) {
    const std::string policy = writePolicy(n);
    Run apply, noop;
    double scan = 1e9;
    for (int rep = 0; rep < kRepetitions; ++rep) {
      apply = best(apply, runVfsteer({"apply", "-f", policy}));
      noop = best(noop, runVfsteer({"apply", "-f", policy}));
      runVfsteer({"teardown"});
      const auto start = Clock::now();
      vfsteer::bench::scanYaml(policy);
      scan = std::min(scan, std::chrono::duration<double>(Clock::now() - start).count());
    }
    std::printf("%8d | %8.2f %9.0f | %8.2f %9.0f | %12.3f\n", n, apply.seconds, apply.rssMiB, noop.seconds,
                noop.rssMiB, scan);
    rows.push_back({{"chains", n},
                    {"apply_s", apply.seconds},
                    {"apply_rss_mib", apply.rssMiB},
                    {"noop_s", noop.seconds},
                    {"noop_rss_mib", noop.rssMiB},
                    {"yaml_scan_s", scan}});
  }
  runVfsteer({"lab", "down"});
  std::printf("%s\n", nlohmann::json{{"host_apply", rows}}.dump().c_str());
  return 0;
}
