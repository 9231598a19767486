// The NIC's RX flow classification rules, as `ethtool -n` lists them.
// ethtool's RXNFC interface is an ioctl (SIOCETHTOOL): up to Linux 6.12 no
// ethtool netlink command lists or writes flow rules.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vfsteer/common/result.hpp"

namespace vfsteer::netlink::rxnfc {

// The locations of the flow rules the driver of `ifname` reports
// (ETHTOOL_GRXCLSRLCNT, then ETHTOOL_GRXCLSRLALL), asked through `fd`: a
// socket of the network namespace the device is in. Empty when the driver
// keeps no flow rules (EOPNOTSUPP). On ixgbe the list holds every flow
// director filter, tc u32's included.
Result<std::vector<uint32_t>> ruleLocations(int fd, const std::string& ifname);

}  // namespace vfsteer::netlink::rxnfc
