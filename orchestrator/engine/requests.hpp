// Single netlink requests through a port, for the few exchanges that are
// not batched: reads that one answer depends on, and a lone change.
#pragma once

#include <string>
#include <vector>

#include "engine/ports.hpp"

namespace vfsteer::engine {

// Runs one request; its kernel error (errno, extack text, attribute) is the
// result, with `what` as the message.
Status runOne(NetlinkPort& nl, netlink::Message m, const std::string& what);
// Runs one GET request: the kernel's error or its replies.
Result<std::vector<netlink::RawMessage>> requestOne(NetlinkPort& nl, netlink::Message m);

}  // namespace vfsteer::engine
