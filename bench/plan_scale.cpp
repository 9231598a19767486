// `vfsteer plan` of generated policies of 1,000, 10,000 and 100,000 chains,
// against what yaml-cpp itself needs just to scan the same file with its
// event API (no node tree; the engine issue's baseline) and what libyaml
// needs for the same (the parser vfsteer now reads policies with), measured
// in the same run; YAML::LoadFile (the node tree vfsteer once built) for
// reference. Each is a process of its own, so that its peak memory (max
// RSS) is its own. No root needed:
//   build/bench/plan_scale_bench [N...]
// Prints a table, then one JSON line of the figures.
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "measure.hpp"
#include "yaml_scan.hpp"

namespace {

namespace fs = std::filesystem;

using vfsteer::bench::best;
using vfsteer::bench::Run;

// The policy of the engine issue: chains {dst_ip: 10.a.b.0/24, ip_proto:
// tcp, dst_port: P} → deliver a VF; past 9,999 chains (the priorities of
// one side) further chains come from VFs and go to the uplink.
std::string writePolicy(const fs::path& dir, int n) {
  const int vfs = std::max(4, (n + 9998) / 9999);
  const fs::path path = dir / ("plan-" + std::to_string(n) + ".yaml");
  std::ofstream out(path);
  out << "version: 1\ndevice: {pf: uplink0, vfs: {count: " << vfs << "}}\nchains:\n";
  for (int k = 0; k < n; ++k) {
    const int side = k / 9999, prio = k % 9999 + 1;
    out << "  - {name: c" << k << ", priority: " << prio << ", match: {";
    if (side > 0) out << "from: {vf: " << side - 1 << "}, ";
    out << "dst_ip: 10." << ((k >> 8) & 255) << "." << (k & 255) << ".0/24, ip_proto: tcp, dst_port: "
        << 1000 + k % 50000 << "}, stages: [{deliver: ";
    if (side == 0) out << "{vf: " << k % vfs << "}";
    else out << "uplink";
    out << "}]}\n";
  }
  return path.string();
}

int scan(const char* file) {
  vfsteer::bench::scanYamlCpp(file);
  return 0;
}

int scanLibyaml(const char* file) { return vfsteer::bench::scanLibyaml(file) ? 0 : 1; }

int load(const char* file) { return YAML::LoadFile(file).size() > 0 ? 0 : 1; }

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--scan") == 0) return scan(argv[2]);
  if (argc == 3 && std::strcmp(argv[1], "--scan-libyaml") == 0) return scanLibyaml(argv[2]);
  if (argc == 3 && std::strcmp(argv[1], "--load") == 0) return load(argv[2]);
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::stoi(argv[i]));
  if (sizes.empty()) sizes = {1000, 10000, 100000};

  const fs::path dir = fs::temp_directory_path() / ("vfsteer-plan-bench-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  std::printf("%8s %10s | %21s | %21s | %21s | %21s | %15s | %15s\n", "chains", "file MiB",
              "yaml-cpp scan s / MiB", "libyaml scan s / MiB", "YAML::LoadFile s / MiB", "vfsteer plan s / MiB",
              "plan / yaml-cpp", "plan / libyaml");
  nlohmann::json figures = nlohmann::json::array();
  for (int n : sizes) {
    const std::string file = writePolicy(dir, n);
    const int times = n >= 100000 ? 2 : 3;
    const Run s = best({self, "--scan", file}, times);
    const Run y = best({self, "--scan-libyaml", file}, times);
    const Run l = best({self, "--load", file}, n >= 100000 ? 1 : times);
    const Run p = best({VFSTEER_BINARY, "plan", "-f", file, "--profile", "mlx5"}, times);
    const double mib = fs::file_size(file) / 1048576.0;
    std::printf("%8d %10.1f | %10.2f %10.0f | %10.2f %10.0f | %10.2f %10.0f | %10.2f %10.0f | %14.2fx | %14.2fx\n", n,
                mib, s.seconds, s.rssMiB, y.seconds, y.rssMiB, l.seconds, l.rssMiB, p.seconds, p.rssMiB,
                p.seconds / s.seconds, p.seconds / y.seconds);
    std::fflush(stdout);
    figures.push_back({{"chains", n},
                       {"file_mib", mib},
                       {"scan_s", s.seconds},
                       {"scan_rss_mib", s.rssMiB},
                       {"libyaml_scan_s", y.seconds},
                       {"libyaml_scan_rss_mib", y.rssMiB},
                       {"load_s", l.seconds},
                       {"load_rss_mib", l.rssMiB},
                       {"s", p.seconds},
                       {"rss_mib", p.rssMiB},
                       {"ratio_to_scan", p.seconds / s.seconds},
                       {"ratio_to_libyaml_scan", p.seconds / y.seconds}});
  }
  fs::remove_all(dir);
  std::printf("%s\n", nlohmann::json{{"plan", figures}}.dump().c_str());
  return 0;
}
