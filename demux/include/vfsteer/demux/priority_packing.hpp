// NIC rules packed into the few tc priorities a NIC accepts (profile
// `tc_priorities`; mlx5 without firmware ignore_flow_level takes 1..16).
//
// The NIC orders rules only by tc priority, and tc binds each priority to
// one protocol. So a rule needs a higher priority number than every earlier
// rule (in match order) of the same side that may match the same packets,
// and rules that cannot meet may share a priority: a policy of a thousand
// chains on distinct ports fits in one priority per protocol.
#pragma once

#include <cstdint>
#include <vector>

#include "vfsteer/policies/policy.hpp"

namespace vfsteer::demux {

struct RuleToPack {
  const policies::Match* match;  // the chain's match; must outlive the call
  policies::IpVersion l3;        // the packet version the rule matches
  uint16_t protocol;             // its tc protocol
};

// The tc priority (1..limit) of each rule, given in match order; 0 for a
// rule that would need a priority past `limit`. Rules are compared only with
// rules of the same side whose IP version can meet theirs (an IPv4 rule
// never sees an IPv6 packet; a rule not specific to IP sees both).
std::vector<uint16_t> packPriorities(const std::vector<RuleToPack>& rules, int limit);

}  // namespace vfsteer::demux
