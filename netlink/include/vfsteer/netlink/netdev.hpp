// The "netdev" generic netlink family (Linux 6.3+): what XDP a device can
// do. Resolve the family id with devlink::encodeGetFamily(kFamilyName) (the
// generic netlink controller request, whichever family it names).
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

// ynl netdev dev-get --do ifindex N
Message encodeGetDevice(uint16_t family, int ifindex);
Result<uint64_t> decodeXdpFeatures(const RawMessage& msg);

}  // namespace vfsteer::netlink::netdev
