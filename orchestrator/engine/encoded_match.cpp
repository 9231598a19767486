#include "engine/encoded_match.hpp"

#include <linux/if_ether.h>

#include <algorithm>

namespace vfsteer::engine {

using namespace policies;

namespace {

EncodedPrefix prefix(const IpPrefix& p) {
  EncodedPrefix out;
  out.v6 = p.v6;
  for (int i = 0; i < p.length; ++i) out.bits.mask[i / 8] |= static_cast<uint8_t>(0x80 >> (i % 8));
  for (size_t i = 0; i < 16; ++i) out.bits.value[i] = p.addr[i] & out.bits.mask[i];
  return out;
}

MaskedBytes<6> mac(const MacMatch& m) {
  MaskedBytes<6> out;
  for (size_t i = 0; i < 6; ++i) {
    out.mask[i] = m.mask.bytes[i];
    out.value[i] = m.addr.bytes[i] & m.mask.bytes[i];
  }
  return out;
}

EncodedTag tag(const VlanMatch& v) {
  return {static_cast<uint16_t>(v.proto == VlanProto::k8021AD ? ETH_P_8021AD : ETH_P_8021Q), v.id, v.prio};
}

}  // namespace

MaskedBytes<4> EncodedPrefix::v4() const {
  MaskedBytes<4> out;
  std::copy_n(bits.value.begin(), 4, out.value.begin());
  std::copy_n(bits.mask.begin(), 4, out.mask.begin());
  return out;
}

uint16_t EncodedTag::tci() const {
  return static_cast<uint16_t>((prio ? *prio << 13 : 0) | vid.value_or(0));
}

uint16_t EncodedTag::tciMask() const { return static_cast<uint16_t>((prio ? 0xe000 : 0) | (vid ? 0x0fff : 0)); }

std::vector<IpVersion> ipVersionsOf(const Match& m) {
  if (m.ipVersion == IpVersion::kAny) return {IpVersion::kV4, IpVersion::kV6};
  return {m.ipVersion};
}

EncodedMatch encodeMatch(const Match& m, IpVersion l3) {
  EncodedMatch e;
  if (m.dstMac) e.dstMac = mac(*m.dstMac);
  if (m.srcMac) e.srcMac = mac(*m.srcMac);
  if (m.vlan) e.outer = tag(*m.vlan);
  if (m.cvlan) e.inner = tag(*m.cvlan);
  e.untagged = m.untagged;
  if (l3 == IpVersion::kV4) e.ethertype = ETH_P_IP;
  else if (l3 == IpVersion::kV6) e.ethertype = ETH_P_IPV6;
  else e.ethertype = m.ethertype;
  if (m.srcIp) e.srcIp = prefix(*m.srcIp);
  if (m.dstIp) e.dstIp = prefix(*m.dstIp);
  e.ipProto = m.ipProto;
  e.srcPort = m.srcPort;
  e.dstPort = m.dstPort;
  if (m.tunnel) {
    const TunnelMatch& t = *m.tunnel;
    EncodedTunnel et;
    et.type = t.type;
    et.dstPort = t.dstPort;
    et.vni = t.vni;
    if (t.srcIp) et.srcIp = prefix(*t.srcIp);
    if (t.dstIp) et.dstIp = prefix(*t.dstIp);
    const auto& outer = t.dstIp ? t.dstIp : t.srcIp;
    if (outer) et.outerL3 = outer->v6 ? 6 : 4;
    e.tunnel = et;
  }
  return e;
}

}  // namespace vfsteer::engine
