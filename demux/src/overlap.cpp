#include "vfsteer/demux/overlap.hpp"

namespace vfsteer::demux {

using namespace policies;

namespace {

template <class T>
bool differ(const std::optional<T>& a, const std::optional<T>& b) {
  return a && b && *a != *b;
}

bool macDisjoint(const std::optional<MacMatch>& a, const std::optional<MacMatch>& b) {
  if (!a || !b) return false;
  for (size_t i = 0; i < 6; ++i)
    if ((a->addr.bytes[i] ^ b->addr.bytes[i]) & a->mask.bytes[i] & b->mask.bytes[i]) return true;
  return false;
}

bool prefixDisjoint(const std::optional<IpPrefix>& a, const std::optional<IpPrefix>& b) {
  return a && b && !a->overlaps(*b);
}

bool vlanDisjoint(const std::optional<VlanMatch>& a, const std::optional<VlanMatch>& b) {
  if (!a || !b) return false;
  return a->proto != b->proto || differ(a->id, b->id) || differ(a->prio, b->prio);
}

bool l3Disjoint(const Match& a, const Match& b) {
  if (differ(a.ethertype, b.ethertype)) return true;
  if (a.ethertype && b.ipVersion != IpVersion::kNone) return true;
  if (b.ethertype && a.ipVersion != IpVersion::kNone) return true;
  auto v4v6 = [](IpVersion x, IpVersion y) {
    return (x == IpVersion::kV4 && y == IpVersion::kV6) ||
           (x == IpVersion::kV6 && y == IpVersion::kV4);
  };
  return v4v6(a.ipVersion, b.ipVersion);
}

// The L2..L4 keys of two matches describing the same frame.
bool frameDisjoint(const Match& a, const Match& b) {
  return macDisjoint(a.srcMac, b.srcMac) || macDisjoint(a.dstMac, b.dstMac) ||
         vlanDisjoint(a.vlan, b.vlan) || vlanDisjoint(a.cvlan, b.cvlan) || l3Disjoint(a, b) ||
         prefixDisjoint(a.srcIp, b.srcIp) || prefixDisjoint(a.dstIp, b.dstIp) ||
         differ(a.ipProto, b.ipProto) || differ(a.srcPort, b.srcPort) ||
         differ(a.dstPort, b.dstPort);
}

// `plain` describes the outer frame of the packets `tunnelled` selects: IP,
// UDP to the tunnel port, between the tunnel's outer addresses.
bool outerDisjoint(const Match& plain, const TunnelMatch& t) {
  if (plain.ethertype) return true;
  if (plain.ipProto && *plain.ipProto != 17) return true;
  if (plain.dstPort && *plain.dstPort != t.dstPort) return true;
  if (prefixDisjoint(plain.srcIp, t.srcIp) || prefixDisjoint(plain.dstIp, t.dstIp)) return true;
  const auto& outer = t.dstIp ? t.dstIp : t.srcIp;
  if (outer) {
    if (plain.ipVersion == IpVersion::kV4 && outer->v6) return true;
    if (plain.ipVersion == IpVersion::kV6 && !outer->v6) return true;
  }
  return false;
}

}  // namespace

bool mayOverlap(const Match& a, const Match& b) {
  if (a.from != b.from) return false;
  if (a.tunnel && b.tunnel) {
    const TunnelMatch& x = *a.tunnel;
    const TunnelMatch& y = *b.tunnel;
    if (x.type != y.type || x.dstPort != y.dstPort || differ(x.vni, y.vni) ||
        prefixDisjoint(x.srcIp, y.srcIp) || prefixDisjoint(x.dstIp, y.dstIp))
      return false;
    return !frameDisjoint(a, b);
  }
  if (a.tunnel) return !outerDisjoint(b, *a.tunnel);
  if (b.tunnel) return !outerDisjoint(a, *b.tunnel);
  return !frameDisjoint(a, b);
}

}  // namespace vfsteer::demux
