#include "netdevsim.hpp"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace vfsteer::testing {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// runProgram does not search PATH.
std::vector<std::string> resolved(std::vector<std::string> argv) {
  if (argv[0].find('/') != std::string::npos) return argv;
  for (const char* dir : {"/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/"})
    if (fs::exists(dir + argv[0])) {
      argv[0] = dir + argv[0];
      break;
    }
  return argv;
}

}  // namespace

std::string sh(const std::vector<std::string>& argv) {
  auto r = runProgram(resolved(argv));
  std::string cmd;
  for (const auto& a : argv) cmd += a + " ";
  EXPECT_EQ(r.status, 0) << cmd << ": " << r.err;
  return r.out;
}

json shJson(const std::vector<std::string>& argv) {
  const std::string out = sh(argv);
  if (out.find_first_not_of(" \n") == std::string::npos) return json::array();
  json doc = json::parse(out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << "not JSON: " << out;
  return doc;
}

std::string writeFile(const std::string& text, const std::string& suffix) {
  static int n = 0;
  const std::string path = "/tmp/vfsteer-vm-" + std::to_string(getpid()) + "-" + std::to_string(n++) + suffix;
  std::ofstream(path) << text;
  return path;
}

void writeSysfs(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  out << value;
  out.flush();
  ASSERT_TRUE(out.good()) << "write " << value << " to " << path;
}

std::string readSysfs(const std::string& path) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool haveNetdevsim() { return geteuid() == 0 && fs::exists("/sys/bus/netdevsim/new_device"); }

Netdevsim::Netdevsim() {
  static int next = 20;
  id_ = next++;
  writeSysfs("/sys/bus/netdevsim/new_device", std::to_string(id_) + " 1");
  const fs::path net = sysfs() + "/net";
  for (int i = 0; i < 200 && pf_.empty(); ++i) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(net, ec)) pf_ = e.path().filename();
    if (pf_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(pf_.empty()) << "netdevsim" << id_ << " has no netdev";
}

Netdevsim::~Netdevsim() {
  std::ofstream("/sys/bus/netdevsim/del_device") << id_;
}

int Netdevsim::pfIfindex() const { return std::stoi(readSysfs("/sys/class/net/" + pf_ + "/ifindex")); }

void Netdevsim::setNumVfs(int n) { writeSysfs(sysfs() + "/sriov_numvfs", std::to_string(n)); }

void Netdevsim::setSwitchdev() { sh({"devlink", "dev", "eswitch", "set", devlink(), "mode", "switchdev"}); }

void Netdevsim::hwTcOffload(bool on) { sh({"ethtool", "-K", pf_, "hw-tc-offload", on ? "on" : "off"}); }

void Netdevsim::flowerModel(const std::string& model) { writeSysfs(debugfs() + "/flower_model", model); }

void Netdevsim::modelKnob(const std::string& knob, uint32_t value) {
  writeSysfs(debugfs() + "/flower_" + knob, std::to_string(value));
}

std::vector<Netdevsim::ModelRule> Netdevsim::modelRules() const {
  std::vector<ModelRule> out;
  std::istringstream in(readSysfs(debugfs() + "/flower_rules"));
  ModelRule r;
  while (in >> r.dev >> r.chain >> r.prio >> r.packets >> r.bytes) out.push_back(r);
  return out;
}

std::vector<std::string> Netdevsim::debugfsLines(const std::string& file) const {
  std::vector<std::string> out;
  std::istringstream in(readSysfs(debugfs() + "/" + file));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

std::vector<std::string> Netdevsim::fdirRules() const { return debugfsLines("fdir_rules"); }
std::vector<std::string> Netdevsim::i40eRules() const { return debugfsLines("i40e_fdir_rules"); }

void Netdevsim::setModelCounters(const std::string& dev, uint32_t prio, uint64_t packets, uint64_t bytes) {
  writeSysfs(debugfs() + "/flower_rules",
             dev + " 0 " + std::to_string(prio) + " " + std::to_string(packets) + " " + std::to_string(bytes));
}

std::map<int, std::string> Netdevsim::representors() const {
  std::map<int, std::string> out;
  json ports = shJson({"devlink", "-j", "port", "show"});
  for (const auto& [name, p] : ports["port"].items()) {
    if (name.rfind(devlink() + "/", 0) != 0 || p.value("flavour", "") != "pcivf") continue;
    out[p.at("vfnum").get<int>()] = p.value("netdev", "");
  }
  return out;
}

std::vector<std::string> Netdevsim::ports() const {
  std::vector<std::string> d{pf_};
  for (const auto& [vf, rep] : representors()) d.push_back(rep);
  return d;
}

json reportJson(const std::string& instance) {
  auto r = runVfsteer({"report", "--instance", instance, "-o", "json"});
  EXPECT_EQ(r.status, 0) << r.err;
  return r.status == 0 ? json::parse(r.out) : json::object();
}

json planJson(const std::string& file, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"plan", "-f", file, "-o", "json"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runVfsteer(argv);
  EXPECT_EQ(r.status, 0) << r.err;
  return r.status == 0 ? json::parse(r.out) : json::object();
}

const json& reportChain(const json& report, const std::string& name) {
  for (const auto& c : report["chains"])
    if (c["name"] == name) return c;
  static const json none = json::object();
  ADD_FAILURE() << "no chain " << name << " in " << report.dump();
  return none;
}

std::string kernelSnapshot(const Netdevsim& nsim, const std::vector<std::string>& devs) {
  std::string s;
  s += sh({"ip", "-d", "-j", "link", "show"});
  for (const auto& d : devs) {
    s += sh({"tc", "-j", "qdisc", "show", "dev", d});
    s += sh({"tc", "-j", "filter", "show", "dev", d, "ingress"});
  }
  s += sh({"devlink", "-j", "dev", "eswitch", "show", nsim.devlink()});
  s += sh({"devlink", "-j", "port", "show"});
  s += sh({"devlink", "-j", "port", "function", "rate", "show"});
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator("/sys/fs/bpf/vfsteer", ec)) s += e.path().string() + "\n";
  for (const auto& e : fs::recursive_directory_iterator("/run/vfsteer", ec))
    if (e.is_regular_file() && e.path().filename() == "state.json") {
      std::ifstream in(e.path());
      s += std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
  return s;
}

}  // namespace vfsteer::testing
