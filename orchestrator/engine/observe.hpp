// observe: what the kernel holds, read with one dump per kind (links,
// qdiscs, the netdev family) and one filter dump per device that has a
// clsact qdisc, decoded into typed objects. This is the one place that
// decides which objects are vfsteer's:
//   - filters by their mark: the host entry and continuations by priority,
//     handle and name; the demux program's cls_bpf likewise; flower rules by
//     priority range and the instance's action cookie;
//   - the XDP entry by the pinned vfs_xdp's program id;
//   - what carries no mark (clsact qdiscs, tunnel devices, an XDP-offloaded
//     demux program, bpf stage programs) by vfsteer's records: the state of
//     the last apply and the journal of an interrupted one.
// For engine u32 it also lists the PF's ethtool flow rule locations, which
// are not marked at all (reconcile tells vfsteer's from others').
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/objects.hpp"
#include "engine/ports.hpp"
#include "engine/state.hpp"

namespace vfsteer::engine {

// What vfsteer's records say it made (state and journal together).
struct OwnershipRecords {
  std::set<std::string> clsact;         // devices whose clsact vfsteer added
  std::set<std::string> tunnelDevices;  // tunnel devices vfsteer created
  // Demux programs vfsteer attached: for XDP offload the program id is the
  // only mark; the fingerprint says which rules it carries.
  std::vector<DemuxProgram> demuxPrograms;
  std::map<uint32_t, UserProgram> userPrograms;  // by slot
  FlowRuleRecords flowRules;  // the flow rules it wrote, by device and location
};

// The records of the last apply's state and an interrupted apply's journal
// (either may be missing), together.
OwnershipRecords recordsOf(const InstanceState* state, const Journal* journal);

struct ObserveScope {
  std::string instance;
  // Devices to read tc and XDP state of; with `everyDevice`, every link of
  // the namespace (teardown: vfsteer's filters are found without a record).
  std::set<std::string> devices;
  bool everyDevice = false;
  bool xdpFeatures = false;  // also ask the netdev family (native XDP)
  bool tables = true;        // read the active host tables (a report needs only counters)
  // Devices whose ethtool flow rules to list (with those records name).
  std::set<std::string> flowRuleDevices;
  OwnershipRecords records;
};

struct ObservePorts {
  NetlinkPort& route;
  NetlinkPort* genl = nullptr;  // for xdp-features; may be null
  DatapathPort& datapath;
  EthtoolPort* ethtool = nullptr;  // for flow rules; may be null when there are none to read
};

Result<ObservedState> observe(const ObserveScope& scope, ObservePorts& ports);

// The tunnel device names vfsteer uses ("vfs-vx4789", "vfs-gn6081").
bool isTunnelDeviceName(const std::string& name);

}  // namespace vfsteer::engine
