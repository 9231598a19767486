// The "netdev" generic netlink family (Linux 6.3+): what XDP a device can
// do. Resolve the family id with encodeGetFamily(kFamilyName) (message.hpp).
#pragma once

#include <cstdint>

#include "vfsteer/common/result.hpp"
#include "vfsteer/netlink/message.hpp"

namespace vfsteer::netlink::netdev {

inline constexpr const char* kFamilyName = "netdev";

// Bits of the device's xdp-features (uapi linux/netdev.h, enum netdev_xdp_act).
inline constexpr uint64_t kXdpBasic = 1;     // XDP in the driver: drop, pass, tx
inline constexpr uint64_t kXdpRedirect = 2;  // XDP_REDIRECT from its XDP program
inline constexpr uint64_t kXdpNdoXmit = 4;   // takes XDP frames redirected to it

struct Device {
  int ifindex = 0;
  uint64_t xdpFeatures = 0;
};

// ynl netdev dev-get --dump: every device of the namespace.
Message encodeDumpDevices(uint16_t family);
Result<Device> decodeDevice(const RawMessage& msg);

}  // namespace vfsteer::netlink::netdev
