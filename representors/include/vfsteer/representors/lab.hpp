// The built-in lab: network namespaces and veth pairs that stand in for a
// switchdev NIC, so vfsteer can be watched at work on any Linux machine.
//
//   NAME-wire:  wire0          (the outside network)
//                 |
//   NAME-host:  uplink0        (uplink representor)   pf0vf0 ... pf0vf{N-1}
//                                                        |          |
//   NAME-vfK:                                           vf0        vf{N-1}
//
// NAME is "vfs" unless `lab up --name` says otherwise; labs of different
// names live side by side (the tests make their own beside a user's).
// `lab up` writes a topology file for uplink0 in NAME-host, which discovery
// reads like any other topology file; nothing else in vfsteer knows the lab
// exists.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "vfsteer/common/paths.hpp"
#include "vfsteer/common/result.hpp"
#include "vfsteer/representors/topology.hpp"

namespace vfsteer::representors::lab {

inline constexpr const char* kDefaultName = "vfs";
inline constexpr size_t kMaxNameLength = 32;
inline constexpr const char* kWire = "wire0";
inline constexpr const char* kUplink = "uplink0";
inline constexpr int kMaxVfs = 64;

// A lab name: 1-32 letters, digits, '-' or '_' (it prefixes namespace
// names and names a file). The error says what was wrong and gives an example.
Status checkName(const std::string& name);

std::string vfIfname(int vf);      // "vf<K>"
std::string repIfname(int vf);     // "pf0vf<K>"
// Fixed MAC addresses, so that examples and tests can address VFs.
std::array<uint8_t, 6> vfMac(int vf);      // 02:00:00:00:00:1K (K < 16 hex digit), ...
std::array<uint8_t, 6> wireMac();           // 02:00:00:00:00:fe
std::array<uint8_t, 6> uplinkMac();         // 02:00:00:00:00:ff

// One lab: its name and where its files go.
struct Lab {
  std::string name = kDefaultName;
  std::string stateRoot = paths::kStateRoot;

  std::string wireNetns() const { return name + "-wire"; }
  std::string hostNetns() const { return name + "-host"; }
  std::string vfNetns(int vf) const { return name + "-vf" + std::to_string(vf); }
  // The vfsteer instance of the lab's uplink ("uplink0:NAME-host").
  std::string instance() const { return std::string(kUplink) + ":" + hostNetns(); }
  std::string stateFile() const { return paths::labFile(name, stateRoot); }
  // TOPOLOGY_DIR/NAME-host/uplink0.json: a file per namespace, so labs of
  // different names each describe their own uplink0.
  std::string topologyFile() const {
    return paths::topologyDir(stateRoot) + "/" + hostNetns() + "/" + kUplink + ".json";
  }
};

struct LabState {
  bool up = false;
  int vfs = 0;
  std::vector<std::string> namespaces;  // the ones the lab made
  std::vector<std::string> missing;     // made by the lab but gone now
};

// Creates the lab with `vfs` VFs. Fails (changing nothing) if it is up
// already or if any of its namespaces exists.
Status up(const Lab& lab, int vfs);
// Removes what `up` made and nothing else. Succeeds when the lab is down.
Status down(const Lab& lab);
Result<LabState> status(const Lab& lab);

}  // namespace vfsteer::representors::lab
