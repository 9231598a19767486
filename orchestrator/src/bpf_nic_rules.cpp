#include "bpf_nic_rules.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>

#include <cstring>

namespace vfsteer::orchestrator {

using namespace policies;
using representors::DemuxRule;

namespace {

// A u16 / u32 as the packet holds it, read by a little-endian load: the
// order the demux program compares in.
uint16_t wire16(uint16_t v) { return htons(v); }
uint32_t wire32(const uint8_t* bytes) {
  uint32_t v;
  std::memcpy(&v, bytes, 4);
  return v;
}

std::array<uint8_t, 16> prefixMask(const IpPrefix& p) {
  std::array<uint8_t, 16> mask{};
  for (int bit = 0; bit < p.length; ++bit) mask[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
  return mask;
}

DemuxRule::Mac mac(const MacMatch& m) {
  DemuxRule::Mac out;
  for (size_t i = 0; i < 6; ++i) {
    out.mask[i] = m.mask.bytes[i];
    out.value[i] = m.addr.bytes[i] & m.mask.bytes[i];
  }
  return out;
}

DemuxRule::Tag tag(const VlanMatch& v) {
  uint16_t tci = 0, mask = 0;
  if (v.id) {
    tci |= *v.id;
    mask |= 0x0fff;
  }
  if (v.prio) {
    tci |= static_cast<uint16_t>(*v.prio << 13);
    mask |= 0xe000;
  }
  return {wire16(v.proto == VlanProto::k8021AD ? ETH_P_8021AD : ETH_P_8021Q), wire16(tci), wire16(mask)};
}

void setPrefix(const IpPrefix& p, std::optional<std::pair<uint32_t, uint32_t>>& v4,
               std::optional<std::pair<std::array<uint8_t, 16>, std::array<uint8_t, 16>>>& v6) {
  const auto mask = prefixMask(p);
  if (p.v6)
    v6 = std::make_pair(p.addr, mask);
  else
    v4 = std::make_pair(wire32(p.addr.data()), wire32(mask.data()));
}

}  // namespace

Result<std::vector<DemuxRule>> buildDemuxRules(const Policy& policy, const demux::Plan& plan) {
  std::vector<DemuxRule> out;
  for (const demux::NicRule& rule : plan.nicRules) {
    const Chain& chain = policy.chains.at(rule.chain);
    const Match& m = chain.match;
    auto refuse = [&](const std::string& what) {
      return Error(ErrorCode::kInternal,
                   "chain " + chain.name + ": a BPF demux program cannot " + what + " (planner bug)");
    };
    if (m.tunnel) return refuse("match tunnel keys");
    if (rule.from.kind != Port::Kind::kUplink) return refuse("match traffic from a VF");

    DemuxRule r;
    if (m.dstMac) r.dmac = mac(*m.dstMac);
    if (m.srcMac) r.smac = mac(*m.srcMac);
    if (m.vlan) r.outer = tag(*m.vlan);
    if (m.cvlan) r.inner = tag(*m.cvlan);
    switch (rule.l3) {
      case IpVersion::kV4: r.ethertype = wire16(ETH_P_IP); break;
      case IpVersion::kV6: r.ethertype = wire16(ETH_P_IPV6); break;
      default:
        if (m.ethertype) r.ethertype = wire16(*m.ethertype);
        break;
    }
    if (m.srcIp) setPrefix(*m.srcIp, r.src4, r.src6);
    if (m.dstIp) setPrefix(*m.dstIp, r.dst4, r.dst6);
    r.ipProto = m.ipProto;
    if (m.srcPort) r.sport = wire16(*m.srcPort);
    if (m.dstPort) r.dport = wire16(*m.dstPort);

    // The NIC's stages: none (the host takes the packet as it is) or drop.
    for (size_t i = 0; i < rule.stageCount; ++i) {
      if (!std::holds_alternative<DropStage>(chain.stages[i].op))
        return refuse("run stage " + std::to_string(i + 1) + " (" + std::string(name(chain.stages[i].kind())) + ")");
      r.drop = true;
    }
    if (!r.drop && rule.exit != demux::NicExit::kTrap) return refuse("continue the chain on the host after a NIC stage");
    out.push_back(r);
  }
  return out;
}

}  // namespace vfsteer::orchestrator
