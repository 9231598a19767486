#include "engine/flower_rules.hpp"

#include <linux/if_ether.h>

#include <cstring>
#include <set>

#include "engine/encoded_match.hpp"
#include "vfsteer/demux/tc_layout.hpp"

namespace vfsteer::engine {

namespace tc = netlink::tc;
using namespace policies;

TunnelDevice tunnelDeviceFor(TunnelType type, uint16_t port) {
  const bool vxlan = type == TunnelType::kVxlan;
  return {std::string(vxlan ? "vfs-vx" : "vfs-gn") + std::to_string(port),
          vxlan ? netlink::link::TunnelKind::kVxlan : netlink::link::TunnelKind::kGeneve, port};
}

std::vector<TunnelDevice> tunnelDevicesFor(const Policy& policy, const demux::Plan& plan) {
  std::set<std::pair<TunnelType, uint16_t>> seen;
  std::vector<TunnelDevice> out;
  for (const auto& r : plan.nicRules) {
    const auto& t = policy.chains[r.chain].match.tunnel;
    if (t && seen.insert({t->type, t->dstPort}).second) out.push_back(tunnelDeviceFor(t->type, t->dstPort));
  }
  return out;
}

namespace {

template <size_t N>
tc::Masked<N> masked(const MaskedBytes<N>& m) {
  return {m.value, m.mask};
}

void copyPrefix(std::optional<tc::Ip4Key>& v4, std::optional<tc::Ip6Key>& v6, const EncodedPrefix& p) {
  if (p.v6) v6 = masked(p.bits);
  else v4 = masked(p.v4());
}

// tc protocol and the flower keys of a match, for one IP version.
void fillKey(const EncodedMatch& e, tc::Filter& f, tc::FlowerKey& k) {
  if (e.dstMac) k.dstMac = masked(*e.dstMac);
  if (e.srcMac) k.srcMac = masked(*e.srcMac);
  if (e.outer) {
    // A tagged match's protocol is the outer tag's; the ethertype after
    // the tags is vlan_ethtype (cvlan_ethtype with an inner tag).
    f.protocol = e.outer->tpid;
    k.vlanId = e.outer->vid;
    k.vlanPrio = e.outer->prio;
    if (e.inner) {
      k.vlanEthType = e.inner->tpid;
      k.cvlanId = e.inner->vid;
      k.cvlanPrio = e.inner->prio;
      k.cvlanEthType = e.ethertype;
    } else {
      k.vlanEthType = e.ethertype;
    }
  } else {
    f.protocol = e.ethertype.value_or(ETH_P_ALL);
  }
  if (e.srcIp) copyPrefix(k.src4, k.src6, *e.srcIp);
  if (e.dstIp) copyPrefix(k.dst4, k.dst6, *e.dstIp);
  k.ipProto = e.ipProto;
  k.srcPort = e.srcPort;
  k.dstPort = e.dstPort;
  if (e.tunnel) {
    k.encKeyId = e.tunnel->vni;
    k.encDstPort = e.tunnel->dstPort;
    if (e.tunnel->srcIp) copyPrefix(k.encSrc4, k.encSrc6, *e.tunnel->srcIp);
    if (e.tunnel->dstIp) copyPrefix(k.encDst4, k.encDst6, *e.tunnel->dstIp);
  }
}

Result<IfIndex> targetIfindex(const Target& t, const FlowerBindings& b) {
  if (t.kind == TargetKind::kUplink) return b.uplinkIfindex;
  if (t.kind == TargetKind::kVf) {
    auto it = b.repIfindex.find(VfIndex{t.index});
    if (it != b.repIfindex.end()) return it->second;
    return Error(ErrorCode::kNotFound, "no representor for VF " + std::to_string(t.index));
  }
  // The planner never puts host or queue delivery in the NIC.
  return Error(ErrorCode::kInternal, "a NIC rule cannot deliver to " + t.str());
}

Result<std::vector<tc::Action>> actionsFor(const Chain& chain, const demux::NicRule& rule,
                                           const FlowerBindings& b) {
  const std::vector<uint8_t>& cookie = b.cookie;
  std::vector<tc::Action> out;
  for (size_t i = 0; i < rule.stageCount; ++i) {
    const Stage& s = chain.stages[i];
    if (std::holds_alternative<VlanPopStage>(s.op)) {
      out.push_back(ownedAction(tc::Vlan{tc::Vlan::Op::kPop, 0, std::nullopt, std::nullopt}, TC_ACT_PIPE, cookie));
    } else if (auto* push = std::get_if<VlanPushStage>(&s.op)) {
      out.push_back(ownedAction(tc::Vlan{tc::Vlan::Op::kPush, push->id,
                                         static_cast<uint16_t>(push->proto == VlanProto::k8021AD ? ETH_P_8021AD : ETH_P_8021Q),
                                         push->prio},
                                TC_ACT_PIPE, cookie));
    } else if (std::holds_alternative<TunnelDecapStage>(s.op)) {
      out.push_back(ownedAction(tc::TunnelKeyUnset{}, TC_ACT_PIPE, cookie));
    } else if (auto* q = std::get_if<QueueStage>(&s.op)) {
      out.push_back(ownedAction(tc::Skbedit{q->queue, std::nullopt}, TC_ACT_PIPE, cookie));
    } else if (auto* mark = std::get_if<MarkStage>(&s.op)) {
      out.push_back(ownedAction(tc::Skbedit{std::nullopt, mark->mark}, TC_ACT_PIPE, cookie));
    } else if (auto* police = std::get_if<PoliceStage>(&s.op)) {
      out.push_back(ownedAction(tc::Police{police->rateBitsPerSec / 8, police->burstBytes, 0}, TC_ACT_SHOT, cookie));
    } else if (auto* mirror = std::get_if<MirrorStage>(&s.op)) {
      VFSTEER_ASSIGN_OR_RETURN(IfIndex ifindex, targetIfindex(mirror->to, b));
      out.push_back(ownedAction(tc::Mirred{tc::Mirred::Op::kEgressMirror, static_cast<uint32_t>(ifindex.value)},
                                TC_ACT_PIPE, cookie));
    } else if (std::holds_alternative<DropStage>(s.op)) {
      out.push_back(ownedAction(tc::Gact{}, TC_ACT_SHOT, cookie));
    } else if (auto* d = std::get_if<DeliverStage>(&s.op)) {
      VFSTEER_ASSIGN_OR_RETURN(IfIndex ifindex, targetIfindex(d->to, b));
      out.push_back(ownedAction(tc::Mirred{tc::Mirred::Op::kEgressRedirect, static_cast<uint32_t>(ifindex.value)},
                                TC_ACT_STOLEN, cookie));
    } else {
      return Error(ErrorCode::kInternal, "stage " + s.describe() + " has no flower action");
    }
  }
  if (rule.exit == demux::NicExit::kGotoChain)
    out.push_back(ownedAction(tc::Gact{}, static_cast<int32_t>(TC_ACT_GOTO_CHAIN | rule.gotoTcChain), cookie));
  if (rule.exit == demux::NicExit::kTrap) out.push_back(ownedAction(tc::Gact{}, TC_ACT_TRAP, cookie));
  return out;
}

}  // namespace

Result<std::vector<NicRule>> buildFlowerRules(const Policy& policy, const demux::Plan& plan,
                                              const FlowerBindings& b) {
  std::vector<NicRule> out;
  out.reserve(plan.nicRules.size());
  for (const auto& rule : plan.nicRules) {
    const Chain& chain = policy.chains[rule.chain];
    NicRule nr;
    nr.chain = chain.name;
    nr.exit = rule.exit;
    nr.gotoTcChain = rule.gotoTcChain;
    nr.skipSw = plan.chains[rule.chain].mode == OffloadMode::kSkipSw;
    tc::Filter& f = nr.filter;
    if (chain.match.tunnel) {
      // Decapsulated packets arrive on the tunnel device, with the outer
      // header as metadata for the enc_ keys.
      nr.device = tunnelDeviceFor(chain.match.tunnel->type, chain.match.tunnel->dstPort).name;
    } else if (rule.from.kind == Port::Kind::kVf) {
      auto it = b.repIfindex.find(VfIndex{rule.from.vf});
      if (it == b.repIfindex.end())
        return Error(ErrorCode::kNotFound, "chain " + chain.name + ": no representor for vf" +
                                               std::to_string(rule.from.vf));
      f.ifindex = it->second.value;
      nr.device = b.repName.at(VfIndex{rule.from.vf});
    } else {
      f.ifindex = b.uplinkIfindex.value;
      nr.device = b.uplinkName;
    }
    f.parent = tc::kIngress;
    f.priority = rule.tcPriority;
    f.handle = rule.tcHandle;
    tc::Flower fl;
    fillKey(encodeMatch(chain.match, rule.l3), f, fl.key);
    // A tunnel device has no ndo_setup_tc: its rules reach the NIC through
    // an indirect block, and the kernel refuses skip_sw there (the block
    // counts a device that cannot offload: tc_setup_cb_add() in
    // net/sched/cls_api.c). Such rules go without skip_sw, as OVS sends
    // them; whether the NIC took one is its in_hw flag, which apply checks
    // for every rule meant for the NIC.
    fl.flags = b.emulated ? tc::kSkipHw : chain.match.tunnel ? 0 : tc::kSkipSw;
    VFSTEER_ASSIGN_OR_RETURN(fl.actions, actionsFor(chain, rule, b));
    f.spec = std::move(fl);
    out.push_back(std::move(nr));
  }
  return out;
}

namespace {

// A key with its values cleared and its masks kept.
tc::FlowerKey maskShape(tc::FlowerKey k) {
  auto clear = [](auto& field) {
    if (!field) return;
    if constexpr (requires { field->mask; }) field->value = {};
    else *field = {};
  };
  clear(k.dstMac), clear(k.srcMac), clear(k.vlanId), clear(k.vlanPrio), clear(k.vlanEthType);
  clear(k.cvlanId), clear(k.cvlanPrio), clear(k.cvlanEthType), clear(k.ipProto);
  clear(k.src4), clear(k.dst4), clear(k.src6), clear(k.dst6), clear(k.srcPort), clear(k.dstPort);
  clear(k.encKeyId), clear(k.encSrc4), clear(k.encDst4), clear(k.encSrc6), clear(k.encDst6), clear(k.encDstPort);
  return k;
}

}  // namespace

void markInHw(tc::Filter& f, bool inHw) {
  std::visit(
      [&](auto& spec) {
        if constexpr (requires { spec.flags; }) {
          spec.flags &= ~(tc::kInHw | tc::kNotInHw);
          spec.flags |= inHw ? tc::kInHw : tc::kNotInHw;
        }
      },
      f.spec);
}

bool sameFlowerMask(const tc::FlowerKey& a, const tc::FlowerKey& b) { return maskShape(a) == maskShape(b); }

bool sameNicFilter(const tc::Filter& a, const tc::Filter& b) {
  const auto* fa = std::get_if<tc::Flower>(&a.spec);
  const auto* fb = std::get_if<tc::Flower>(&b.spec);
  if (!fa || !fb) return false;
  // The kernel names chain 0 in what it reports; a rule sent without a
  // chain is in chain 0.
  if (a.parent != b.parent || a.priority != b.priority || a.protocol != b.protocol ||
      a.chain.value_or(0) != b.chain.value_or(0))
    return false;
  constexpr uint32_t kAsked = tc::kSkipSw | tc::kSkipHw;
  if (!(fa->key == fb->key) || (fa->flags & kAsked) != (fb->flags & kAsked) || fa->actions.size() != fb->actions.size())
    return false;
  // A push without a protocol is 802.1Q; the kernel reports it.
  auto normal = [](tc::Action act) {
    if (auto* v = std::get_if<tc::Vlan>(&act.op); v && v->op != tc::Vlan::Op::kPop && !v->protocol)
      v->protocol = ETH_P_8021Q;
    return act;
  };
  for (size_t i = 0; i < fa->actions.size(); ++i)
    if (!normal(fa->actions[i]).sameConfig(normal(fb->actions[i]))) return false;
  return true;
}

}  // namespace vfsteer::engine
