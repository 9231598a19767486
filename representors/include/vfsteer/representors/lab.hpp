// The built-in lab: network namespaces and veth pairs that stand in for a
// switchdev NIC, so vfsteer can be watched at work on any Linux machine.
//
//   vfs-wire:  wire0          (the outside network)
//                 |
//   vfs-host:  uplink0        (uplink representor)   pf0vf0 ... pf0vf{N-1}
//                                                       |          |
//   vfs-vfK:                                           vf0        vf{N-1}
//
// `lab up` writes a topology file for uplink0, which discovery reads like
// any other topology file; nothing else in vfsteer knows the lab exists.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "vfsteer/common/paths.hpp"
#include "vfsteer/common/result.hpp"
#include "vfsteer/representors/topology.hpp"

namespace vfsteer::representors::lab {

inline constexpr const char* kWireNetns = "vfs-wire";
inline constexpr const char* kHostNetns = "vfs-host";
inline constexpr const char* kWire = "wire0";
inline constexpr const char* kUplink = "uplink0";
inline constexpr int kMaxVfs = 64;

std::string vfNetns(int vf);       // "vfs-vf<K>"
std::string vfIfname(int vf);      // "vf<K>"
std::string repIfname(int vf);     // "pf0vf<K>"
// Fixed MAC addresses, so that examples and tests can address VFs.
std::array<uint8_t, 6> vfMac(int vf);      // 02:00:00:00:00:1K (K < 16 hex digit), ...
std::array<uint8_t, 6> wireMac();           // 02:00:00:00:00:fe
std::array<uint8_t, 6> uplinkMac();         // 02:00:00:00:00:ff

struct Paths {
  std::string stateFile = paths::labFile();
  std::string topologyDir = paths::topologyDir();
};

struct LabState {
  bool up = false;
  int vfs = 0;
  std::vector<std::string> namespaces;  // the ones the lab made
  std::vector<std::string> missing;     // made by the lab but gone now
};

// Creates the lab with `vfs` VFs. Fails (changing nothing) if it is up
// already or if any of its namespaces exists.
Status up(int vfs, const Paths& paths = {});
// Removes what `up` made and nothing else. Succeeds when the lab is down.
Status down(const Paths& paths = {});
Result<LabState> status(const Paths& paths = {});

}  // namespace vfsteer::representors::lab
