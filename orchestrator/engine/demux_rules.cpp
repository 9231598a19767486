#include "engine/demux_rules.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "engine/encoded_match.hpp"

namespace vfsteer::engine {

using namespace policies;
using representors::DemuxRule;

namespace {

// The demux program compares values as the packet holds them, read by a
// little-endian load: network order for u16s, the address bytes for u32s.
uint32_t wire32(const uint8_t* bytes) {
  uint32_t v;
  std::memcpy(&v, bytes, 4);
  return v;
}

DemuxRule::Tag tag(const EncodedTag& t) { return {htons(t.tpid), htons(t.tci()), htons(t.tciMask())}; }

void setPrefix(const EncodedPrefix& p, std::optional<std::pair<uint32_t, uint32_t>>& v4,
               std::optional<std::pair<std::array<uint8_t, 16>, std::array<uint8_t, 16>>>& v6) {
  if (p.v6)
    v6 = std::make_pair(p.bits.value, p.bits.mask);
  else
    v4 = std::make_pair(wire32(p.bits.value.data()), wire32(p.bits.mask.data()));
}

}  // namespace

Result<std::vector<DemuxRule>> buildDemuxRules(const Policy& policy, const demux::Plan& plan) {
  std::vector<DemuxRule> out;
  for (const demux::NicRule& rule : plan.nicRules) {
    const Chain& chain = policy.chains.at(rule.chain);
    auto refuse = [&](const std::string& what) {
      return Error(ErrorCode::kInternal,
                   "chain " + chain.name + ": a BPF demux program cannot " + what + " (planner bug)");
    };
    if (chain.match.tunnel) return refuse("match tunnel keys");
    if (rule.from.kind != Port::Kind::kUplink) return refuse("match traffic from a VF");

    const EncodedMatch e = encodeMatch(chain.match, rule.l3);
    DemuxRule r;
    if (e.dstMac) r.dmac = DemuxRule::Mac{e.dstMac->value, e.dstMac->mask};
    if (e.srcMac) r.smac = DemuxRule::Mac{e.srcMac->value, e.srcMac->mask};
    if (e.outer) r.outer = tag(*e.outer);
    r.untagged = e.untagged;
    if (e.inner) r.inner = tag(*e.inner);
    if (e.ethertype) r.ethertype = htons(*e.ethertype);
    if (e.srcIp) setPrefix(*e.srcIp, r.src4, r.src6);
    if (e.dstIp) setPrefix(*e.dstIp, r.dst4, r.dst6);
    r.ipProto = e.ipProto;
    if (e.srcPort) r.sport = htons(*e.srcPort);
    if (e.dstPort) r.dport = htons(*e.dstPort);

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

}  // namespace vfsteer::engine
