// The NIC part of a plan as ethtool flow rules (profiles whose engine is
// ntuple): one rule per NIC chain at the location the planner gave it
// (ntuple_layout.hpp), on the PF. A VF is named by its number (ethtool's
// `vf N`), so it needs no netdev on the host. Pure.
#pragma once

#include <compare>
#include <string>
#include <vector>

#include "engine/objects.hpp"
#include "vfsteer/common/result.hpp"
#include "vfsteer/demux/plan.hpp"
#include "vfsteer/policies/policy.hpp"

namespace vfsteer::engine {

Result<std::vector<FlowRule>> buildFlowRules(const policies::Policy& policy, const demux::Plan& plan,
                                             const std::string& pf);

// The fields a flow director compares for `rule` and their masks: a
// flow director keeps one such mask for all its rules (ixgbe's fdir_mask).
struct FlowRuleMask {
  bool l4 = false;  // tcp4/udp4 (an ip4 rule without a protocol ignores the L4 type)
  uint32_t srcIp = 0, dstIp = 0;
  uint16_t srcPort = 0, dstPort = 0;
  auto operator<=>(const FlowRuleMask&) const = default;
};
FlowRuleMask maskOf(const netlink::rxnfc::FlowRule& rule);

}  // namespace vfsteer::engine
