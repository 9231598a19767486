#include "nic_rules.hpp"

#include <linux/if_ether.h>

#include <cstring>
#include <set>

#include "vfsteer/demux/tc_layout.hpp"

namespace vfsteer::orchestrator {

namespace tc = netlink::tc;
using namespace policies;

std::vector<uint8_t> ownerCookie(const std::string& instance) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char c : instance) {
    h ^= c;
    h *= 16777619u;
  }
  return {'v', 'f', 's', 't', static_cast<uint8_t>(h >> 24), static_cast<uint8_t>(h >> 16),
          static_cast<uint8_t>(h >> 8), static_cast<uint8_t>(h)};
}

std::string TunnelDevice::name() const {
  return std::string(type == TunnelType::kVxlan ? "vfs-vx" : "vfs-gn") + std::to_string(port);
}

std::vector<TunnelDevice> tunnelDevicesFor(const Policy& policy, const demux::Plan& plan) {
  std::set<TunnelDevice> out;
  for (const auto& r : plan.nicRules) {
    const auto& t = policy.chains[r.chain].match.tunnel;
    if (t) out.insert(TunnelDevice{t->type, t->dstPort});
  }
  return {out.begin(), out.end()};
}

namespace {

template <size_t N>
tc::Masked<N> maskedPrefix(const IpPrefix& p) {
  tc::Masked<N> m;
  for (int i = 0; i < p.length; ++i) m.mask[i / 8] |= static_cast<uint8_t>(1 << (7 - i % 8));
  for (size_t i = 0; i < N; ++i) m.value[i] = p.addr[i] & m.mask[i];
  return m;
}

tc::MacKey macKey(const MacMatch& m) {
  tc::MacKey k;
  std::copy(m.addr.bytes.begin(), m.addr.bytes.end(), k.value.begin());
  std::copy(m.mask.bytes.begin(), m.mask.bytes.end(), k.mask.begin());
  return k;
}

uint16_t l3Ethertype(IpVersion v) { return v == IpVersion::kV6 ? ETH_P_IPV6 : ETH_P_IP; }

// tc protocol and the flower keys of a match, for one IP version.
void fillKey(const Match& m, IpVersion l3, tc::Filter& f, tc::FlowerKey& k) {
  if (m.dstMac) k.dstMac = macKey(*m.dstMac);
  if (m.srcMac) k.srcMac = macKey(*m.srcMac);
  std::optional<uint16_t> payload;  // ethertype after any tags
  if (l3 == IpVersion::kV4 || l3 == IpVersion::kV6) payload = l3Ethertype(l3);
  else if (m.ethertype) payload = *m.ethertype;
  if (m.vlan) {
    f.protocol = m.vlan->proto == VlanProto::k8021AD ? ETH_P_8021AD : ETH_P_8021Q;
    k.vlanId = m.vlan->id;
    k.vlanPrio = m.vlan->prio;
    if (m.cvlan) {
      k.vlanEthType = ETH_P_8021Q;
      k.cvlanId = m.cvlan->id;
      k.cvlanPrio = m.cvlan->prio;
      k.cvlanEthType = payload;
    } else {
      k.vlanEthType = payload;
    }
  } else {
    f.protocol = payload.value_or(ETH_P_ALL);
  }
  if (m.srcIp) {
    if (m.srcIp->v6) k.src6 = maskedPrefix<16>(*m.srcIp);
    else k.src4 = maskedPrefix<4>(*m.srcIp);
  }
  if (m.dstIp) {
    if (m.dstIp->v6) k.dst6 = maskedPrefix<16>(*m.dstIp);
    else k.dst4 = maskedPrefix<4>(*m.dstIp);
  }
  k.ipProto = m.ipProto;
  k.srcPort = m.srcPort;
  k.dstPort = m.dstPort;
  if (m.tunnel) {
    k.encKeyId = m.tunnel->vni;
    k.encDstPort = m.tunnel->dstPort;
    for (auto [prefix, v4, v6] : {std::tuple{&m.tunnel->srcIp, &k.encSrc4, &k.encSrc6},
                                  std::tuple{&m.tunnel->dstIp, &k.encDst4, &k.encDst6}}) {
      if (!*prefix) continue;
      if ((*prefix)->v6) *v6 = maskedPrefix<16>(**prefix);
      else *v4 = maskedPrefix<4>(**prefix);
    }
  }
}

tc::Action action(tc::ActionOp op, int32_t verdict, const std::vector<uint8_t>& cookie) {
  tc::Action a;
  a.op = std::move(op);
  a.verdict = verdict;
  a.cookie = cookie;
  return a;
}

Result<int> targetIfindex(const Target& t, const NicBindings& b) {
  if (t.kind == TargetKind::kUplink) return b.uplinkIfindex;
  if (t.kind == TargetKind::kVf) {
    auto it = b.repIfindex.find(t.index);
    if (it != b.repIfindex.end()) return it->second;
    return Error(ErrorCode::kNotFound, "no representor for VF " + std::to_string(t.index));
  }
  // The planner never puts host or queue delivery in the NIC.
  return Error(ErrorCode::kInternal, "a NIC rule cannot deliver to " + t.str());
}

Result<std::vector<tc::Action>> actionsFor(const Chain& chain, const demux::NicRule& rule,
                                           const NicBindings& b, const std::vector<uint8_t>& cookie) {
  std::vector<tc::Action> out;
  for (size_t i = 0; i < rule.stageCount; ++i) {
    const Stage& s = chain.stages[i];
    if (std::holds_alternative<VlanPopStage>(s.op)) {
      out.push_back(action(tc::Vlan{tc::Vlan::Op::kPop, 0, std::nullopt, std::nullopt}, TC_ACT_PIPE, cookie));
    } else if (auto* push = std::get_if<VlanPushStage>(&s.op)) {
      out.push_back(action(tc::Vlan{tc::Vlan::Op::kPush, push->id,
                                    static_cast<uint16_t>(push->proto == VlanProto::k8021AD ? ETH_P_8021AD : ETH_P_8021Q),
                                    push->prio},
                           TC_ACT_PIPE, cookie));
    } else if (std::holds_alternative<TunnelDecapStage>(s.op)) {
      out.push_back(action(tc::TunnelKeyUnset{}, TC_ACT_PIPE, cookie));
    } else if (auto* q = std::get_if<QueueStage>(&s.op)) {
      out.push_back(action(tc::Skbedit{q->queue, std::nullopt}, TC_ACT_PIPE, cookie));
    } else if (auto* mark = std::get_if<MarkStage>(&s.op)) {
      out.push_back(action(tc::Skbedit{std::nullopt, mark->mark}, TC_ACT_PIPE, cookie));
    } else if (auto* police = std::get_if<PoliceStage>(&s.op)) {
      out.push_back(action(tc::Police{police->rateBitsPerSec / 8, police->burstBytes, 0}, TC_ACT_SHOT, cookie));
    } else if (auto* mirror = std::get_if<MirrorStage>(&s.op)) {
      VFSTEER_ASSIGN_OR_RETURN(int ifindex, targetIfindex(mirror->to, b));
      out.push_back(action(tc::Mirred{tc::Mirred::Op::kEgressMirror, static_cast<uint32_t>(ifindex)},
                           TC_ACT_PIPE, cookie));
    } else if (std::holds_alternative<DropStage>(s.op)) {
      out.push_back(action(tc::Gact{}, TC_ACT_SHOT, cookie));
    } else if (auto* d = std::get_if<DeliverStage>(&s.op)) {
      VFSTEER_ASSIGN_OR_RETURN(int ifindex, targetIfindex(d->to, b));
      out.push_back(action(tc::Mirred{tc::Mirred::Op::kEgressRedirect, static_cast<uint32_t>(ifindex)},
                           TC_ACT_STOLEN, cookie));
    } else {
      return Error(ErrorCode::kInternal, "stage " + s.describe() + " has no flower action");
    }
  }
  if (rule.exit == demux::NicExit::kGotoChain)
    out.push_back(action(tc::Gact{}, static_cast<int32_t>(TC_ACT_GOTO_CHAIN | rule.gotoTcChain), cookie));
  if (rule.exit == demux::NicExit::kTrap) out.push_back(action(tc::Gact{}, TC_ACT_TRAP, cookie));
  return out;
}

}  // namespace

Result<std::vector<NicFilter>> buildFlowerRules(const Policy& policy, const demux::Plan& plan,
                                                const NicBindings& b, const std::vector<uint8_t>& cookie) {
  std::vector<NicFilter> out;
  for (const auto& rule : plan.nicRules) {
    const Chain& chain = policy.chains[rule.chain];
    NicFilter nf;
    nf.chain = rule.chain;
    tc::Filter& f = nf.filter;
    if (chain.match.tunnel) {
      TunnelDevice dev{chain.match.tunnel->type, chain.match.tunnel->dstPort};
      auto it = b.tunnelIfindex.find(dev);
      if (it == b.tunnelIfindex.end())
        return Error(ErrorCode::kInternal, "tunnel device " + dev.name() + " is not there");
      f.ifindex = it->second;
      nf.device = dev.name();
    } else if (rule.from.kind == Port::Kind::kVf) {
      auto it = b.repIfindex.find(rule.from.vf);
      if (it == b.repIfindex.end())
        return Error(ErrorCode::kNotFound, "chain " + chain.name + ": no representor for vf" +
                                               std::to_string(rule.from.vf));
      f.ifindex = it->second;
    } else {
      f.ifindex = b.uplinkIfindex;
    }
    if (nf.device.empty()) {
      auto name = b.names.find(f.ifindex);
      nf.device = name != b.names.end() ? name->second : "ifindex " + std::to_string(f.ifindex);
    }
    f.parent = tc::kIngress;
    f.priority = rule.tcPriority;
    tc::Flower fl;
    fillKey(chain.match, rule.l3, f, fl.key);
    fl.flags = tc::kSkipSw;
    VFSTEER_ASSIGN_OR_RETURN(fl.actions, actionsFor(chain, rule, b, cookie));
    f.spec = fl;
    out.push_back(std::move(nf));
  }
  return out;
}

Result<std::vector<tc::Filter>> ownedNicFilters(NetlinkPort& nl, int ifindex,
                                                const std::vector<uint8_t>& cookie) {
  std::vector<tc::Filter> out;
  VFSTEER_ASSIGN_OR_RETURN(auto qdiscs, nl.dump(tc::encodeDumpQdiscs(ifindex)));
  bool clsact = false;
  for (const auto& raw : qdiscs) {
    auto q = tc::decodeQdisc(raw);
    clsact |= q.ok() && q->ifindex == ifindex && q->kind == "clsact";
  }
  if (!clsact) return out;
  VFSTEER_ASSIGN_OR_RETURN(auto filters, nl.dump(tc::encodeDumpFilters(ifindex, tc::kIngress)));
  for (const auto& raw : filters) {
    if (tc::isFilterHead(raw)) continue;
    auto f = tc::decodeFilter(raw);
    if (!f.ok() || !std::holds_alternative<tc::Flower>(f->spec)) continue;
    if (f->priority <= demux::kNicPriorityBase || f->priority >= demux::kNicPriorityEnd) continue;
    const auto& actions = std::get<tc::Flower>(f->spec).actions;
    if (actions.empty() || actions.front().cookie != cookie) continue;
    out.push_back(*f);
  }
  return out;
}

bool sameNicFilter(const tc::Filter& a, const tc::Filter& b) {
  auto normal = [](tc::Filter f) {
    f.handle = 0;
    if (auto* fl = std::get_if<tc::Flower>(&f.spec)) {
      fl->flags &= (tc::kSkipSw | tc::kSkipHw);
      fl->inHwCount = 0;
      for (auto& act : fl->actions) {
        act.index = 0;
        act.packets = act.bytes = 0;
        // A push without a protocol is 802.1Q; the kernel reports it.
        if (auto* v = std::get_if<tc::Vlan>(&act.op); v && v->op != tc::Vlan::Op::kPop && !v->protocol)
          v->protocol = ETH_P_8021Q;
      }
    }
    const netlink::Message m = tc::encodeAddFilter(f);
    auto bytes = m.bytes();
    return std::vector<uint8_t>(bytes.begin() + 16, bytes.end());  // past seq/pid
  };
  return a.ifindex == b.ifindex && normal(a) == normal(b);
}

}  // namespace vfsteer::orchestrator
