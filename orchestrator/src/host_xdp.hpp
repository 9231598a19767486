// The host datapath's XDP entry (vfs_xdp) on representors: what the kernel
// says about each port, and the changes that put vfsteer's entry exactly
// where the host program wants it. A program vfsteer did not attach is never
// replaced or removed: its port keeps every chain in tc.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "host_program.hpp"
#include "ports.hpp"
#include "state.hpp"
#include "transaction.hpp"
#include "vfsteer/netlink/link.hpp"

namespace vfsteer::orchestrator {

struct XdpPort {
  std::string name;
  uint32_t driverProg = 0;  // program ids in the XDP slots (0: empty)
  uint32_t genericProg = 0;
  uint32_t offloadProg = 0;
  std::optional<uint64_t> features;  // xdp-features; nothing when the kernel does not report them
};

// The XDP slots (rtnetlink) and xdp-features (the netdev generic netlink
// family, Linux 6.3+; `genl` may be null) of `ports` (ifindex → name).
Result<std::map<int, XdpPort>> readXdpPorts(NetlinkPort& route, NetlinkPort* genl,
                                            const std::map<int, std::string>& ports);

// Fills b.noXdpEntry and b.noXdpTarget from what the kernel said. `ours`:
// the id of the pinned vfs_xdp (0 when there is none yet).
void bindXdpPorts(HostBindings& b, const std::map<int, XdpPort>& ports, uint32_t ours);

netlink::link::XdpMode linkMode(policies::HostXdp mode);
uint32_t programIn(const XdpPort& port, policies::HostXdp mode);

// The changes from `now` (as read) and `previous` (the state's record) to
// vfsteer's entry on exactly `want` in `mode`: removals first (native and
// generic cannot share a port), then attachments. `recorded` receives the
// attachments the state should hold once the changes are made.
std::vector<PlannedChange> xdpChanges(NetlinkPort& route, DatapathPort& dp, policies::HostXdp mode,
                                      const std::map<int, std::string>& want, const std::map<int, XdpPort>& now,
                                      const std::vector<XdpAttachment>& previous,
                                      std::vector<XdpAttachment>& recorded);

}  // namespace vfsteer::orchestrator
