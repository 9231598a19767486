// Which kernel driver runs a netdev (the key from a device to its profile).
#pragma once

#include <string>

#include "vfsteer/common/result.hpp"

namespace vfsteer::representors {

// The driver name ethtool reports for `ifname` in the caller's network
// namespace ("mlx5_core", "ice", "veth", "netdevsim"...). Works for virtual
// devices too, which have no sysfs device/driver link.
Result<std::string> driverOf(const std::string& ifname);

}  // namespace vfsteer::representors
