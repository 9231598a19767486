#include "state.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

namespace vfsteer::orchestrator {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kStateVersion = 1;

// State directories are root's business: 0700, files 0600.
Status ensurePrivateDir(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return Error(ErrorCode::kPermission, "cannot create " + path + ": " + ec.message());
  if (::chmod(path.c_str(), 0700) != 0) return Error::fromErrno(errno, "chmod " + path);
  return okStatus();
}

// Written aside and renamed: a crash leaves the old file or the new one.
Status writeAtomically(const std::string& path, const std::string& text) {
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

json programJson(const NicProgramRecord& p) {
  return {{"hook", p.hook}, {"device", p.device}, {"ifindex", p.ifindex},
          {"prog_id", p.progId}, {"fingerprint", p.fingerprint}, {"chains", p.chains}};
}

NicProgramRecord programOf(const json& p) {
  return NicProgramRecord{p.at("hook"), p.at("device"), p.at("ifindex"), p.at("prog_id"),
                          p.at("fingerprint"), p.at("chains")};
}

}  // namespace

InstanceLock::~InstanceLock() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

Result<std::optional<InstanceState>> StateStore::load(const std::string& instance) const {
  const std::string path = dir(instance) + "/state.json";
  std::ifstream in(path);
  if (!in) return std::optional<InstanceState>{};
  json doc = json::parse(in, nullptr, false);
  if (doc.is_discarded() || doc.value("vfsteer_state", 0) != kStateVersion)
    return Error(ErrorCode::kInternal, path + " is damaged; \"vfsteer teardown\" removes it");
  InstanceState s;
  try {
    s.instance = doc.at("instance");
    s.netns = doc.value("netns", "");
    s.pf = doc.value("pf", "");
    s.policyFile = doc.value("policy", "");
    s.profile = doc.value("profile", "");
    // Named copies: iterating a temporary's items() would dangle.
    const json chainIds = doc.value("chain_ids", json::object());
    const json programs = doc.value("programs", json::array());
    const json attachments = doc.value("attachments", json::array());
    const json nicRules = doc.value("nic_rules", json::array());
    for (const auto& r : nicRules)
      s.nicRules.push_back({r.at("chain"), r.at("device"), r.at("ifindex"), r.at("priority"), r.at("protocol")});
    const json nicDevices = doc.value("nic_devices", json::array());
    for (const auto& a : nicDevices) s.nicDevices.push_back({a.at("ifname"), a.at("ifindex"), a.at("created_clsact")});
    s.tunnelDevices = doc.value("tunnel_devices", std::vector<std::string>{});
    s.nicEmulated = doc.value("nic_emulated", false);
    if (doc.contains("nic_program")) s.nicProgram = programOf(doc.at("nic_program"));
    s.refused = doc.value("refused", std::map<std::string, std::string>{});
    s.skipSw = doc.value("skip_sw", std::vector<std::string>{});
    for (const auto& [name, id] : chainIds.items()) s.chainIds[name] = id.get<uint32_t>();
    for (const auto& p : programs)
      s.programs.push_back({p.at("slot"), p.at("object"), p.at("program"), p.at("fingerprint")});
    for (const auto& a : attachments)
      s.attachments.push_back({a.at("ifname"), a.at("ifindex"), a.at("created_clsact")});
    const json xdp = doc.value("xdp_attachments", json::array());
    for (const auto& a : xdp) s.xdpAttachments.push_back({a.at("ifname"), a.at("ifindex"), a.at("mode")});
    s.plan = doc.value("plan", json());
  } catch (const json::exception& e) {
    return Error(ErrorCode::kInternal, path + " is damaged (" + e.what() + ")");
  }
  return std::optional<InstanceState>(std::move(s));
}

Status StateStore::save(const InstanceState& s) const {
  const std::string d = dir(s.instance);
  VFSTEER_TRY(ensurePrivateDir(root_));
  VFSTEER_TRY(ensurePrivateDir(d));
  json doc{{"vfsteer_state", kStateVersion}, {"instance", s.instance}, {"netns", s.netns},
           {"pf", s.pf}, {"policy", s.policyFile},
           {"profile", s.profile}, {"chain_ids", s.chainIds}, {"plan", s.plan}};
  doc["programs"] = json::array();
  for (const auto& p : s.programs)
    doc["programs"].push_back({{"slot", p.slot}, {"object", p.object}, {"program", p.program},
                               {"fingerprint", p.fingerprint}});
  doc["nic_rules"] = json::array();
  for (const auto& r : s.nicRules)
    doc["nic_rules"].push_back({{"chain", r.chain}, {"device", r.device}, {"ifindex", r.ifindex},
                                {"priority", r.priority}, {"protocol", r.protocol}});
  doc["nic_devices"] = json::array();
  for (const auto& a : s.nicDevices)
    doc["nic_devices"].push_back({{"ifname", a.ifname}, {"ifindex", a.ifindex}, {"created_clsact", a.createdClsact}});
  doc["tunnel_devices"] = s.tunnelDevices;
  doc["nic_emulated"] = s.nicEmulated;
  if (s.nicProgram) doc["nic_program"] = programJson(*s.nicProgram);
  doc["refused"] = s.refused;
  doc["skip_sw"] = s.skipSw;
  doc["attachments"] = json::array();
  for (const auto& a : s.attachments)
    doc["attachments"].push_back({{"ifname", a.ifname}, {"ifindex", a.ifindex},
                                  {"created_clsact", a.createdClsact}});
  doc["xdp_attachments"] = json::array();
  for (const auto& a : s.xdpAttachments)
    doc["xdp_attachments"].push_back({{"ifname", a.ifname}, {"ifindex", a.ifindex}, {"mode", a.mode}});
  return writeAtomically(d + "/state.json", doc.dump(1) + "\n");
}

Result<std::optional<Journal>> StateStore::loadJournal(const std::string& instance) const {
  const std::string path = dir(instance) + "/journal.json";
  std::ifstream in(path);
  if (!in) return std::optional<Journal>{};
  json doc = json::parse(in, nullptr, false);
  Journal j;
  try {
    if (doc.is_discarded()) throw json::other_error::create(0, "not JSON", nullptr);
    j.pid = doc.value("pid", 0);
    j.policyFile = doc.value("policy", "");
    for (const auto& a : doc.value("clsact", json::array())) j.clsact.push_back({a.at("ifname"), a.at("ifindex"), true});
    j.tunnelDevices = doc.value("tunnel_devices", std::vector<std::string>{});
    for (const auto& p : doc.value("nic_programs", json::array())) j.nicPrograms.push_back(programOf(p));
  } catch (const json::exception& e) {
    return Error(ErrorCode::kInternal, path + " is damaged (" + e.what() + "); \"vfsteer teardown\" removes it");
  }
  return std::optional<Journal>(std::move(j));
}

Status StateStore::saveJournal(const std::string& instance, const Journal& j) const {
  VFSTEER_TRY(ensurePrivateDir(root_));
  VFSTEER_TRY(ensurePrivateDir(dir(instance)));
  json doc{{"pid", j.pid}, {"policy", j.policyFile}, {"tunnel_devices", j.tunnelDevices}};
  doc["clsact"] = json::array();
  for (const auto& a : j.clsact) doc["clsact"].push_back({{"ifname", a.ifname}, {"ifindex", a.ifindex}});
  doc["nic_programs"] = json::array();
  for (const auto& p : j.nicPrograms) doc["nic_programs"].push_back(programJson(p));
  return writeAtomically(dir(instance) + "/journal.json", doc.dump(1) + "\n");
}

Status StateStore::removeJournal(const std::string& instance) const {
  std::error_code ec;
  fs::remove(dir(instance) + "/journal.json", ec);
  fs::remove(dir(instance) + "/journal.json.tmp", ec);
  if (ec) return Error(ErrorCode::kInternal, "remove the journal of " + instance + ": " + ec.message());
  return okStatus();
}

Status StateStore::remove(const std::string& instance) const {
  std::error_code ec;
  fs::remove(dir(instance) + "/state.json", ec);
  fs::remove(dir(instance) + "/state.json.tmp", ec);
  return okStatus();
}

std::vector<std::string> StateStore::instances() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_, ec))
    if (entry.is_directory() && (fs::exists(entry.path() / "state.json") || fs::exists(entry.path() / "journal.json")))
      out.push_back(entry.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

Result<InstanceLock> StateStore::lock(const std::string& instance, std::chrono::milliseconds wait) const {
  const std::string d = dir(instance);
  VFSTEER_TRY(ensurePrivateDir(root_));
  VFSTEER_TRY(ensurePrivateDir(d));
  const std::string path = d + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Error::fromErrno(errno, "open " + path);
  auto deadline = std::chrono::steady_clock::now() + wait;
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
  // The holder's pid, for whoever waits next.
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, pid.data(), pid.size(), 0);
  return InstanceLock(fd);
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

}  // namespace vfsteer::orchestrator
