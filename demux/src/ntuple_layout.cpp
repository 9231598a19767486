#include "vfsteer/demux/ntuple_layout.hpp"

#include <set>

namespace vfsteer::demux {

NtupleLayout layoutNtuple(const std::vector<NtupleRule>& rules, uint32_t locations) {
  NtupleLayout out;
  out.locations.assign(rules.size(), 0);
  out.whyNot.assign(rules.size(), "");
  std::set<uint32_t> priorities;
  for (const auto& r : rules) priorities.insert(r.priority);
  const bool byPriority =
      priorities.size() == rules.size() && (locations == 0 || priorities.empty() || *priorities.rbegin() < locations);
  uint32_t next = 0;
  for (size_t i = 0; i < rules.size(); ++i) {
    const policies::Match& m = *rules[i].match;
    if (!m.srcIp && !m.dstIp && !m.ipProto) {
      out.whyNot[i] = "a flow director rule needs an IPv4 address or a protocol to match";
      continue;
    }
    const uint32_t location = byPriority ? rules[i].priority : next;
    if (locations != 0 && location >= locations) {
      out.whyNot[i] = "the device's " + std::to_string(locations) + " flow rule locations are used";
      continue;
    }
    if (!byPriority) ++next;
    out.locations[i] = location;
  }
  return out;
}

}  // namespace vfsteer::demux
