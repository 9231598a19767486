// VF provisioning: sriov_numvfs, the eswitch mode (in the order the profile
// says the driver needs), and per-VF settings (MAC, VLAN, trust, spoofchk,
// link state, rates: rtnetlink in legacy mode, devlink port function rate in
// switchdev mode where the profile says so). Each change carries its undo.
#pragma once

#include <map>
#include <optional>
#include <vector>

#include "ports.hpp"
#include "transaction.hpp"
#include "vfsteer/netlink/devlink.hpp"
#include "vfsteer/netlink/link.hpp"
#include "vfsteer/policies/policy.hpp"
#include "vfsteer/policies/profile.hpp"
#include "vfsteer/representors/topology.hpp"

namespace vfsteer::orchestrator {

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

// The changes that take the device from `now` to what the policy declares.
// Fails (changing nothing) when the policy asks for what the device cannot
// do (an eswitch mode without devlink, VFs on a PF without SR-IOV).
Result<std::vector<PlannedChange>> provisioningChanges(const policies::Policy& policy,
                                                       const policies::Profile& profile,
                                                       const representors::Topology& topology,
                                                       const DeviceState& now, ProvisionPorts& ports);

}  // namespace vfsteer::orchestrator
