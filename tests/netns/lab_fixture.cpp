#include "lab_fixture.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "vfsteer/representors/datapath.hpp"

namespace vfsteer::testing {

namespace fs = std::filesystem;
using nlohmann::json;

const representors::lab::Lab& testLab() {
  static const representors::lab::Lab lab{"vt" + std::to_string(::getpid())};
  return lab;
}

std::string labNetns(const std::string& role) { return testLab().name + "-" + role; }
std::string labInstance() { return testLab().instance(); }
std::string labStateDir() { return std::string(paths::kStateRoot) + "/" + labInstance(); }
std::string labPins() { return std::string(paths::kPinRoot) + "/" + labInstance(); }

CliResult vfsteerCli(const std::vector<std::string>& args) {
  auto cwd = fs::current_path();
  fs::current_path(VFSTEER_SOURCE_DIR);
  auto r = runVfsteer(args);
  fs::current_path(cwd);
  return r;
}

std::string labPolicyText(const std::string& chains) {
  return "version: 1\ndevice: {pf: uplink0, netns: " + labNetns("host") + ", vfs: {count: 4}}\nchains:\n" + chains;
}

std::string writeLabPolicy(const std::string& chains) {
  static int n = 0;
  const std::string path = "/tmp/vfsteer-lab-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".yaml";
  std::ofstream(path) << labPolicyText(chains);
  return path;
}

json tcJson(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/usr/sbin/tc", "-n", labNetns("host"), "-j"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runProgram(argv);
  EXPECT_EQ(r.status, 0) << r.err;
  if (r.out.find_first_not_of(" \n") == std::string::npos) return json::array();
  return json::parse(r.out, nullptr, false);
}

namespace {

void dropProgramIds(json& j) {
  if (j.is_object()) {
    if (j.contains("prog") && j["prog"].is_object()) j["prog"].erase("id");
    for (auto& [k, v] : j.items()) dropProgramIds(v);
  } else if (j.is_array()) {
    for (auto& v : j) dropProgramIds(v);
  }
}

std::string fileText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "(none)";
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

std::string labSnapshot() {
  std::string s;
  for (const auto& dev : kLabHostDevices) {
    json q = tcJson({"qdisc", "show", "dev", dev});
    json f = tcJson({"filter", "show", "dev", dev, "ingress"});
    dropProgramIds(f);
    s += dev + " qdiscs " + q.dump() + "\n" + dev + " filters " + f.dump() + "\n";
    auto link = runProgram({"/usr/sbin/ip", "-n", labNetns("host"), "-j", "link", "show", "dev", dev});
    json l = json::parse(link.out, nullptr, false);
    if (!l.is_discarded() && !l.empty() && l[0].contains("xdp")) {
      json x = l[0]["xdp"];
      dropProgramIds(x);
      s += dev + " xdp " + x.dump() + "\n";
    }
  }
  std::error_code ec;
  std::vector<std::string> pins;
  for (const auto& e : fs::recursive_directory_iterator("/sys/fs/bpf/vfsteer", ec)) pins.push_back(e.path());
  std::sort(pins.begin(), pins.end());
  for (const auto& p : pins) s += "pin " + p + "\n";
  auto dp = representors::Datapath::open(labPins());
  if (dp.ok() && dp->has_value()) {
    const uint32_t gen = (*dp)->activeGeneration();
    auto t = (*dp)->readGeneration(gen);
    if (t.ok()) {
      s += "tables " + std::to_string(t->chains.size()) + " chains " + std::to_string(t->rules.size()) + " rules " +
           std::to_string(t->tuples.size()) + " tuples\n";
      // The rules' content, in a stable order.
      std::vector<std::string> rules;
      for (const auto& r : t->rules)
        rules.emplace_back(reinterpret_cast<const char*>(&r), sizeof r);
      std::sort(rules.begin(), rules.end());
      std::hash<std::string> h;
      size_t acc = 0;
      for (const auto& r : rules) acc = acc * 31 + h(r);
      s += "rules hash " + std::to_string(acc) + "\n";
    }
  }
  s += "state " + fileText(labStateDir() + "/state.json") + "\n";
  s += "journal " + fileText(labStateDir() + "/journal.json") + "\n";
  for (const auto& e : std::filesystem::directory_iterator(labStateDir(), ec))
    if (e.path().filename().string().rfind("split-", 0) == 0) s += "split " + fileText(e.path().string()) + "\n";
  return s;
}

std::string firstDifference(const std::string& got, const std::string& want) {
  std::istringstream a(got), b(want);
  std::string la, lb;
  for (int line = 1;; ++line) {
    const bool ha = static_cast<bool>(std::getline(a, la)), hb = static_cast<bool>(std::getline(b, lb));
    if (!ha && !hb) return "no difference";
    if (ha != hb || la != lb) {
      size_t at = 0;
      while (at < la.size() && at < lb.size() && la[at] == lb[at]) ++at;
      const size_t from = at > 200 ? at - 200 : 0;
      return "line " + std::to_string(line) + ", column " + std::to_string(at) + ":\n  got:  " +
             (ha ? la.substr(from, 600) : "(end)") + "\n  want: " + (hb ? lb.substr(from, 600) : "(end)");
    }
  }
}

engine::ApplyResult applyThrough(const std::string& policy, FaultPlan& plan,
                                 const std::optional<std::string>& emulatedProfile) {
  engine::ApplyOptions opts;
  opts.policyFile = policy;
  opts.profile = emulatedProfile;
  opts.emulateNic = emulatedProfile.has_value();
  auto ports = makeFaultyPorts(plan);
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(VFSTEER_SOURCE_DIR);
  auto r = engine::apply(opts, *ports);
  std::filesystem::current_path(cwd);
  return r;
}

void LabTest::SetUpTestSuite() {
  if (!isRoot()) return;
  auto up = vfsteerCli({"lab", "up", "--vfs", "4", "--name", testLab().name});
  ASSERT_EQ(up.status, 0) << up.err;
}

void LabTest::TearDownTestSuite() {
  if (isRoot()) vfsteerCli({"lab", "down", "--name", testLab().name});
}

void LabTest::SetUp() { VFSTEER_REQUIRE_ROOT(); }

void LabTest::TearDown() {
  if (isRoot()) {
    auto r = vfsteerCli({"teardown", "--instance", labInstance()});
    EXPECT_EQ(r.status, 0) << r.err;
  }
}

}  // namespace vfsteer::testing
