// What vfsteer remembers about an instance between runs: the kernel holds
// the truth about what is installed; the state file holds what the kernel
// cannot say (which policy, chain counter ids, which programs sit in which
// slots, which clsact qdiscs vfsteer created).
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "vfsteer/common/result.hpp"

namespace vfsteer::orchestrator {

struct AttachPoint {
  std::string ifname;
  int ifindex = 0;
  bool createdClsact = false;  // vfsteer added the qdisc and may remove it
  bool operator==(const AttachPoint&) const = default;
};

// The host datapath's XDP entry on a port ("native" or "generic" slot). The
// program is the pinned vfs_xdp: its id says it is vfsteer's.
struct XdpAttachment {
  std::string ifname;
  int ifindex = 0;
  std::string mode;
  bool operator==(const XdpAttachment&) const = default;
};

struct LoadedProgram {
  uint32_t slot = 0;
  std::string object;       // absolute path
  std::string program;
  std::string fingerprint;  // of the object file's content
  bool operator==(const LoadedProgram&) const = default;
};

struct NicRuleRecord {
  std::string chain;
  std::string device;
  int ifindex = 0;
  uint16_t priority = 0;
  uint16_t protocol = 0;
  bool operator==(const NicRuleRecord&) const = default;
};

// The NIC demux as one offloaded BPF program (profiles with engine bpf).
struct NicProgramRecord {
  std::string hook;  // "cls_bpf" (tc ingress, skip_sw) or "xdp" (offload mode)
  std::string device;
  int ifindex = 0;
  uint32_t progId = 0;
  std::string fingerprint;  // of its instructions
  std::vector<std::string> chains;  // the chains it demuxes
  bool operator==(const NicProgramRecord&) const = default;
};

struct InstanceState {
  std::string instance;
  std::string netns;  // where the PF and representors live ("" = the default namespace)
  std::string pf;
  std::string policyFile;
  std::string profile;
  std::map<std::string, uint32_t> chainIds;
  std::vector<LoadedProgram> programs;
  std::vector<AttachPoint> attachments;
  std::vector<XdpAttachment> xdpAttachments;
  std::vector<NicRuleRecord> nicRules;
  std::vector<AttachPoint> nicDevices;  // devices holding NIC rules (clsact vfsteer added?)
  std::vector<std::string> tunnelDevices;  // created by vfsteer
  std::optional<NicProgramRecord> nicProgram;
  bool nicEmulated = false;  // the NIC part runs in software (apply --emulate-nic)
  // Chains whose NIC rules the kernel refused, with its words; a later apply
  // of the same policy does not ask again (apply --retry-refused does).
  std::map<std::string, std::string> refused;
  std::vector<std::string> skipSw;  // chains enforced with `vfsteer enforce skip-sw`
  nlohmann::json plan;  // `vfsteer plan -o json` of what was applied
};

// What an apply in progress may leave behind if it dies, written before the
// change it describes and removed once the state file records the outcome.
// The next apply (or teardown) of the instance treats these as vfsteer's:
// objects it cannot recognise by name, handle or cookie.
struct Journal {
  int pid = 0;
  std::string policyFile;
  std::vector<AttachPoint> clsact;         // clsact qdiscs it added
  std::vector<std::string> tunnelDevices;  // tunnel devices it created or is retiring
  std::vector<NicProgramRecord> nicPrograms;  // demux programs it attached
  bool empty() const { return clsact.empty() && tunnelDevices.empty() && nicPrograms.empty(); }
};

// Held while an instance is being changed; released on destruction.
class InstanceLock {
 public:
  InstanceLock(InstanceLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;
  ~InstanceLock();

 private:
  friend class StateStore;
  explicit InstanceLock(int fd) : fd_(fd) {}
  int fd_;
};

class StateStore {
 public:
  explicit StateStore(std::string root = "/run/vfsteer") : root_(std::move(root)) {}

  std::string dir(const std::string& instance) const { return root_ + "/" + instance; }
  Result<std::optional<InstanceState>> load(const std::string& instance) const;
  Status save(const InstanceState& state) const;
  Status remove(const std::string& instance) const;
  Result<std::optional<Journal>> loadJournal(const std::string& instance) const;
  Status saveJournal(const std::string& instance, const Journal& journal) const;
  Status removeJournal(const std::string& instance) const;
  // Instances with a state file or a journal.
  std::vector<std::string> instances() const;
  // Waits up to `wait` for other vfsteer processes working on the instance.
  Result<InstanceLock> lock(const std::string& instance, std::chrono::milliseconds wait) const;

 private:
  std::string root_;
};

// A fingerprint of a file's content (FNV-1a, 64 bits, hex).
Result<std::string> fileFingerprint(const std::string& path);

}  // namespace vfsteer::orchestrator
