// Plan → the host datapath's tables: which packets each port classifies to
// which chain (tuples and rules), and what each chain's host stages do.
// Pure: no kernel access; bindings supply the interface indexes.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/state.hpp"
#include "vfsteer/common/strong_types.hpp"
#include "vfsteer/common/result.hpp"
#include "vfsteer/demux/plan.hpp"
#include "vfsteer/policies/policy.hpp"
#include "vfsteer/representors/host_tables.hpp"

namespace vfsteer::engine {

struct HostBindings {
  IfIndex uplinkIfindex;
  std::map<VfIndex, IfIndex> repIfindex;  // VF → its representor
  std::string uplinkName;
  std::map<VfIndex, std::string> repName;
  // The datapath's XDP entry: the mode the profile gives representors, and,
  // per port, what the kernel said that rules XDP out for it as the port a
  // chain's packets enter (a program vfsteer did not attach, no driver
  // XDP) or as a deliver target (cannot take redirected XDP frames).
  policies::HostXdp xdpMode = policies::HostXdp::kNone;
  std::string xdpOff = "XDP is off";  // why, when xdpMode is kNone
  std::map<IfIndex, std::string> noXdpEntry;
  std::map<IfIndex, std::string> noXdpTarget;
  // Per port: the RX metadata fields its XDP entry reads ("rx_hash, ..."),
  // or why it reads none.
  std::map<IfIndex, std::string> rxFields;
  std::map<IfIndex, std::string> noRxMetadata;
};

struct HostProgram {
  representors::HostTables tables;
  std::map<std::string, uint32_t> chainIds;  // chains with host work → counter id
  std::vector<UserProgram> programs;         // bpf stages' programs (object, slot)
  std::map<IfIndex, std::string> attach;     // every port to attach to, and its name
  // NIC continuations: tc chain → the chain id and the stage the host
  // resumes at (entered through vfs_continue in that tc chain).
  struct Continuation {
    uint32_t chainId = 0;
    uint32_t startStage = 0;
    bool operator==(const Continuation&) const = default;
  };
  std::map<uint32_t, Continuation> continuations;
  // Where each chain with host work runs on the host: "xdp" or "tc", and
  // for tc why not XDP.
  struct Hook {
    std::string hook;
    std::string reason;
    std::string rxMetadata;  // for chains whose bpf stages read vfsteer's metadata (SplitReport::Chain)
  };
  std::map<std::string, Hook> hooks;
  std::map<IfIndex, std::string> xdpAttach;  // ports that get the XDP entry, and their names
  policies::HostXdp xdpMode = policies::HostXdp::kNone;
};

// `previous` (may be null) keeps chain ids and program slots stable across
// applies. Fails on what the host datapath cannot hold (too many match
// shapes, stages, tunnel ports) and on a bpf object it cannot read.
Result<HostProgram> buildHostProgram(const policies::Policy& policy, const demux::Plan& plan,
                                     const HostBindings& bindings, const InstanceState* previous);

}  // namespace vfsteer::engine
