// vfsteer report: the split an apply recorded, and what the kernel holds
// now — whether the host datapath is attached where it should be, the NIC
// rules with the in_hw flags the kernel reports (never only what vfsteer
// asked for), and per chain and stage counters. Typed: the CLI renders it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/ports.hpp"
#include "engine/state.hpp"
#include "vfsteer/demux/split_report.hpp"
#include "vfsteer/representors/datapath.hpp"

namespace vfsteer::engine {

struct LiveReport {
  std::string instance;
  demux::SplitReport split;
  bool nicEmulated = false;

  struct Entry {
    std::string device;
    int ifindex = 0;
    bool attached = false;  // vfsteer's filter, running the pinned program
  };
  struct XdpStatus {
    std::string device;
    int ifindex = 0;
    policies::HostXdp mode = policies::HostXdp::kGeneric;
    bool rxMetadata = false;  // the port's own vfs_xdp_rx, not the shared vfs_xdp
    bool attached = false;    // that entry is in the slot (observe found it vfsteer's)
    uint32_t progId = 0;      // the program in the slot, when it is vfsteer's
  };
  struct DatapathStatus {
    std::string pinned;
    bool loaded = false;
    uint32_t generation = 0;
    uint32_t progId = 0;
    uint32_t xdpProgId = 0;
    // How the active generation classifies: "specialized" (code made for
    // the policy, bpf_classifier.hpp) or "tables"; empty when not loaded.
    std::string classifier;
    uint32_t classifierProgId = 0;  // the tc classifier, when specialized
    std::vector<Entry> entries;
    std::vector<XdpStatus> xdp;
  } datapath;
  std::optional<representors::GlobalCounters> totals;  // when the datapath is loaded

  struct DemuxStatus {
    DemuxProgram record;
    bool attached = false;
    bool inHw = false;
  };
  std::optional<DemuxStatus> demuxProgram;

  // Per chain, per NIC rule of the split (same order): what the kernel holds.
  struct NicRuleStatus {
    bool viaProgram = false;  // carried by the demux program, not a flower rule
    bool present = false;
    bool inHw = false;
    uint32_t inHwCount = 0;
    uint64_t packets = 0, bytes = 0;  // the flower rule's first action; see nicCounters
    std::string flowRule;  // engine ntuple: the rule the NIC holds, as `ethtool -N` takes it
  };
  bool nicCounters = true;  // false: the NIC reports none, and the zeros above mean nothing
  std::map<std::string, std::vector<NicRuleStatus>> nicRules;
  std::map<std::string, representors::ChainCounters> counters;  // chains the host runs
};

Result<LiveReport> buildReport(const InstanceState& state, const demux::SplitReport& split, PortFactory& ports);

}  // namespace vfsteer::engine
