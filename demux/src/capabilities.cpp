#include "vfsteer/demux/capabilities.hpp"

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
  if (target && !profile.canReach(target->kind))
    return where + ": " + profileName(profile) + " cannot " +
           std::string(targetAbility(target->kind)) + " in hardware";
  if (stage.kind() == StageKind::kTunnelDecap && !profile.canTunnel(chain.match.tunnel->type))
    return where + ": " + profileName(profile) + " cannot decapsulate " +
           std::string(name(chain.match.tunnel->type));
  return std::nullopt;
}

}  // namespace vfsteer::demux
