// The NIC part of a plan as tc u32 filters (profiles whose engine is u32,
// ixgbe's flow director), laid out as demux/u32_layout.hpp says: the
// tables, the links from the root table into them, and one rule per chain,
// all at priority kU32Priority on the PF's ingress with skip_sw (skip_hw
// when emulated). Rules carry vfsteer's cookie on their action; tables and
// links have no actions to carry one. Pure: bindings supply ifindexes.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/objects.hpp"
#include "vfsteer/common/result.hpp"
#include "vfsteer/demux/plan.hpp"
#include "vfsteer/netlink/tc.hpp"
#include "vfsteer/policies/policy.hpp"
#include "vfsteer/representors/topology.hpp"

namespace vfsteer::engine {

struct U32Bindings {
  IfIndex pfIfindex;
  std::string pfName;
  // VF → the netdev a redirect reaches it by: in legacy mode the VF's own
  // netdev (bound to a host driver, as ixgbe's handle_redirect_action()
  // requires); with representors (the lab, emulation) its representor.
  std::map<VfIndex, IfIndex> vfIfindex;
  std::vector<uint8_t> cookie;  // ownerCookie(instance)
  bool emulated = false;        // skip_hw instead of skip_sw
};

// In the order they must be created (removal runs the other way).
struct U32Filters {
  std::vector<netlink::tc::Filter> tables;
  std::vector<netlink::tc::Filter> links;
  std::vector<NicRule> rules;
};

// The netdev a NIC rule reaches VF `vf` by: its representor where it has
// one, else its own netdev (legacy mode).
std::optional<std::string> vfNetdevName(const representors::Topology& topology, uint16_t vf);

// True when two u32 filters (rule, link or table) configure the same thing,
// ignoring what the kernel adds (in_hw flags, action indexes, counters) and
// the table it names in a dump (the handle holds it).
bool sameU32Filter(const netlink::tc::Filter& a, const netlink::tc::Filter& b);

Result<U32Filters> buildU32Filters(const policies::Policy& policy, const demux::Plan& plan, const U32Bindings& b);

}  // namespace vfsteer::engine
