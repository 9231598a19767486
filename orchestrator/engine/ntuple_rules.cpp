#include "engine/ntuple_rules.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "engine/encoded_match.hpp"

namespace vfsteer::engine {

using namespace policies;
namespace rxnfc = netlink::rxnfc;

namespace {

void copyPrefix(const std::optional<EncodedPrefix>& p, uint32_t& value, uint32_t& mask) {
  if (!p) return;
  const MaskedBytes<4> v4 = p->v4();
  std::memcpy(&value, v4.value.data(), 4);  // network order, as ethtool carries it
  std::memcpy(&mask, v4.mask.data(), 4);
}

Result<rxnfc::FlowRule> ruleFor(const Chain& chain, const demux::NicRule& nic) {
  if (nic.stageCount != 1 || nic.exit != demux::NicExit::kTerminal)
    return Error(ErrorCode::kInternal, "chain " + chain.name + ": an ntuple NIC rule runs exactly one final stage");
  const EncodedMatch e = encodeMatch(chain.match, IpVersion::kV4);
  rxnfc::FlowRule r;
  r.location = nic.location;
  copyPrefix(e.srcIp, r.srcIp, r.srcIpMask);
  copyPrefix(e.dstIp, r.dstIp, r.dstIpMask);
  if (e.ipProto == IPPROTO_TCP || e.ipProto == IPPROTO_UDP) {
    r.type = *e.ipProto == IPPROTO_TCP ? rxnfc::FlowRule::Type::kTcp4 : rxnfc::FlowRule::Type::kUdp4;
    if (e.srcPort) r.srcPort = htons(*e.srcPort), r.srcPortMask = 0xffff;
    if (e.dstPort) r.dstPort = htons(*e.dstPort), r.dstPortMask = 0xffff;
  } else if (e.srcPort || e.dstPort) {
    return Error(ErrorCode::kInternal, "chain " + chain.name + ": ports of a protocol other than TCP or UDP");
  } else if (e.ipProto) {
    r.type = rxnfc::FlowRule::Type::kIp4;
    r.proto = *e.ipProto;
    r.protoMask = 0xff;
  }
  const Stage& s = chain.stages[0];
  if (std::holds_alternative<DropStage>(s.op)) {
    r.drop = true;
  } else if (auto* d = std::get_if<DeliverStage>(&s.op); d && d->to.kind == TargetKind::kVf) {
    r.vf = d->to.index;  // the VF's first queue: its default
  } else {
    return Error(ErrorCode::kInternal, "chain " + chain.name + ": stage " + s.describe() + " has no flow rule action");
  }
  return r;
}

}  // namespace

Result<std::vector<FlowRule>> buildFlowRules(const Policy& policy, const demux::Plan& plan, const std::string& pf) {
  std::vector<FlowRule> out;
  for (const auto& nic : plan.nicRules) {
    const Chain& chain = policy.chains[nic.chain];
    VFSTEER_ASSIGN_OR_RETURN(rxnfc::FlowRule rule, ruleFor(chain, nic));
    out.push_back({pf, chain.name, plan.chains[nic.chain].mode == OffloadMode::kSkipSw, rule});
  }
  return out;
}

FlowRuleMask maskOf(const rxnfc::FlowRule& r) {
  const bool l4 = r.type != rxnfc::FlowRule::Type::kIp4 || r.protoMask != 0;
  return {l4, r.srcIpMask, r.dstIpMask, r.srcPortMask, r.dstPortMask};
}

}  // namespace vfsteer::engine
