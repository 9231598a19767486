#include "engine/state.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "engine/split_json.hpp"

namespace vfsteer::engine {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// 2: typed objects and the split report (1 was written before the engine).
constexpr int kStateVersion = 2;

}  // namespace

Status writeAtomically(const std::string& path, std::string_view text) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error::fromErrno(errno, "write " + tmp);
  ssize_t n = ::write(fd, text.data(), text.size());
  int err = errno;
  if (n == static_cast<ssize_t>(text.size()) && ::fsync(fd) != 0) err = errno, n = -1;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) return Error::fromErrno(err, "write " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Error::fromErrno(errno, "replace " + path);
  return okStatus();
}

namespace {

json demuxJson(const DemuxProgram& p) {
  return {{"hook", std::string(hookName(p.hook))}, {"device", p.device}, {"emulated", p.emulated},
          {"prog_id", p.progId}, {"fingerprint", p.fingerprint}, {"chains", p.chains}};
}

DemuxProgram demuxOf(const json& p) {
  DemuxProgram d;
  const std::string hook = p.at("hook");
  auto parsed = parseHookName(hook);
  if (!parsed) throw json::other_error::create(501, "unknown demux hook \"" + hook + "\"", nullptr);
  d.hook = *parsed;
  d.device = p.at("device");
  d.emulated = p.value("emulated", false);
  d.progId = p.at("prog_id");
  d.fingerprint = p.at("fingerprint");
  d.chains = p.at("chains").get<std::vector<std::string>>();
  return d;
}

// {"eth0": {"10": ["flow-type tcp4 ... loc 10"]}}: JSON keys are strings.
json flowRulesJson(const FlowRuleRecords& records) {
  json out = json::object();
  for (const auto& [device, locations] : records)
    for (const auto& [location, rules] : locations) out[device][std::to_string(location)] = rules;
  return out;
}

FlowRuleRecords flowRulesOf(const json& j) {
  FlowRuleRecords out;
  for (const auto& [device, locations] : j.items())
    for (const auto& [key, rules] : locations.items()) {
      uint32_t location = 0;
      const auto [end, err] = std::from_chars(key.data(), key.data() + key.size(), location);
      if (err != std::errc() || end != key.data() + key.size())
        throw json::other_error::create(501, "flow rule location \"" + key + "\" is not a number", nullptr);
      out[device][location] = rules.get<std::set<std::string>>();
    }
  return out;
}

std::string modeName(policies::HostXdp mode) { return std::string(policies::name(mode)); }

policies::HostXdp modeOf(const std::string& name) {
  return name == "native" ? policies::HostXdp::kNative : policies::HostXdp::kGeneric;
}

}  // namespace

InstanceLock::~InstanceLock() {
  if (fd_ < 0) return;
  // An instance with nothing left but its lock leaves nothing behind. The
  // file goes while it is still held: a waiter that gets the lock next sees
  // that its file is gone and starts over (StateStore::lock).
  std::error_code ec;
  bool onlyTheLock = true;
  for (const auto& e : fs::directory_iterator(dir_, ec)) onlyTheLock &= e.path().filename() == "lock";
  if (!ec && onlyTheLock) {
    ::unlink((dir_ + "/lock").c_str());
    ::rmdir(dir_.c_str());
  }
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
}

Result<std::string> StateStore::dir(const std::string& instance) const {
  return paths::instanceDir(root_, instance);
}

// State directories are root's business: 0700, files 0600.
Result<std::string> StateStore::makeDir(const std::string& instance) const {
  VFSTEER_ASSIGN_OR_RETURN(auto d, dir(instance));
  VFSTEER_TRY(paths::makePrivateDirs(root_));
  VFSTEER_TRY(paths::makePrivateDirs(d));
  return d;
}

Result<std::optional<InstanceState>> StateStore::load(const std::string& instance) const {
  VFSTEER_ASSIGN_OR_RETURN(auto d, dir(instance));
  const std::string path = d + "/state.json";
  std::ifstream in(path);
  if (!in) return std::optional<InstanceState>{};
  json doc = json::parse(in, nullptr, false);
  if (doc.is_discarded()) return Error(ErrorCode::kInternal, path + " is damaged; \"vfsteer teardown\" removes it");
  if (doc.value("vfsteer_state", 0) != kStateVersion)
    return Error(ErrorCode::kInternal, path + " was written by another version of vfsteer (format " +
                                           std::to_string(doc.value("vfsteer_state", 0)) + ", this one reads " +
                                           std::to_string(kStateVersion) +
                                           "); \"vfsteer teardown\" removes what it made without it");
  InstanceState s;
  try {
    s.instance = doc.at("instance");
    s.netns = doc.value("netns", "");
    s.pf = doc.value("pf", "");
    s.policyFile = doc.value("policy", "");
    s.profile = doc.value("profile", "");
    s.chainIds = doc.value("chain_ids", std::map<std::string, uint32_t>{});
    for (const auto& p : doc.value("programs", json::array()))
      s.programs.push_back({p.at("slot"), p.at("object"), p.at("program"), p.at("fingerprint")});
    s.devices = doc.value("devices", std::set<std::string>{});
    s.clsact = doc.value("clsact", std::set<std::string>{});
    s.tunnelDevices = doc.value("tunnel_devices", std::set<std::string>{});
    if (doc.contains("demux_program")) s.demuxProgram = demuxOf(doc.at("demux_program"));
    s.flowRules = flowRulesOf(doc.value("flow_rules", json::object()));
    s.hostEntries = doc.value("host_entries", std::vector<std::string>{});
    for (const auto& x : doc.value("xdp_entries", json::array()))
      s.xdpEntries.push_back({x.at("device"), modeOf(x.at("mode")), 0, x.value("rx_metadata", false)});
    s.nicEmulated = doc.value("nic_emulated", false);
    s.nicCounters = doc.value("nic_counters", true);
    s.refused = doc.value("refused", std::map<std::string, std::string>{});
    s.skipSw = doc.value("skip_sw", std::vector<std::string>{});
    s.splitFingerprint = doc.value("split_fingerprint", "");
  } catch (const json::exception& e) {
    return Error(ErrorCode::kInternal, path + " is damaged (" + e.what() + "); \"vfsteer teardown\" removes it");
  }
  return std::optional<InstanceState>(std::move(s));
}

Status StateStore::save(const InstanceState& s) const {
  VFSTEER_ASSIGN_OR_RETURN(auto d, makeDir(s.instance));
  json doc{{"vfsteer_state", kStateVersion}, {"instance", s.instance}, {"netns", s.netns},
           {"pf", s.pf}, {"policy", s.policyFile}, {"profile", s.profile}, {"chain_ids", s.chainIds},
           {"devices", s.devices}, {"clsact", s.clsact}, {"tunnel_devices", s.tunnelDevices},
           {"host_entries", s.hostEntries}, {"nic_emulated", s.nicEmulated}, {"nic_counters", s.nicCounters}, {"refused", s.refused},
           {"skip_sw", s.skipSw}, {"split_fingerprint", s.splitFingerprint}};
  doc["programs"] = json::array();
  for (const auto& p : s.programs)
    doc["programs"].push_back({{"slot", p.slot}, {"object", p.object}, {"program", p.program},
                               {"fingerprint", p.fingerprint}});
  if (s.demuxProgram) doc["demux_program"] = demuxJson(*s.demuxProgram);
  if (!s.flowRules.empty()) doc["flow_rules"] = flowRulesJson(s.flowRules);
  doc["xdp_entries"] = json::array();
  for (const auto& x : s.xdpEntries)
    doc["xdp_entries"].push_back({{"device", x.device}, {"mode", modeName(x.mode)}, {"rx_metadata", x.rxMetadata}});
  VFSTEER_TRY(writeAtomically(d + "/state.json", doc.dump(1) + "\n"));
  // Split reports the state no longer names (best effort: an extra one is
  // only a file).
  const std::string keep = "split-" + s.splitFingerprint + ".json";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(d, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("split-", 0) == 0 && name != keep) fs::remove(e.path(), ec);
  }
  return okStatus();
}

Result<demux::SplitReport> StateStore::loadSplit(const InstanceState& state) const {
  VFSTEER_ASSIGN_OR_RETURN(auto d, dir(state.instance));
  const std::string path = d + "/split-" + state.splitFingerprint + ".json";
  std::ifstream in(path);
  if (!in) return Error(ErrorCode::kNotFound, "cannot read " + path + "; apply the policy again");
  json doc = json::parse(in, nullptr, false);
  if (doc.is_discarded()) return Error(ErrorCode::kInternal, path + " is damaged; apply the policy again");
  return splitReportFromJson(doc);
}

Status StateStore::saveSplit(const std::string& instance, const std::string& fingerprint,
                             const demux::SplitReport& split) const {
  VFSTEER_ASSIGN_OR_RETURN(auto d, makeDir(instance));
  std::string text;
  writeJson(text, split);
  text += '\n';
  return writeAtomically(d + "/split-" + fingerprint + ".json", text);
}

Result<std::optional<Journal>> StateStore::loadJournal(const std::string& instance) const {
  VFSTEER_ASSIGN_OR_RETURN(auto d, dir(instance));
  const std::string path = d + "/journal.json";
  std::ifstream in(path);
  if (!in) return std::optional<Journal>{};
  json doc = json::parse(in, nullptr, false);
  Journal j;
  try {
    if (doc.is_discarded()) throw json::other_error::create(0, "not JSON", nullptr);
    j.pid = doc.value("pid", 0);
    j.policyFile = doc.value("policy", "");
    j.clsact = doc.value("clsact", std::set<std::string>{});
    j.tunnelDevices = doc.value("tunnel_devices", std::set<std::string>{});
    for (const auto& p : doc.value("demux_programs", json::array())) j.demuxPrograms.push_back(demuxOf(p));
    j.flowRules = flowRulesOf(doc.value("flow_rules", json::object()));
  } catch (const json::exception& e) {
    return Error(ErrorCode::kInternal, path + " is damaged (" + e.what() + "); \"vfsteer teardown\" removes it");
  }
  return std::optional<Journal>(std::move(j));
}

Status StateStore::saveJournal(const std::string& instance, const Journal& j) const {
  VFSTEER_ASSIGN_OR_RETURN(auto d, makeDir(instance));
  json doc{{"pid", j.pid}, {"policy", j.policyFile}, {"tunnel_devices", j.tunnelDevices}, {"clsact", j.clsact}};
  doc["demux_programs"] = json::array();
  for (const auto& p : j.demuxPrograms) doc["demux_programs"].push_back(demuxJson(p));
  if (!j.flowRules.empty()) doc["flow_rules"] = flowRulesJson(j.flowRules);
  return writeAtomically(d + "/journal.json", doc.dump(1) + "\n");
}

Status StateStore::removeJournal(const std::string& instance) const {
  VFSTEER_ASSIGN_OR_RETURN(auto d, dir(instance));
  std::error_code ec;
  fs::remove(d + "/journal.json", ec);
  fs::remove(d + "/journal.json.tmp", ec);
  if (ec) return Error(ErrorCode::kInternal, "remove the journal of " + instance + ": " + ec.message());
  return okStatus();
}

Status StateStore::remove(const std::string& instance) const {
  VFSTEER_ASSIGN_OR_RETURN(auto d, dir(instance));
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(d, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("state.json", 0) == 0 || name.rfind("split-", 0) == 0 || name.rfind(kPolicyCacheFile, 0) == 0)
      fs::remove(e.path(), ec);
  }
  return okStatus();
}

std::vector<std::string> StateStore::instances() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_, ec))
    if (entry.is_directory() && names::checkInstanceName(entry.path().filename().string()).ok() &&
        (fs::exists(entry.path() / "state.json") || fs::exists(entry.path() / "journal.json")))
      out.push_back(entry.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// The lock file that the directory holds now, open and locked, or -1 when the
// file was replaced while we waited (its holder removed the instance).
Result<int> StateStore::lockFile(const std::string& instance, std::chrono::steady_clock::time_point deadline,
                                 std::chrono::milliseconds wait) const {
  VFSTEER_ASSIGN_OR_RETURN(auto d, makeDir(instance));
  const std::string path = d + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Error::fromErrno(errno, "open " + path);
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      int err = errno;
      ::close(fd);
      return Error::fromErrno(err, "lock " + path);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      char pid[32] = {};
      const ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
      ::close(fd);
      const std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : std::string("?");
      return Error(ErrorCode::kConflict,
                   "another vfsteer (pid " + holder + ") is changing " + instance + "; waited " +
                       (wait.count() % 1000 == 0 ? std::to_string(wait.count() / 1000) + " s"
                                                 : std::to_string(wait.count()) + " ms") +
                       " for it (lock " + path +
                       "); try again when it is done, or wait longer with --wait");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  struct stat held {}, named {};
  if (::fstat(fd, &held) != 0 || ::stat(path.c_str(), &named) != 0 || held.st_ino != named.st_ino ||
      held.st_dev != named.st_dev) {
    ::close(fd);
    return -1;
  }
  return fd;
}

Result<InstanceLock> StateStore::lock(const std::string& instance, std::chrono::milliseconds wait) const {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    VFSTEER_ASSIGN_OR_RETURN(int fd, lockFile(instance, deadline, wait));
    if (fd < 0) continue;
    // The holder's pid, for whoever waits next.
    const std::string pid = std::to_string(::getpid());
    if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, pid.data(), pid.size(), 0);
    VFSTEER_ASSIGN_OR_RETURN(auto d, dir(instance));
    return InstanceLock(fd, d);
  }
}

Result<std::string> fileFingerprint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorCode::kNotFound, "cannot read " + path);
  uint64_t h = 1469598103934665603ULL;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h ^= static_cast<uint8_t>(buf[i]);
      h *= 1099511628211ULL;
    }
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return std::string(out);
}

}  // namespace vfsteer::engine
