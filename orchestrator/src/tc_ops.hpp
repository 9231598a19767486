// tc operations the orchestrator needs, in terms of its ports: reading what
// sits on an interface and building the requests that change it.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ports.hpp"
#include "vfsteer/netlink/tc.hpp"

namespace vfsteer::orchestrator {

// vfsteer's host datapath filter: cls_bpf at the owned host priority, with a
// fixed handle so that it is found and deleted alone even if someone else
// put a filter at the same priority.
inline constexpr uint32_t kHostFilterHandle = 0x7666;  // "vf"
inline constexpr const char* kHostFilterNamePrefix = "vfsteer:";

netlink::tc::Filter hostFilter(int ifindex, int progFd, const std::string& instance);

// The entry of a NIC continuation: the host filter's priority, handle and
// name, in tc chain `tcChain`, running vfs_continue with a classid naming
// the chain id and the stage to resume at.
netlink::tc::Filter continuationFilter(int ifindex, uint32_t tcChain, int progFd, const std::string& instance,
                                       uint32_t chainId, uint32_t startStage);

// vfsteer's NIC demux program as a cls_bpf filter with skip_sw (profiles
// whose engine is BPF), found the same way.
inline constexpr uint32_t kNicProgramHandle = 0x7667;
inline constexpr const char* kNicProgramNamePrefix = "vfsteer-nic:";

// `emulated`: skip_hw (the program runs in software) instead of skip_sw.
netlink::tc::Filter nicProgramFilter(int ifindex, int progFd, const std::string& instance, bool emulated = false);

struct PortTcState {
  bool clsact = false;
  std::optional<netlink::tc::Filter> ours;        // our host filter (chain 0), when present
  std::vector<netlink::tc::Filter> continuations;  // our continuation entries (other chains)
  std::optional<netlink::tc::Filter> nicProgram;  // our NIC demux filter, when present
  std::vector<netlink::tc::Filter> all;     // every ingress filter (chain 0 and others)
  // Chain 0 priorities holding filters other than our host filter and demux
  // program (of any kind, also kinds vfsteer does not decode): someone
  // else's, or our NIC rules. Ours to take only if they are free.
  std::set<uint16_t> otherPriorities;
};

// `instance` names whose filters count as ours: another instance's (a second
// PF in the same namespace) are someone else's.
Result<PortTcState> readPortTc(NetlinkPort& nl, int ifindex, const std::string& instance);

// Runs one request; its kernel error (with extack) is the result.
Status runOne(NetlinkPort& nl, netlink::Message m, const std::string& what);
// Runs one GET request: the kernel's error or its replies.
Result<std::vector<netlink::RawMessage>> requestOne(NetlinkPort& nl, netlink::Message m);

}  // namespace vfsteer::orchestrator
