// The NIC part of a plan as tc flower filters (profiles whose engine is
// flower): one per NicRule, with skip_sw (the NIC runs it or nobody does),
// on the port the chain's packets enter by — or, without skip_sw, on a
// tunnel device for tunnel chains — with vfsteer's cookie on every action.
// Pure: bindings supply interface indexes.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/objects.hpp"
#include "vfsteer/common/result.hpp"
#include "vfsteer/demux/plan.hpp"
#include "vfsteer/netlink/tc.hpp"
#include "vfsteer/policies/policy.hpp"

namespace vfsteer::engine {

// The tunnel device vfsteer creates for a tunnel type and UDP port
// ("vfs-vx4789", "vfs-gn6081").
TunnelDevice tunnelDeviceFor(policies::TunnelType type, uint16_t port);

struct FlowerBindings {
  IfIndex uplinkIfindex;
  std::string uplinkName;
  std::map<VfIndex, IfIndex> repIfindex;       // VF → its representor
  std::map<VfIndex, std::string> repName;
  std::vector<uint8_t> cookie;                 // ownerCookie(instance)
  bool emulated = false;                       // skip_hw instead of skip_sw
};

// The tunnel devices the plan's NIC rules need.
std::vector<TunnelDevice> tunnelDevicesFor(const policies::Policy& policy, const demux::Plan& plan);

// Filters carry ifindex 0 where a rule sits on a tunnel device: its
// ifindex is known once the device exists.
Result<std::vector<NicRule>> buildFlowerRules(const policies::Policy& policy, const demux::Plan& plan,
                                              const FlowerBindings& bindings);

// True for a rule sent for the NIC (not emulated): the kernel must report
// it in_hw, or the NIC refused it.
inline bool meantForNic(const netlink::tc::Flower& f) { return !(f.flags & netlink::tc::kSkipHw); }
// The same for a filter of any kind (engine u32's rules and links).
inline bool meantForNic(const netlink::tc::Filter& f) { return !(f.flags() & netlink::tc::kSkipHw); }
// Marks a filter the way the kernel reports one it put in hardware.
void markInHw(netlink::tc::Filter& f, bool inHw);

// True when the two flower keys make the same mask: the kernel keeps one
// mask per filter and replaces a filter in place only with another of the
// same mask (EINVAL otherwise, fl_check_assign_mask() in cls_flower.c).
bool sameFlowerMask(const netlink::tc::FlowerKey& a, const netlink::tc::FlowerKey& b);

// True when the two filters configure the same thing (ignoring what the
// kernel adds: handles, ifindexes, action indexes, counters, in_hw flags).
bool sameNicFilter(const netlink::tc::Filter& a, const netlink::tc::Filter& b);

}  // namespace vfsteer::engine
