#include "vfsteer/demux/priority_packing.hpp"

#include <algorithm>
#include <map>
#include <utility>

#include "vfsteer/demux/overlap.hpp"

namespace vfsteer::demux {

using policies::IpVersion;
using policies::Port;

namespace {

// Whether rules for these packet versions can see the same packet: an IPv4
// rule never sees IPv6, a rule that is not IP-specific (kNone) sees both.
bool versionsMeet(IpVersion a, IpVersion b) {
  return a == b || a == IpVersion::kNone || b == IpVersion::kNone;
}

}  // namespace

std::vector<uint16_t> packPriorities(const std::vector<RuleToPack>& rules, int limit) {
  std::vector<uint16_t> out(rules.size(), 0);
  struct Placed {
    OverlapIndex index;
    std::vector<uint16_t> priorityAt;  // per position in `index`
  };
  std::map<std::pair<Port, IpVersion>, Placed> placed;
  std::map<Port, std::vector<uint16_t>> protocolOf;  // per side: each priority's protocol, 0 = free
  for (size_t i = 0; i < rules.size(); ++i) {
    const RuleToPack& r = rules[i];
    uint16_t lowest = 1;
    for (auto& [side, group] : placed)
      if (side.first == r.match->from && versionsMeet(side.second, r.l3))
        for (size_t position : group.index.overlaps(*r.match))
          lowest = std::max<uint16_t>(lowest, group.priorityAt[position] + 1);
    auto& protocols = protocolOf[r.match->from];
    protocols.resize(static_cast<size_t>(limit) + 1, 0);
    uint16_t p = lowest;
    while (p <= limit && protocols[p] != 0 && protocols[p] != r.protocol) ++p;
    if (p > limit) continue;
    protocols[p] = r.protocol;
    out[i] = p;
    Placed& same = placed[{r.match->from, r.l3}];
    same.index.add(*r.match);
    same.priorityAt.push_back(p);
  }
  return out;
}

}  // namespace vfsteer::demux
