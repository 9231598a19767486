// The NIC part of a plan as tc flower filters: one per NicRule, with
// skip_sw (the NIC runs it or nobody does), on the port the chain's packets
// enter by, with vfsteer's cookie on every action. Pure: bindings supply
// interface indexes.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ports.hpp"
#include "vfsteer/common/result.hpp"
#include "vfsteer/demux/plan.hpp"
#include "vfsteer/netlink/tc.hpp"
#include "vfsteer/policies/policy.hpp"

namespace vfsteer::orchestrator {

// The 8-byte cookie on every action vfsteer installs for `instance`: "vfst"
// and a hash of the instance name. A filter is vfsteer's only if its
// priority is in vfsteer's range and its actions carry this cookie.
std::vector<uint8_t> ownerCookie(const std::string& instance);

// A tunnel device vfsteer creates for tunnel chains' NIC rules
// ("vfs-vx4789", "vfs-gn6081").
struct TunnelDevice {
  policies::TunnelType type;
  uint16_t port;
  std::string name() const;
  auto operator<=>(const TunnelDevice&) const = default;
};

struct NicBindings {
  int uplinkIfindex = 0;
  std::map<uint16_t, int> repIfindex;
  std::map<TunnelDevice, int> tunnelIfindex;  // filled once the devices exist
  std::map<int, std::string> names;           // ifindex → name, for messages
};

struct NicFilter {
  size_t chain = 0;  // index into the policy's chains
  std::string device;
  netlink::tc::Filter filter;
};

// The tunnel devices the plan's NIC rules need.
std::vector<TunnelDevice> tunnelDevicesFor(const policies::Policy& policy, const demux::Plan& plan);

Result<std::vector<NicFilter>> buildFlowerRules(const policies::Policy& policy, const demux::Plan& plan,
                                                const NicBindings& bindings,
                                                const std::vector<uint8_t>& cookie);

// vfsteer's NIC filters on `ifindex` (flower, owned priority, our cookie).
Result<std::vector<netlink::tc::Filter>> ownedNicFilters(NetlinkPort& nl, int ifindex,
                                                         const std::vector<uint8_t>& cookie);

// True when the two filters configure the same thing (ignoring what the
// kernel adds: handles, action indexes, counters, in_hw flags).
bool sameNicFilter(const netlink::tc::Filter& a, const netlink::tc::Filter& b);

}  // namespace vfsteer::orchestrator
