// Single netlink requests through a port, for the few exchanges that are
// not batched: reads that one answer depends on, and a lone change.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/ports.hpp"
#include "vfsteer/netlink/netdev.hpp"

namespace vfsteer::engine {

// Runs one request; its kernel error (errno, extack text, attribute) is the
// result, with `what` as the message.
Status runOne(NetlinkPort& nl, netlink::Message m, const std::string& what);
// Runs one GET request: the kernel's error or its replies.
Result<std::vector<netlink::RawMessage>> requestOne(NetlinkPort& nl, netlink::Message m);

// The netdev family's view of the devices (xdp-features, XDP RX metadata);
// nullopt when the kernel has no such family (before Linux 6.3).
using NetdevDevices = std::optional<std::vector<netlink::netdev::Device>>;
Result<NetdevDevices> readNetdevDevices(NetlinkPort& genl);

}  // namespace vfsteer::engine
