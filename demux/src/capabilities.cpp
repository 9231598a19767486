#include "vfsteer/demux/capabilities.hpp"

#include "vfsteer/policies/vocabulary.hpp"

namespace vfsteer::demux {

using namespace policies;

namespace {

std::string profileName(const Profile& p) { return "profile " + p.name; }

// What a stage kind asks of the hardware, for "profile X cannot <ability>".
std::string_view ability(StageKind kind) {
  switch (kind) {
    case StageKind::kVlanPop: return "pop VLAN tags";
    case StageKind::kVlanPush: return "push VLAN tags";
    case StageKind::kTunnelDecap: return "decapsulate tunnels";
    case StageKind::kQueue: return "select a receive queue";
    case StageKind::kPolice: return "police traffic";
    case StageKind::kMark: return "set the packet mark";
    case StageKind::kMirror: return "mirror packets";
    case StageKind::kDrop: return "drop packets";
    case StageKind::kBpf: return "run BPF programs";
    case StageKind::kDeliver: return "deliver packets";
  }
  return "?";
}

std::string_view targetAbility(TargetKind kind) {
  switch (kind) {
    case TargetKind::kVf: return "send packets to a VF";
    case TargetKind::kUplink: return "send packets to the uplink";
    // The NIC never delivers to the host or a host queue: such a packet would
    // reach vfsteer's host datapath and be classified a second time.
    case TargetKind::kHost: return "deliver to the host (only the host path does)";
    case TargetKind::kQueue: return "deliver to a host queue (only the host path does)";
  }
  return "?";
}

}  // namespace

std::optional<std::string> whyMatchNotInNic(const Profile& profile, const Match& match) {
  if (profile.engine == NicEngine::kNone)
    return profileName(profile) + " has no hardware offload";
  if (match.from.kind == Port::Kind::kVf && !profile.vfSideRules)
    return "traffic from " + match.from.str() + ": " + profileName(profile) +
           " cannot match traffic sent by VFs in hardware";
  for (MatchKey key : match.keys()) {
    if (key == MatchKey::kFrom) continue;  // handled above
    if (!profile.canMatch(key))
      return "match key " + std::string(name(key)) + ": " + profileName(profile) +
             " cannot match it in hardware";
  }
  if ((match.srcPort || match.dstPort) && match.ipProto && !profile.canMatchPortsOf(*match.ipProto)) {
    std::string which;
    for (uint8_t p : profile.l4PortProtocols) which += (which.empty() ? "" : " and ") + std::string(*ipProtocolName(p));
    return "ports of " + std::string(ipProtocolName(*match.ipProto).value_or("this protocol")) + ": " +
           profileName(profile) + " matches L4 ports of " + which + " only";
  }
  if (match.ipProto && !profile.canMatchProtocol(*match.ipProto)) {
    std::string which;
    for (uint8_t p : profile.ipProtocols) which += (which.empty() ? "" : " and ") + std::string(*ipProtocolName(p));
    return "ip_proto " + std::string(ipProtocolName(*match.ipProto).value_or(std::to_string(*match.ipProto))) +
           ": " + profileName(profile) + " matches the protocols " + which + " only";
  }
  if (profile.ruleNeedsProtocol && !match.ipProto && !match.tunnel)
    return "no ip_proto: " + profileName(profile) +
           " steers by flow type (TCP, UDP, ...): a rule without a protocol would take only packets of other "
           "protocols; name the chain's protocol to keep it in the NIC";
  if (profile.wholeFields)
    for (const auto& [key, prefix] : {std::pair{"src_ip", &match.srcIp}, std::pair{"dst_ip", &match.dstIp}})
      if (*prefix && (*prefix)->length != (*prefix)->width())
        return std::string(key) + " " + (*prefix)->str() + ": " + profileName(profile) +
               " matches each field whole (an address as /32 or /128, no prefixes)";
  // A rule per IP version the chain's packets may have: all must fit.
  if (!match.tunnel && !profile.ipVersions.empty()) {
    const bool v4 = match.ipVersion == IpVersion::kV4 || match.ipVersion == IpVersion::kAny;
    const bool v6 = match.ipVersion == IpVersion::kV6 || match.ipVersion == IpVersion::kAny;
    const std::string only = profileName(profile) + " classifies IPv" +
                             std::to_string(*profile.ipVersions.begin()) +
                             (profile.ipVersions.size() > 1 ? " and IPv6" : "") + " packets only";
    if (match.ipVersion == IpVersion::kNone) return "a match not specific to IP: " + only;
    if (v6 && !profile.canMatchIpVersion(6))
      return std::string(v4 ? "a match of IPv4 and IPv6 packets" : "an IPv6 match") + ": " + only +
             (v4 ? " (give the chain an IPv4 address or ethertype: ipv4 to keep it in the NIC)" : "");
    if (v4 && !profile.canMatchIpVersion(4)) return "an IPv4 match: " + only;
  }
  // Decap rules sit on the tunnel device and see what arrives from the
  // wire; a VF's tunnel packets reach its representor as plain UDP, with no
  // tunnel metadata to match.
  if (match.tunnel && match.from.kind == Port::Kind::kVf)
    return "tunnel match on traffic from " + match.from.str() +
           ": NIC tunnel rules see only traffic from the uplink (they sit on the tunnel device)";
  const auto& outerDst = match.tunnel ? match.tunnel->dstIp : std::nullopt;
  if (match.tunnel && profile.tunnelNeedsOuterDst && !(outerDst && outerDst->length == outerDst->width()))
    return "tunnel match without an exact outer dst_ip: " + profileName(profile) +
           " matches tunnels by their outer destination address (one address, /32 or /128)";
  if (match.vlanDepth() > profile.vlanDepth)
    return "match on " + std::to_string(match.vlanDepth()) + " VLAN tags: " + profileName(profile) +
           " matches at most " + std::to_string(profile.vlanDepth);
  if (match.tunnel && !profile.canTunnel(match.tunnel->type))
    return "tunnel " + std::string(name(match.tunnel->type)) + ": " + profileName(profile) +
           " cannot match it in hardware";
  return std::nullopt;
}

std::optional<std::string> whyStageNotInNic(const Profile& profile, const Chain& chain,
                                            size_t index) {
  const Stage& stage = chain.stages[index];
  const std::string where = "stage " + std::to_string(index) + " " + std::string(name(stage.kind()));
  if (profile.engine == NicEngine::kNone)
    return where + ": " + profileName(profile) + " has no hardware offload";
  if (stage.kind() == StageKind::kBpf)
    return where + ": " + profileName(profile) + " has no BPF offload for user programs";
  if (!profile.canRun(stage.kind()))
    return where + ": " + profileName(profile) + " cannot " + std::string(ability(stage.kind())) +
           " in hardware";
  const Target* target = nullptr;
  if (auto* d = std::get_if<DeliverStage>(&stage.op)) target = &d->to;
  if (auto* m = std::get_if<MirrorStage>(&stage.op)) target = &m->to;
  const bool fromVf = chain.match.from.kind == Port::Kind::kVf;
  if (target && !(fromVf ? profile.canReachFromVf(target->kind) : profile.canReach(target->kind))) {
    // The direction is worth saying only where the profile's ports differ
    // by it (and never for host targets, which no NIC rule reaches).
    const bool byDirection = profile.vfSideTargets && (target->kind == TargetKind::kVf || target->kind == TargetKind::kUplink);
    const char* side = !byDirection ? "" : fromVf ? " from traffic a VF sends" : " from traffic of the wire";
    return where + ": " + profileName(profile) + " cannot " + std::string(targetAbility(target->kind)) + side +
           " in hardware";
  }
  if (stage.kind() == StageKind::kVlanPop || stage.kind() == StageKind::kVlanPush) {
    int vlanActions = 0;
    for (size_t i = 0; i <= index; ++i)
      vlanActions += chain.stages[i].kind() == StageKind::kVlanPop || chain.stages[i].kind() == StageKind::kVlanPush;
    if (vlanActions > profile.vlanDepth)
      return where + ": " + profileName(profile) + " pops or pushes at most " + std::to_string(profile.vlanDepth) +
             " VLAN tag" + (profile.vlanDepth == 1 ? "" : "s") + " per rule";
  }
  if (stage.kind() == StageKind::kTunnelDecap && !profile.canTunnel(chain.match.tunnel->type))
    return where + ": " + profileName(profile) + " cannot decapsulate " +
           std::string(name(chain.match.tunnel->type));
  return std::nullopt;
}

}  // namespace vfsteer::demux
