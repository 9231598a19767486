#include "vfsteer/demux/overlap.hpp"

#include <algorithm>
#include <iterator>

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
  if ((a.untagged && b.vlan) || (b.untagged && a.vlan)) return true;
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

namespace {

using Fields = std::array<std::optional<uint64_t>, OverlapIndex::kFieldCount>;

std::optional<uint64_t> prefix16(const std::optional<IpPrefix>& p) {
  if (!p || p->length < 16) return std::nullopt;  // too short to tell apart by 16 bits
  return (uint64_t{p->v6} << 16) | (uint64_t{p->addr[0]} << 8) | p->addr[1];
}

// The fields of a match as the packet it describes has them: for a tunnel
// match the inner packet's, plus the tunnel's own.
Fields fieldsOf(const Match& m) {
  Fields f;
  f[OverlapIndex::kDstPort] = m.dstPort;
  f[OverlapIndex::kSrcPort] = m.srcPort;
  f[OverlapIndex::kIpProto] = m.ipProto;
  if (m.vlan && m.vlan->id) f[OverlapIndex::kVlan] = *m.vlan->id;
  if (m.cvlan && m.cvlan->id) f[OverlapIndex::kCvlan] = *m.cvlan->id;
  f[OverlapIndex::kEthertype] = m.ethertype;
  f[OverlapIndex::kDst16] = prefix16(m.dstIp);
  f[OverlapIndex::kSrc16] = prefix16(m.srcIp);
  if (m.tunnel) {
    f[OverlapIndex::kTunnelPort] = m.tunnel->dstPort;
    f[OverlapIndex::kVni] = m.tunnel->vni;
  }
  return f;
}

// A plain match and a tunnel match meet on the tunnel's outer packet: the
// plain match's UDP destination port against the tunnel's port tells them
// apart cheaply (mayOverlap compares the rest).
Fields plainAgainstTunnels(const Match& plain) {
  Fields f;
  f[OverlapIndex::kTunnelPort] = plain.dstPort;
  return f;
}
Fields tunnelAgainstPlain(const Match& tunnelled) {
  Fields f;
  f[OverlapIndex::kDstPort] = tunnelled.tunnel->dstPort;
  return f;
}

}  // namespace

void OverlapIndex::Table::add(size_t position, const Match& m) {
  all.push_back(position);
  const Fields f = fieldsOf(m);
  for (size_t i = 0; i < kFieldCount; ++i) {
    if (f[i]) exact[i][*f[i]].push_back(position);
    else wild[i].push_back(position);
  }
}

std::vector<size_t> OverlapIndex::Table::candidates(const Fields& query) const {
  // The field with the fewest candidates: those with its value, and those
  // without the field at all.
  const std::vector<size_t>* bestExact = nullptr;
  const std::vector<size_t>* bestWild = nullptr;
  size_t best = all.size();
  static const std::vector<size_t> none;
  for (size_t i = 0; i < kFieldCount; ++i) {
    if (!query[i]) continue;
    auto it = exact[i].find(*query[i]);
    const std::vector<size_t>& e = it == exact[i].end() ? none : it->second;
    if (e.size() + wild[i].size() < best) {
      best = e.size() + wild[i].size();
      bestExact = &e;
      bestWild = &wild[i];
    }
  }
  if (!bestExact) return all;
  std::vector<size_t> out;
  out.reserve(best);
  std::merge(bestExact->begin(), bestExact->end(), bestWild->begin(), bestWild->end(), std::back_inserter(out));
  return out;
}

void OverlapIndex::add(const Match& m) {
  (m.tunnel ? tunnel_ : plain_).add(matches_.size(), m);
  matches_.push_back(&m);
}

std::array<OverlapIndex::Query, 2> OverlapIndex::queriesFor(const Match& m) const {
  if (m.tunnel) return {Query{&tunnel_, fieldsOf(m)}, Query{&plain_, tunnelAgainstPlain(m)}};
  return {Query{&plain_, fieldsOf(m)}, Query{&tunnel_, plainAgainstTunnels(m)}};
}

std::optional<size_t> OverlapIndex::firstOverlap(const Match& m) const {
  std::optional<size_t> first;
  for (const Query& q : queriesFor(m)) {
    for (size_t position : q.table->candidates(q.fields)) {
      if (first && position > *first) break;
      if (mayOverlap(*matches_[position], m)) {
        first = position;
        break;
      }
    }
  }
  return first;
}

std::vector<size_t> OverlapIndex::overlaps(const Match& m) const {
  std::vector<size_t> out;
  for (const Query& q : queriesFor(m))
    for (size_t position : q.table->candidates(q.fields))
      if (mayOverlap(*matches_[position], m)) out.push_back(position);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace vfsteer::demux
