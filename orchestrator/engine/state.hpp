// What vfsteer remembers about an instance between runs. The kernel holds
// the truth about what is installed; the state holds what the kernel cannot
// say: which objects without a mark vfsteer made (clsact qdiscs, tunnel
// devices, an offloaded demux program, ethtool flow rules), stable ids (chain counters, program
// slots), the policy and how it was split.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/objects.hpp"
#include "vfsteer/common/paths.hpp"
#include "vfsteer/common/result.hpp"
#include "vfsteer/demux/split_report.hpp"

namespace vfsteer::engine {

// Engine ntuple: device → location → the flow rules, as `ethtool -N` takes
// them, that vfsteer wrote (or, in a journal, was about to write) there. An
// ethtool rule carries no mark of its owner: the rule found at a location is
// vfsteer's only if it is one recorded there.
using FlowRuleRecords = std::map<std::string, std::map<uint32_t, std::set<std::string>>>;

struct InstanceState {
  std::string instance;
  std::string netns;  // where the PF and representors live ("" = the default namespace)
  std::string pf;
  std::string policyFile;
  std::string profile;
  std::map<std::string, uint32_t> chainIds;  // chain → counter id (its slot in the tables)
  std::vector<UserProgram> programs;         // bpf stages' programs, by slot
  std::set<std::string> devices;             // every device holding something of vfsteer's
  std::set<std::string> clsact;              // devices whose clsact vfsteer added
  std::set<std::string> tunnelDevices;       // created by vfsteer
  std::optional<DemuxProgram> demuxProgram;  // hook, device, program id, fingerprint, chains
  FlowRuleRecords flowRules;  // engine ntuple: the rules it wrote, by device and location
  std::vector<std::string> hostEntries;      // ports with the host datapath's tc entry
  std::vector<XdpEntry> xdpEntries;          // ports with its XDP entry, and the mode
  bool nicEmulated = false;  // the NIC part runs in software (apply --emulate-nic)
  bool nicCounters = true;   // the NIC rules' counters mean something (profile rule_counters, or emulated)
  // Chains whose NIC rules the kernel refused, with its words; a later apply
  // of the same policy does not ask again (apply --retry-refused does).
  std::map<std::string, std::string> refused;
  std::vector<std::string> skipSw;  // chains enforced with `vfsteer enforce skip-sw`
  // How the applied policy was split: kept in a file of its own (only a
  // report reads it, and it grows with the policy); here, its fingerprint.
  std::string splitFingerprint;
};

// What an apply in progress may leave behind if it dies, written before the
// change it describes and removed once the state records the outcome. The
// next apply (or teardown) treats these as vfsteer's.
struct Journal {
  int pid = 0;
  std::string policyFile;
  std::set<std::string> clsact;           // clsact qdiscs it added
  std::set<std::string> tunnelDevices;    // tunnel devices it created or is retiring
  std::vector<DemuxProgram> demuxPrograms;  // demux programs it attached
  FlowRuleRecords flowRules;  // flow rules it was about to write
  bool empty() const { return clsact.empty() && tunnelDevices.empty() && demuxPrograms.empty() && flowRules.empty(); }
};

// Held while an instance is being changed; released on destruction, which
// also removes the instance's directory if nothing but the lock is left in
// it (a teardown, or a command that failed before it wrote anything).
class InstanceLock {
 public:
  InstanceLock(InstanceLock&& other) noexcept : fd_(other.fd_), dir_(std::move(other.dir_)) { other.fd_ = -1; }
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;
  ~InstanceLock();

 private:
  friend class StateStore;
  InstanceLock(int fd, std::string dir) : fd_(fd), dir_(std::move(dir)) {}
  int fd_;
  std::string dir_;
};

class StateStore {
 public:
  explicit StateStore(std::string root = paths::kStateRoot) : root_(std::move(root)) {}

  const std::string& root() const { return root_; }
  // The instance's directory; refuses a name that is not an instance name.
  Result<std::string> dir(const std::string& instance) const;
  Result<std::optional<InstanceState>> load(const std::string& instance) const;
  // The state is the commit. The split report it names is written before it,
  // in a file named by its fingerprint, so the state always names a whole
  // one; `save` removes the ones it no longer names.
  Status save(const InstanceState& state) const;
  Result<demux::SplitReport> loadSplit(const InstanceState& state) const;
  Status saveSplit(const std::string& instance, const std::string& fingerprint, const demux::SplitReport& split) const;
  Status remove(const std::string& instance) const;
  Result<std::optional<Journal>> loadJournal(const std::string& instance) const;
  Status saveJournal(const std::string& instance, const Journal& journal) const;
  Status removeJournal(const std::string& instance) const;
  // Instances with a state file or a journal.
  std::vector<std::string> instances() const;
  // Waits up to `wait` for other vfsteer processes working on the instance.
  Result<InstanceLock> lock(const std::string& instance, std::chrono::milliseconds wait) const;

 private:
  Result<std::string> makeDir(const std::string& instance) const;
  Result<int> lockFile(const std::string& instance, std::chrono::steady_clock::time_point deadline,
                       std::chrono::milliseconds wait) const;
  std::string root_;
};

// Written aside (path + ".tmp", mode 0600) and renamed: a crash leaves the
// old file or the new one.
Status writeAtomically(const std::string& path, std::string_view text);

// In an instance's directory, the policy it was applied from, loaded
// (engine/policy_cache.hpp); `remove` deletes it with the state.
inline constexpr const char* kPolicyCacheFile = "policy.cache";

// A fingerprint of a file's content (FNV-1a, 64 bits, hex).
Result<std::string> fileFingerprint(const std::string& path);

}  // namespace vfsteer::engine
