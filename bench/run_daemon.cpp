// `vfsteer run` on a lab of its own (veth profile, the 6 chains of
// examples/lab.yaml's shape): what an operator asks of a daemon.
//   - drift repair latency: a filter of vfsteer's deleted, timed from the
//     kernel's RTM_DELTFILTER to the RTM_NEWTFILTER of the repair (both read
//     from a notification socket), p50/p99 over REPAIRS repairs; baseline:
//     the same repair by a one-shot `vfsteer apply`, timed from the deletion
//     to its exit, in the same run;
//   - CPU over IDLE seconds of nothing happening (the default 30 s resync
//     on), as a share of one core and in no-op applies' worth of CPU;
//   - RSS after RECONCILES back-to-back no-op reconciles (`--resync 0.001`)
//     against RSS after the first 100: growth is a leak.
// Run as root:  build/bench/run_daemon_bench [REPAIRS [IDLE [RECONCILES]]]
// (default 100 60 10000). Prints a table, then one JSON line of the figures.
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "measure.hpp"
#include "vfsteer/netlink/link.hpp"
#include "vfsteer/netlink/monitor.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

const std::string kLab = "vb" + std::to_string(getpid());
const std::string kHost = kLab + "-host";

pid_t spawn(const std::vector<std::string>& argv, const std::string& errFile = "/dev/null") {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, errFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// Runs a command to its end; exits the bench if it fails.
void run(const std::vector<std::string>& argv) {
  if (vfsteer::bench::measure(argv).seconds < 0) std::exit(1);
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

bool waitForLog(const std::string& log, const std::string& what, size_t times, std::chrono::seconds timeout) {
  const auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    if (count(readFile(log), what) >= times) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

// CPU seconds (user + system) and RSS (MiB) of a running process.
double cpuSeconds(pid_t pid) {
  std::istringstream in(readFile("/proc/" + std::to_string(pid) + "/stat"));
  std::string field;
  std::vector<std::string> fields;
  std::string all = in.str();
  std::istringstream rest(all.substr(all.rfind(')') + 2));  // after "(comm) "
  while (rest >> field) fields.push_back(field);
  // fields[0] is the state (field 3): utime and stime are fields 14 and 15.
  return (std::stod(fields[11]) + std::stod(fields[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double rssMiB(pid_t pid) {
  std::istringstream in(readFile("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

void stop(pid_t pid) {
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
}

// Waits for the notification of a filter on `ifindex` of type `type`.
Clock::time_point waitForFilter(vfsteer::netlink::Monitor& monitor, uint16_t type, int ifindex) {
  for (;;) {
    auto notes = monitor.drain();
    if (notes.ok())
      for (const auto& n : *notes)
        if (n.type == type && n.ifindex == ifindex) return Clock::now();
    std::this_thread::sleep_for(100us);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int repairs = argc > 1 ? std::stoi(argv[1]) : 100;
  const int idleSeconds = argc > 2 ? std::stoi(argv[2]) : 60;
  const int reconciles = argc > 3 ? std::stoi(argv[3]) : 10000;
  const std::string bin = VFSTEER_BINARY;
  run({bin, "lab", "up", "--vfs", "4", "--name", kLab});
  const std::string policy = "/tmp/vfsteer-run-bench-" + std::to_string(getpid()) + ".yaml";
  std::ofstream(policy) << "version: 1\ndevice: {pf: uplink0, netns: " << kHost << ", vfs: {count: 4}}\nchains:\n"
                        << "  - {name: web, priority: 1, match: {ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n"
                        << "  - {name: dns, priority: 2, match: {ip_proto: udp, dst_port: 53}, stages: [{deliver: {vf: 1}}]}\n"
                        << "  - {name: v200, priority: 3, match: {vlan: 200}, stages: [vlan_pop, {deliver: {vf: 2}}]}\n"
                        << "  - {name: vx, priority: 4, match: {tunnel: {type: vxlan, vni: 77}}, stages: [tunnel_decap, {deliver: {vf: 3}}]}\n"
                        << "  - {name: out0, priority: 5, match: {from: {vf: 0}}, stages: [{deliver: uplink}]}\n"
                        << "  - {name: out1, priority: 6, match: {from: {vf: 1}}, stages: [{deliver: uplink}]}\n";
  const std::string log = policy + ".log";
  const std::vector<std::string> delFilter{"/usr/sbin/tc", "-n", kHost, "filter", "del", "dev", "uplink0",
                                           "ingress", "pref", "40000"};
  auto ns = vfsteer::netlink::Netns::byName(kHost);
  if (!ns.ok()) return 1;
  auto monitor = vfsteer::netlink::Monitor::open(&*ns);
  if (!monitor.ok()) return 1;
  auto socket = vfsteer::netlink::Socket::open(NETLINK_ROUTE, &*ns);
  if (!socket.ok()) return 1;
  auto reply = socket->request(vfsteer::netlink::link::encodeGetLink("uplink0"));
  if (!reply.ok() || reply->replies.empty()) return 1;
  auto link = vfsteer::netlink::link::decodeLink(reply->replies[0]);
  if (!link.ok()) return 1;
  const int uplink = link->ifindex;

  // 1. Drift repair by the daemon.
  pid_t daemon = spawn({bin, "run", "-f", policy}, log);
  if (!waitForLog(log, "keeping ", 1, 20s)) return 1;
  std::this_thread::sleep_for(500ms);
  (void)monitor->drain();
  std::vector<double> latency;
  for (int i = 0; i < repairs; ++i) {
    run(delFilter);
    const auto deleted = waitForFilter(*monitor, RTM_DELTFILTER, uplink);
    const auto repaired = waitForFilter(*monitor, RTM_NEWTFILTER, uplink);
    latency.push_back(std::chrono::duration<double, std::milli>(repaired - deleted).count());
    std::this_thread::sleep_for(300ms);  // the follow-up no-op reconcile
    (void)monitor->drain();
  }

  // 2. Idle CPU.
  const double cpu0 = cpuSeconds(daemon);
  std::this_thread::sleep_for(std::chrono::seconds(idleSeconds));
  const double idleCpu = cpuSeconds(daemon) - cpu0;
  stop(daemon);

  // Baselines: the same repair by a one-shot apply; one no-op apply's CPU.
  std::vector<double> applyLatency;
  double noopCpu = 1e9;
  for (int i = 0; i < std::min(repairs, 20); ++i) {
    run(delFilter);
    const auto start = Clock::now();
    run({bin, "apply", "-f", policy});
    applyLatency.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    rusage before{}, after{};
    getrusage(RUSAGE_CHILDREN, &before);
    run({bin, "apply", "-f", policy});
    getrusage(RUSAGE_CHILDREN, &after);
    auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    noopCpu = std::min(noopCpu, secs(after.ru_utime) - secs(before.ru_utime) + secs(after.ru_stime) -
                                    secs(before.ru_stime));
  }

  // 3. RSS over back-to-back reconciles.
  daemon = spawn({bin, "run", "-f", policy, "--resync", "0.001", "-v"}, log);
  if (!waitForLog(log, "reconcile (resync)", 100, 60s)) return 1;
  const double rssBefore = rssMiB(daemon);
  if (!waitForLog(log, "reconcile (resync)", static_cast<size_t>(reconciles) + 100, 3600s)) return 1;
  const double rssAfter = rssMiB(daemon);
  stop(daemon);
  run({bin, "teardown", "--instance", "uplink0:" + kHost});
  run({bin, "lab", "down", "--name", kLab});
  std::remove(policy.c_str());
  std::remove(log.c_str());

  const double p50 = percentile(latency, 0.5), p99 = percentile(latency, 0.99);
  const double applyP50 = percentile(applyLatency, 0.5);
  std::printf("%-34s | %10s | %10s | %s\n", "figure", "run", "baseline", "ratio");
  std::printf("%-34s | %8.1f ms | %8.1f ms | %.2fx (one-shot apply)\n", "drift repair p50", p50, applyP50,
              p50 / applyP50);
  std::printf("%-34s | %8.1f ms | %10s |\n", "drift repair p99", p99, "");
  std::printf("%-34s | %8.3f s  | %8.4f s  | %.1f no-op applies, %.3f%% of a core\n", "CPU over idle seconds",
              idleCpu, noopCpu, idleCpu / noopCpu, 100.0 * idleCpu / idleSeconds);
  std::printf("%-34s | %7.1f MiB | %7.1f MiB | %.3fx (after the first 100)\n", "RSS after reconciles", rssAfter,
              rssBefore, rssAfter / rssBefore);
  nlohmann::json figures{{"bench", "run_daemon"},
                         {"repairs", repairs},
                         {"repair_p50_ms", p50},
                         {"repair_p99_ms", p99},
                         {"apply_repair_p50_ms", applyP50},
                         {"repair_vs_apply", p50 / applyP50},
                         {"idle_seconds", idleSeconds},
                         {"idle_cpu_seconds", idleCpu},
                         {"noop_apply_cpu_seconds", noopCpu},
                         {"reconciles", reconciles},
                         {"rss_before_mib", rssBefore},
                         {"rss_after_mib", rssAfter},
                         {"rss_growth", rssAfter / rssBefore}};
  std::printf("%s\n", figures.dump().c_str());
  return 0;
}
