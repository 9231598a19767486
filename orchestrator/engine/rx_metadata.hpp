// NIC metadata for host programs: which XDP RX metadata fields (RX hash,
// timestamp, VLAN tag) each port's driver supplies, as the kernel says, and
// where that disagrees with the profile's `metadata:` claims.
//
// The kernel resolves each metadata kfunc call of a device-bound XDP program
// against the device's xdp_metadata_ops; a kfunc the driver lacks returns
// -EOPNOTSUPP (bpf_dev_bound_resolve_kfunc(), kernel/bpf/offload.c). Since
// Linux 6.8 the netdev family reports those same ops per device
// (xdp-rx-metadata-features, netdev_nl_dev_fill()), so reading it is the
// probe: no program is loaded and no frame is needed.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "engine/requests.hpp"
#include "vfsteer/policies/profile.hpp"
#include "vfsteer/representors/topology.hpp"

namespace vfsteer::engine {

// In this order: the values index rx_metadata.cpp's table of facts.
enum class RxField { kHash, kTimestamp, kVlanTag };
inline constexpr std::array kRxFields = {RxField::kHash, RxField::kTimestamp, RxField::kVlanTag};
// The profile's key for the field: "rx_hash", "rx_timestamp", "vlan_tag".
std::string_view name(RxField f);
// The kfunc that reads it, e.g. "bpf_xdp_metadata_rx_hash".
std::string_view kfuncOf(RxField f);

enum class Supply { kYes, kNo, kUnknown };
std::string_view name(Supply s);  // "yes", "no", "unknown"

struct FieldSupply {
  RxField field = RxField::kHash;
  Supply supply = Supply::kUnknown;
  std::string reason;  // why, in the kernel's terms
};

struct PortRxMetadata {
  std::string port;  // netdev name
  std::string role;  // "uplink" or "vf N representor"
  bool uplink = false;  // the PF's own netdev
  int ifindex = 0;
  std::vector<FieldSupply> fields;  // in kRxFields order
};

// Pure: what each port of `t` supplies according to `devices`
// (readNetdevDevices() in the topology's namespace).
std::vector<PortRxMetadata> rxMetadataOf(const representors::Topology& t, const NetdevDevices& devices);

// A field the profile claims for the PF's netdev that the kernel says it
// does not supply, or the converse. The claims describe the PF's own
// netdev (where frames from the wire arrive), not the representors.
struct RxDisagreement {
  std::string port;
  RxField field = RxField::kHash;
  bool claimed = false;
  Supply found = Supply::kUnknown;
  std::string message;
};
std::vector<RxDisagreement> rxDisagreements(const std::vector<PortRxMetadata>& ports, const policies::Profile& profile);

}  // namespace vfsteer::engine
