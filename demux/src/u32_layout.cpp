#include "vfsteer/demux/u32_layout.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace vfsteer::demux {

using policies::IpPrefix;
using policies::Match;

std::string MatchMask::str() const {
  std::string out;
  auto add = [&](const std::string& word) { out += (out.empty() ? "" : ", ") + word; };
  if (srcIpBits >= 0) add("src_ip /" + std::to_string(srcIpBits));
  if (dstIpBits >= 0) add("dst_ip /" + std::to_string(dstIpBits));
  if (ipProto) add("ip_proto");
  if (srcPort) add("src_port");
  if (dstPort) add("dst_port");
  return out.empty() ? "no fields" : out;
}

MatchMask matchMask(const Match& m) {
  MatchMask mask;
  if (m.srcIp) mask.srcIpBits = m.srcIp->length;
  if (m.dstIp) mask.dstIpBits = m.dstIp->length;
  mask.ipProto = m.ipProto.has_value();
  mask.srcPort = m.srcPort.has_value();
  mask.dstPort = m.dstPort.has_value();
  return mask;
}

namespace {

// What a link matches: the IP addresses and the protocol.
using LinkKey = std::tuple<std::optional<IpPrefix>, std::optional<IpPrefix>, uint8_t>;

}  // namespace

U32Layout layoutU32(const std::vector<U32Rule>& rules, int linkTables) {
  U32Layout out;
  out.handles.assign(rules.size(), 0);
  out.whyNot.assign(rules.size(), "");
  const uint32_t tables = linkTables > 0 ? static_cast<uint32_t>(linkTables) : 0xffe;
  // Rules take their chain's priority as node number when every one fits
  // below the links: then adding or removing a chain moves no other rule.
  std::set<LinkKey> groups;
  std::set<uint32_t> priorities;
  for (const auto& r : rules) {
    if (r.match->ipProto) groups.insert({r.match->srcIp, r.match->dstIp, *r.match->ipProto});
    priorities.insert(r.priority);
  }
  const uint32_t linkNodes = std::min<uint32_t>(static_cast<uint32_t>(groups.size()), tables);
  const bool byPriority = priorities.size() == rules.size() &&
                          (priorities.empty() || *priorities.rbegin() + linkNodes <= kU32LastNode);
  std::map<LinkKey, uint32_t> tableOf;
  uint32_t nextNode = 1, highestNode = 0;
  for (size_t i = 0; i < rules.size(); ++i) {
    const Match& m = *rules[i].match;
    if (!m.srcIp && !m.dstIp && !m.ipProto) {
      // ixgbe writes a rule without fields as one that takes every IPv4
      // packet of the shared mask's flow type (ixgbe_clsu32_build_input).
      out.whyNot[i] = "a flow director rule needs an IPv4 address or a protocol to match";
      continue;
    }
    const uint32_t node = byPriority ? rules[i].priority : nextNode;
    uint32_t table = kU32RootTable;
    if (m.ipProto) {
      const LinkKey key{m.srcIp, m.dstIp, *m.ipProto};
      auto it = tableOf.find(key);
      if (it == tableOf.end()) {
        const uint32_t t = static_cast<uint32_t>(tableOf.size()) + 1;
        if (t > tables || kU32LastNode + 1 - t <= std::max(highestNode, node)) {
          out.whyNot[i] = "a protocol match needs a u32 table of its own per IP match, and the " +
                          std::to_string(tables) + " tables the device takes are used by earlier chains";
          continue;
        }
        it = tableOf.emplace(key, t).first;
        out.links.push_back({t, kU32LastNode + 1 - t, rules[i].chain});
      }
      table = it->second;
    }
    if (node > kU32LastNode - out.links.size()) {
      out.whyNot[i] = "the device's " + std::to_string(kU32LastNode) + " rule locations are used";
      continue;
    }
    if (!byPriority) ++nextNode;
    highestNode = std::max(highestNode, node);
    out.handles[i] = u32NodeHandle(table, node);
  }
  return out;
}

}  // namespace vfsteer::demux
