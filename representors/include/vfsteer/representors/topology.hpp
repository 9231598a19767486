// The device vfsteer steers: the PF (uplink), its VFs and their
// representors, where they live and which driver runs them.
//
// Two sources, one result: a topology file (written by `vfsteer lab up`, or
// by an operator for a setup the kernel cannot describe) or the kernel
// itself (devlink ports and sysfs). Everything downstream sees a Topology
// and never asks which source it came from.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vfsteer/common/paths.hpp"
#include "vfsteer/common/result.hpp"

namespace vfsteer::representors {

struct Representor {
  uint16_t vf = 0;
  std::string ifname;    // the representor netdev (host side)
  int ifindex = 0;
  std::string vfNetns;   // where the VF netdev is, when known ("" = unknown)
  std::string vfIfname;
  // From the kernel (empty / 0 for topology files):
  uint32_t devlinkPort = 0;   // devlink port index
  uint16_t pfNumber = 0;
  std::string physPortName;   // "pf0vf3"
  std::string switchId;       // hex; the same for every port of one eswitch
};

struct Topology {
  std::string source;   // "file:PATH" or "kernel"
  std::string netns;    // network namespace of the PF and representors; "" = ours
  std::string pf;
  int pfIfindex = 0;
  std::string driver;
  std::string eswitch;  // "switchdev", "legacy", or "" when unknown
  std::string devlink;  // "bus/device", or "" when the PF has no devlink instance
  std::string switchId; // the PF's phys_switch_id (hex), when it has one
  uint16_t numVfs = 0;
  std::vector<Representor> reps;
  // VF → its own netdev on this host, when a host driver is bound to it
  // (sysfs virtfnN/net; kernel source only). In legacy mode, where there
  // are no representors, a NIC rule reaches a VF through it (ixgbe's u32).
  std::map<uint16_t, std::string> vfNetdevs;

  const Representor* representor(uint16_t vf) const;
  // A name for vfsteer's state and pins: "pf", or "pf:netns" when the PF
  // lives in a named network namespace.
  std::string instance() const;
};

struct DiscoverOptions {
  std::optional<std::string> topologyFile;  // explicit file (--topology)
  std::string topologyDir = paths::topologyDir();  // topology files looked up here
  // The network namespace the PF lives in (policy device.netns, --netns);
  // absent: whichever the topology file says, else this one.
  std::optional<std::string> netns;
};

// Finds the topology of `pf`: an explicit file; else DIR/<netns>/<pf>.json
// or DIR/<pf>.json (a file per namespace lets PFs of one name live in
// several namespaces, as the lab's uplink0 does when several labs are up;
// without a namespace named, a single DIR/*/<pf>.json is taken and several
// are an error asking for one); else the kernel, which vfsteer reads only in
// its own namespace. A file must describe `pf` (and the namespace named).
// Interface indexes are resolved live; a listed interface that does not
// exist is an error naming it.
Result<Topology> discover(const std::string& pf, const DiscoverOptions& options = {});

Result<Topology> loadTopologyFile(const std::string& path);
Status writeTopologyFile(const std::string& path, const Topology& topology);

}  // namespace vfsteer::representors
