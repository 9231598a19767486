// The "netdev" generic netlink family (Linux 6.3+): what XDP a device can
// do. Resolve the family id with encodeGetFamily(kFamilyName) (message.hpp).
#pragma once

#include <cstdint>
#include <optional>

#include "vfsteer/common/result.hpp"
#include "vfsteer/netlink/message.hpp"

namespace vfsteer::netlink::netdev {

inline constexpr const char* kFamilyName = "netdev";

// Bits of the device's xdp-features (uapi linux/netdev.h, enum netdev_xdp_act).
inline constexpr uint64_t kXdpBasic = 1;     // XDP in the driver: drop, pass, tx
inline constexpr uint64_t kXdpRedirect = 2;  // XDP_REDIRECT from its XDP program
inline constexpr uint64_t kXdpNdoXmit = 4;   // takes XDP frames redirected to it

// Bits of the device's xdp-rx-metadata-features (enum netdev_xdp_rx_metadata,
// Linux 6.8+): the XDP RX metadata kfuncs its driver implements
// (xdp_metadata_ops). A kfunc the driver lacks returns -EOPNOTSUPP: the
// kernel resolves each call against these same ops
// (bpf_dev_bound_resolve_kfunc(), kernel/bpf/offload.c).
inline constexpr uint64_t kRxMetadataTimestamp = 1;  // bpf_xdp_metadata_rx_timestamp (6.3+)
inline constexpr uint64_t kRxMetadataHash = 2;       // bpf_xdp_metadata_rx_hash (6.3+)
inline constexpr uint64_t kRxMetadataVlanTag = 4;    // bpf_xdp_metadata_rx_vlan_tag (6.8+)

struct Device {
  int ifindex = 0;
  uint64_t xdpFeatures = 0;
  // Absent before Linux 6.8, which does not say.
  std::optional<uint64_t> xdpRxMetadata;
};

// ynl netdev dev-get --dump: every device of the namespace.
Message encodeDumpDevices(uint16_t family);
Result<Device> decodeDevice(const RawMessage& msg);

}  // namespace vfsteer::netlink::netdev
