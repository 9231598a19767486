// NIC rules as ethtool flow rules (RXNFC, `ethtool -N DEV flow-type ...
// loc L`), for profiles whose engine is ntuple: ixgbe's and i40e's flow
// director written through ethtool instead of tc.
//
// An ethtool rule has no cookie and no owner: it is a location. vfsteer
// gives each NIC chain one location and remembers it (the engine's state);
// this decides which location. Pure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vfsteer/policies/policy.hpp"

namespace vfsteer::demux {

struct NtupleRule {
  const policies::Match* match;  // must outlive the call
  uint32_t priority;             // the chain's priority (unique: ntuple rules are all on the uplink side)
};

struct NtupleLayout {
  std::vector<uint32_t> locations;  // per rule given: its location (meaningless where whyNot is set)
  std::vector<std::string> whyNot;  // per rule given: why it did not fit (empty if it did)
};

// One location per rule, given in match order, below `locations` (the
// device's count; 0: not stated, any 32-bit location). A rule's location is
// its chain's priority when every priority fits, so that a chain added or
// removed moves no other rule; else rules are numbered 0, 1, ... in match
// order. A rule with no field to match is refused: the flow director would
// take every IPv4 packet of the shared mask's flow type.
NtupleLayout layoutNtuple(const std::vector<NtupleRule>& rules, uint32_t locations);

}  // namespace vfsteer::demux
