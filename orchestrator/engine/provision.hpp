// VF provisioning: sriov_numvfs, the eswitch mode (in the order the profile
// says the driver needs), and per-VF settings (MAC, VLAN, trust, spoofchk,
// link state, rates: rtnetlink in legacy mode, devlink port function rate in
// switchdev mode where the profile says so). Each change carries its undo.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "engine/ports.hpp"
#include "vfsteer/netlink/devlink.hpp"
#include "vfsteer/netlink/link.hpp"
#include "vfsteer/policies/policy.hpp"
#include "vfsteer/policies/profile.hpp"
#include "vfsteer/representors/topology.hpp"

namespace vfsteer::engine {

struct DeviceState {
  bool sriov = false;  // the PF can have VFs (sriov_numvfs exists)
  uint16_t numVfs = 0;
  std::optional<netlink::devlink::EswitchMode> eswitch;  // unknown without devlink
  std::map<uint16_t, netlink::link::VfInfo> vfs;          // by VF number
  std::map<uint16_t, netlink::devlink::Rate> vfRates;     // devlink leaf rates by VF number
};

struct ProvisionPorts {
  NetlinkPort& route;     // rtnetlink in the PF's namespace
  NetlinkPort* devlink;   // generic netlink, or null when the PF has no devlink
  uint16_t devlinkFamily = 0;
  DevicePort& device;
};

Result<uint16_t> resolveDevlinkFamily(NetlinkPort& genl);

Result<DeviceState> observeDevice(const representors::Topology& topology, ProvisionPorts& ports);

// One provisioning change, with what it replaces (its undo).
struct SetNumVfs {
  std::string pf;
  uint16_t to = 0, from = 0;
};
struct SetEswitch {
  netlink::devlink::Handle handle;
  netlink::devlink::EswitchMode to{}, from{};
};
// One VF setting per request: the kernel applies a request's settings in
// turn and stops at the first it refuses, so a combined request could fail
// half done; one by one, each success has its own undo.
struct SetVf {
  std::string pf;
  int pfIfindex = 0;
  netlink::link::VfConfig to;
  std::optional<netlink::link::VfConfig> from;  // nothing: no undo (a VF that was just created)
};
struct SetVfRate {
  netlink::devlink::Handle handle;
  uint16_t vf = 0;
  uint64_t share = 0, max = 0;          // bytes/s
  uint64_t fromShare = 0, fromMax = 0;
};
using DeviceChange = std::variant<SetNumVfs, SetEswitch, SetVf, SetVfRate>;

std::string describe(const DeviceChange& change);
// Makes the change; `undo` makes its inverse instead.
Status applyDeviceChange(const DeviceChange& change, ProvisionPorts& ports, bool undo = false);

// The changes that take the device from `now` to what the policy declares,
// in the order the profile says the driver needs. Pure. Fails (changing
// nothing) when the policy asks for what the device cannot do (an eswitch
// mode without devlink, VFs on a PF without SR-IOV).
Result<std::vector<DeviceChange>> provisioningChanges(const policies::Policy& policy,
                                                      const policies::Profile& profile,
                                                      const representors::Topology& topology,
                                                      const DeviceState& now, bool devlinkAvailable);

}  // namespace vfsteer::engine
