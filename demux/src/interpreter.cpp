#include "vfsteer/demux/interpreter.hpp"

#include <algorithm>

#include "vfsteer/demux/capabilities.hpp"

namespace vfsteer::demux {

using namespace policies;

namespace {

bool macMatches(const std::optional<MacMatch>& m, const MacAddress& addr) {
  if (!m) return true;
  for (size_t i = 0; i < 6; ++i)
    if ((addr.bytes[i] & m->mask.bytes[i]) != m->addr.bytes[i]) return false;
  return true;
}

bool prefixMatches(const std::optional<IpPrefix>& p, const std::array<uint8_t, 16>& addr,
                   bool v6) {
  if (!p) return true;
  if (p->v6 != v6) return false;
  IpPrefix host;
  host.v6 = v6;
  host.addr = addr;
  host.length = static_cast<uint8_t>(host.width());
  return p->contains(host);
}

bool tagMatches(const std::optional<VlanMatch>& m, const std::vector<VlanTag>& tags, size_t i) {
  if (!m) return true;
  if (tags.size() <= i) return false;
  const VlanTag& t = tags[i];
  return t.proto == m->proto && (!m->id || *m->id == t.id) && (!m->prio || *m->prio == t.prio);
}

// The L2..L4 keys of `m` against one frame.
bool frameMatches(const Match& m, const Frame& f) {
  if (!macMatches(m.srcMac, f.src) || !macMatches(m.dstMac, f.dst)) return false;
  if (!tagMatches(m.vlan, f.tags, 0) || !tagMatches(m.cvlan, f.tags, 1)) return false;
  if (m.untagged && !f.tags.empty()) return false;
  if (m.ethertype && f.ethertype != *m.ethertype) return false;
  switch (m.ipVersion) {
    case IpVersion::kNone: break;
    case IpVersion::kV4: if (!f.isIp4()) return false; break;
    case IpVersion::kV6: if (!f.isIp6()) return false; break;
    case IpVersion::kAny: if (!f.isIp4() && !f.isIp6()) return false; break;
  }
  if (!prefixMatches(m.srcIp, f.srcIp, f.isIp6()) || !prefixMatches(m.dstIp, f.dstIp, f.isIp6()))
    return false;
  if (m.ipProto && *m.ipProto != f.ipProto) return false;
  if (m.srcPort && *m.srcPort != f.srcPort) return false;
  if (m.dstPort && *m.dstPort != f.dstPort) return false;
  return true;
}

Delivery deliveryTo(const Target& to, const Packet& p, bool mirror) { return {to, p, mirror}; }

// Software semantics of one stage. Returns false when the chain has ended.
bool runStage(const Chain& chain, size_t chainIndex, size_t i, Packet& p, const Environment& env,
              Outcome& out) {
  const Stage& s = chain.stages[i];
  Frame& f = p.frame;
  struct Visitor {
    const Chain& chain;
    size_t chainIndex, i;
    Packet& p;
    Frame& f;
    const Environment& env;
    Outcome& out;
    bool operator()(const VlanPopStage&) {
      if (!f.tags.empty()) f.tags.erase(f.tags.begin());
      return true;
    }
    bool operator()(const VlanPushStage& s) {
      f.tags.insert(f.tags.begin(), VlanTag{s.proto, s.id, s.prio});
      return true;
    }
    bool operator()(const TunnelDecapStage&) {
      if (p.inner) {
        p.frame = *p.inner;
        p.inner.reset();
        p.tunnel.reset();
      }
      return true;
    }
    bool operator()(const QueueStage& s) {
      p.queue = s.queue;
      return true;
    }
    bool operator()(const PoliceStage&) {
      if (env.policeExceeds.contains({chainIndex, i})) {
        out.dropped = true;
        return false;
      }
      return true;
    }
    bool operator()(const MarkStage& s) {
      p.mark = s.mark;
      return true;
    }
    bool operator()(const MirrorStage& s) {
      out.deliveries.push_back(deliveryTo(s.to, p, true));
      return true;
    }
    bool operator()(const DropStage&) {
      out.dropped = true;
      return false;
    }
    bool operator()(const BpfStage&) {
      p.trace.push_back(chain.name + "/" + std::to_string(i));
      return true;
    }
    bool operator()(const DeliverStage& s) {
      out.deliveries.push_back(deliveryTo(s.to, p, false));
      return false;
    }
  };
  return std::visit(Visitor{chain, chainIndex, i, p, f, env, out}, s.op);
}

// Runs stages [from, to) of a chain; false when the chain ended inside.
bool runStages(const Chain& chain, size_t chainIndex, size_t from, size_t to, Packet& p,
               const Environment& env, Outcome& out) {
  for (size_t i = from; i < to; ++i)
    if (!runStage(chain, chainIndex, i, p, env, out)) return false;
  return true;
}

Outcome defaultPath(const Packet& p) {
  // No chain matched: the packet goes up the host stack where it arrived.
  Outcome out;
  out.deliveries.push_back(deliveryTo(Target{TargetKind::kHost, 0}, p, false));
  return out;
}

// The IP version a NIC rule's tc protocol names. A tunnel chain's rule sits
// on the tunnel device, which sees the packet inside the tunnel.
bool ruleL3Matches(IpVersion l3, const Packet& p, bool tunnelRule) {
  const Frame& f = tunnelRule && p.inner ? *p.inner : p.frame;
  switch (l3) {
    case IpVersion::kV4: return f.isIp4();
    case IpVersion::kV6: return f.isIp6();
    default: return true;
  }
}

Outcome hostClassify(const Policy& policy, const Plan& plan, const Packet& p,
                     const Environment& env) {
  // Host rules for classification, in priority order for this side.
  std::vector<const HostRule*> rules;
  for (const auto& h : plan.hostRules)
    if (h.entry == HostEntry::kClassify && h.from == p.in) rules.push_back(&h);
  std::stable_sort(rules.begin(), rules.end(),
                   [](const HostRule* a, const HostRule* b) { return a->priority < b->priority; });
  for (const HostRule* h : rules) {
    const Chain& chain = policy.chains[h->chain];
    if (!matches(chain.match, p)) continue;
    Outcome out;
    out.chain = h->chain;
    Packet q = p;
    runStages(chain, h->chain, h->startStage, chain.stages.size(), q, env, out);
    return out;
  }
  return defaultPath(p);
}

}  // namespace

bool matches(const Match& m, const Packet& p) {
  if (m.from != p.in) return false;
  if (!m.tunnel) return frameMatches(m, p.frame);
  const TunnelMatch& t = *m.tunnel;
  if (!p.tunnel || !p.inner || p.tunnel->type != t.type) return false;
  const Frame& outer = p.frame;
  if (!(outer.isIp4() || outer.isIp6()) || outer.ipProto != 17 || outer.dstPort != t.dstPort)
    return false;
  if (t.vni && *t.vni != p.tunnel->vni) return false;
  if (!prefixMatches(t.srcIp, outer.srcIp, outer.isIp6()) ||
      !prefixMatches(t.dstIp, outer.dstIp, outer.isIp6()))
    return false;
  return frameMatches(m, *p.inner);
}

Outcome runWhole(const Policy& policy, const Packet& packet, const Environment& env) {
  std::vector<size_t> order;
  for (size_t i = 0; i < policy.chains.size(); ++i)
    if (policy.chains[i].match.from == packet.in) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return policy.chains[a].priority < policy.chains[b].priority;
  });
  for (size_t i : order) {
    const Chain& chain = policy.chains[i];
    if (!matches(chain.match, packet)) continue;
    Outcome out;
    out.chain = i;
    Packet p = packet;
    runStages(chain, i, 0, chain.stages.size(), p, env, out);
    return out;
  }
  return defaultPath(packet);
}

NicLookup nicLookup(const Policy& policy, const Plan& plan, const Packet& packet) {
  NicLookup found;
  for (const NicRule& rule : plan.nicRules) {
    const Chain& chain = policy.chains[rule.chain];
    if (rule.from != packet.in || !ruleL3Matches(rule.l3, packet, chain.match.tunnel.has_value()))
      continue;
    if (!matches(chain.match, packet)) continue;
    if (!found.rule || rule.tcPriority < found.rule->tcPriority) {
      found = {&rule, nullptr};
    } else if (rule.tcPriority == found.rule->tcPriority && !found.tie) {
      found.tie = &rule;
    }
  }
  return found;
}

Outcome runSplit(const Policy& policy, const Plan& plan, const Profile& profile,
                 const Packet& packet, const Environment& env) {
  const NicLookup lookup = nicLookup(policy, plan, packet);
  if (const NicRule* found = lookup.rule) {
    const NicRule& rule = *found;
    const Chain& chain = policy.chains[rule.chain];
    Outcome out;
    out.chain = rule.chain;
    if (lookup.tie) {
      out.violation = "NIC rules of chains " + chain.name + " and " + policy.chains[lookup.tie->chain].name +
                      " share tc priority " + std::to_string(rule.tcPriority) + " and both match";
      return out;
    }
    if (auto why = whyMatchNotInNic(profile, chain.match)) {
      out.violation = "NIC rule for chain " + chain.name + " matches what it cannot: " + *why;
      return out;
    }
    for (size_t i = 0; i < rule.stageCount; ++i) {
      if (auto why = whyStageNotInNic(profile, chain, i)) {
        out.violation = "NIC runs what it cannot: " + *why;
        return out;
      }
    }
    Packet p = packet;
    if (!runStages(chain, rule.chain, 0, rule.stageCount, p, env, out)) return out;
    switch (rule.exit) {
      case NicExit::kTerminal:
        out.violation = "NIC rule for chain " + chain.name + " ended without deliver or drop";
        return out;
      case NicExit::kGotoChain: {
        // The host resumes in the continuation tc chain with the packet as
        // the NIC left it.
        const HostRule* cont = nullptr;
        for (const auto& h : plan.hostRules)
          if (h.entry == HostEntry::kContinuation && h.tcChain == rule.gotoTcChain) cont = &h;
        if (!cont) {
          out.violation = "no host continuation for tc chain " + std::to_string(rule.gotoTcChain);
          return out;
        }
        runStages(chain, rule.chain, cont->startStage, chain.stages.size(), p, env, out);
        return out;
      }
      case NicExit::kTrap: {
        // The host sees the unmodified packet and classifies it itself.
        if (rule.stageCount != 0) {
          out.violation = "a trap rule must not change the packet before the host sees it";
          return out;
        }
        return hostClassify(policy, plan, packet, env);
      }
    }
  }
  // A NIC miss: the packet reaches the host unchanged.
  return hostClassify(policy, plan, packet, env);
}

std::string Outcome::describe() const {
  std::string s = chain ? "chain #" + std::to_string(*chain) : std::string("default path");
  if (!violation.empty()) return s + " VIOLATION: " + violation;
  if (dropped) s += ", dropped";
  for (const auto& d : deliveries) {
    s += d.mirror ? ", mirror to " : ", deliver to ";
    s += d.to.str();
    s += " (tags " + std::to_string(d.packet.frame.tags.size()) + ", mark " +
         std::to_string(d.packet.mark) + (d.packet.tunnel ? ", tunnelled" : "") +
         (d.packet.queue ? ", queue " + std::to_string(*d.packet.queue) : "") + ", trace " +
         std::to_string(d.packet.trace.size()) + ")";
  }
  return s;
}

}  // namespace vfsteer::demux
