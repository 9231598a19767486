#include "vfsteer/demux/splitter.hpp"

#include <algorithm>
#include <map>
#include <numeric>

#include "vfsteer/demux/capabilities.hpp"
#include "vfsteer/demux/overlap.hpp"
#include "vfsteer/demux/priority_packing.hpp"
#include "vfsteer/demux/tc_layout.hpp"

namespace vfsteer::demux {

using namespace policies;

std::string_view name(Placement placement) {
  return placement == Placement::kNic ? "nic" : "host";
}

std::string_view name(Handover handover) {
  switch (handover) {
    case Handover::kNone: return "none";
    case Handover::kContinue: return "continue";
    case Handover::kTrap: return "trap";
    case Handover::kHostOnly: return "host-only";
  }
  return "?";
}

namespace {

OffloadMode effectiveMode(const Chain& chain, const PlanOptions& options) {
  if (auto it = options.chains.find(chain.name); it != options.chains.end()) return it->second;
  if (options.all) return *options.all;
  return chain.offload;
}

// The split each chain would get on its own, before chains are compared.
ChainPlan splitChain(const Chain& chain, const Profile& profile, OffloadMode mode) {
  ChainPlan cp;
  cp.name = chain.name;
  cp.priority = chain.priority;
  cp.from = chain.match.from;
  cp.mode = mode;
  cp.continueTcChain = continueChain(chain.priority);
  const size_t n = chain.stages.size();

  size_t capable = 0;  // longest prefix the NIC could run
  std::string stopReason;
  auto matchReason = whyMatchNotInNic(profile, chain.match);
  if (mode == OffloadMode::kSkipHw) {
    stopReason = "offload skip-hw keeps this chain on the host";
  } else if (matchReason) {
    stopReason = *matchReason;
  } else {
    for (; capable < n; ++capable) {
      if (auto why = whyStageNotInNic(profile, chain, capable)) {
        stopReason = *why;
        break;
      }
    }
  }

  const std::string p = "profile " + profile.name;
  if (mode == OffloadMode::kSkipHw || matchReason) {
    cp.handover = Handover::kHostOnly;
    cp.split = 0;
    cp.reason = stopReason;
  } else if (capable == n) {
    cp.handover = Handover::kNone;
    cp.split = n;
  } else if (profile.missToSoftware) {
    cp.handover = Handover::kContinue;
    cp.split = capable;
    cp.reason = stopReason;
  } else if (profile.trapToHost) {
    cp.handover = Handover::kTrap;
    cp.split = 0;
    cp.reason = stopReason;
    if (capable > 0)
      cp.reason += "; " + p + " cannot continue a chain in software after the NIC, so the NIC "
                   "only demuxes and the host runs every stage";
  } else {
    cp.handover = Handover::kHostOnly;
    cp.split = 0;
    cp.reason = stopReason + "; " + p + " can neither continue a chain in software nor hand a "
                "matched packet to the host, so the whole chain runs on the host";
  }
  cp.demuxInNic = cp.handover != Handover::kHostOnly;
  return cp;
}

void fillStages(const Chain& chain, ChainPlan& cp) {
  cp.stages.clear();
  for (size_t i = 0; i < chain.stages.size(); ++i) {
    StagePlan sp;
    sp.kind = chain.stages[i].kind();
    sp.description = chain.stages[i].describe();
    sp.where = i < cp.split ? Placement::kNic : Placement::kHost;
    if (sp.where == Placement::kHost) {
      if (i == cp.split) sp.reason = cp.reason;
      else sp.reason = "after stage " + std::to_string(cp.split) + ", the rest of the chain runs on the host";
    }
    cp.stages.push_back(std::move(sp));
  }
}

// The conditions of the claims the chain's NIC part relies on.
void noteConditions(const Chain& chain, const Profile& profile, ChainPlan& cp) {
  cp.conditions.clear();
  if (!cp.demuxInNic || profile.conditions.empty()) return;
  // The words are the vocabulary's own (string_views of static text); a
  // chain uses a handful, so "seen" is a search of those noted so far.
  std::vector<std::string_view> noted;
  auto note = [&](std::string_view word) {
    auto it = profile.conditions.find(word);
    if (it == profile.conditions.end() || std::find(noted.begin(), noted.end(), word) != noted.end()) return;
    noted.push_back(word);
    cp.conditions.push_back(it->first + ": " + it->second);
  };
  for (MatchKey key : chain.match.keys()) note(name(key));
  if (chain.match.tunnel) note(name(chain.match.tunnel->type));
  for (size_t i = 0; i < cp.split; ++i) note(name(chain.stages[i].kind()));
}

void demoteToHost(ChainPlan& cp, std::string reason) {
  cp.handover = Handover::kHostOnly;
  cp.split = 0;
  cp.demuxInNic = false;
  cp.reason = std::move(reason);
}

// Within one ingress side, the NIC sees only chains with a NIC rule and the
// host only the others. If a host-only chain can match a packet that a later
// chain's NIC rule also matches, the NIC would take the packet first and break
// priority order; such later chains must run on the host too. The host-only
// chains of each side are indexed by their match keys, so a chain is compared
// only with those it may overlap: linear in the chains for usual policies.
void keepPriorityOrder(const Policy& policy, const std::vector<size_t>& order,
                       std::vector<ChainPlan>& plans) {
  std::map<Port, std::pair<OverlapIndex, std::vector<size_t>>> hostOnly;  // per side: index, chain of each entry
  for (size_t i : order) {
    ChainPlan& cp = plans[i];
    auto& [index, chainAt] = hostOnly[cp.from];
    if (cp.demuxInNic) {
      auto earlier = index.firstOverlap(policy.chains[i].match);
      if (!earlier) continue;
      const ChainPlan& e = plans[chainAt[*earlier]];
      demoteToHost(cp, "chain " + e.name + " (priority " + std::to_string(e.priority) +
                           ") runs on the host only and may match the same packets; to keep "
                           "priority order this chain runs on the host too (it stays in the NIC "
                           "if the matches cannot meet, e.g. by a dst_port or vlan of their own, or "
                           "with a priority number below " + std::to_string(e.priority) +
                           " if it should come first)");
    }
    index.add(policy.chains[i].match);
    chainAt.push_back(i);
  }
}

// The IP versions of the packet a NIC rule's tc protocol names. A tunnel
// chain's rule sits on the tunnel device, where tc sees the inner packet;
// the outer version is in its enc_ keys.
std::vector<IpVersion> ruleVersions(const Match& m) {
  if (m.ipVersion == IpVersion::kAny) return {IpVersion::kV4, IpVersion::kV6};
  return {m.ipVersion};
}

// With a profile priority range (tc_priorities), the tc priority of each NIC
// rule, by (chain, IP version). Chains whose rules do not fit move to the
// host, and so do the chains that must then follow them (keepPriorityOrder);
// what is left is packed again until it fits (each round moves at least one
// chain, so it ends).
std::map<std::pair<size_t, IpVersion>, uint16_t> fitPriorityRange(const Policy& policy, const Profile& profile,
                                                                  const std::vector<size_t>& order,
                                                                  std::vector<ChainPlan>& plans) {
  std::map<std::pair<size_t, IpVersion>, uint16_t> out;
  if (profile.tcPriorities <= 0) return out;
  for (;;) {
    std::vector<RuleToPack> rules;
    std::vector<std::pair<size_t, IpVersion>> ruleOf;
    for (size_t i : order) {
      if (!plans[i].demuxInNic) continue;
      const Match& m = policy.chains[i].match;
      for (IpVersion l3 : ruleVersions(m)) {
        rules.push_back({&m, l3, m.tcProtocol(l3)});
        ruleOf.emplace_back(i, l3);
      }
    }
    const std::vector<uint16_t> prio = packPriorities(rules, profile.tcPriorities);
    bool demoted = false;
    for (size_t k = 0; k < rules.size(); ++k) {
      ChainPlan& cp = plans[ruleOf[k].first];
      if (prio[k] != 0 || !cp.demuxInNic) continue;
      demoteToHost(cp, "profile " + profile.name + " takes NIC rules at tc priorities 1.." +
                           std::to_string(profile.tcPriorities) +
                           " only, and the chains before this one that may match the same packets "
                           "(or hold those priorities for another protocol) use them all");
      demoted = true;
    }
    if (!demoted) {
      for (size_t k = 0; k < rules.size(); ++k) out[ruleOf[k]] = prio[k];
      return out;
    }
    keepPriorityOrder(policy, order, plans);
  }
}

// In legacy mode there are no representors: the host's part of a chain runs
// on the PF's ingress and cannot hand a packet to a VF (it would leave the
// PF towards the wire). Such a chain must run whole in the NIC.
std::optional<std::string> whyHostCannotRun(const Policy& policy, const Chain& chain, const ChainPlan& cp) {
  if (!policy.device.eswitchDeclared || policy.device.eswitch != EswitchMode::kLegacy) return std::nullopt;
  if (cp.handover == Handover::kNone) return std::nullopt;
  const size_t from = cp.handover == Handover::kContinue ? cp.split : 0;
  for (size_t s = from; s < chain.stages.size(); ++s) {
    const Target* to = nullptr;
    if (auto* d = std::get_if<DeliverStage>(&chain.stages[s].op)) to = &d->to;
    if (auto* m = std::get_if<MirrorStage>(&chain.stages[s].op)) to = &m->to;
    if (!to || to->kind != TargetKind::kVf) continue;
    return "chain " + chain.name + " sends to " + to->str() + " from the host (stage " + std::to_string(s) +
           "), which legacy mode cannot: there are no representors to trombone through. It runs on the host "
           "because " + cp.reason + ". Make the chain fit the NIC, or set device.eswitch: switchdev on a NIC "
           "that has it";
  }
  return std::nullopt;
}

// A flow director keeps one mask for all rules (profile shared_mask), or
// one per IP protocol (mask_per_protocol): the first chain in the NIC (in
// match order) sets it, and chains that would need another run on the
// host.
void keepOneMask(const Policy& policy, const Profile& profile, const std::vector<size_t>& order,
                 std::vector<ChainPlan>& plans) {
  std::map<std::optional<uint8_t>, std::pair<MatchMask, size_t>> first;  // by protocol, or all under nullopt
  for (size_t i : order) {
    ChainPlan& cp = plans[i];
    if (!cp.demuxInNic) continue;
    const Match& match = policy.chains[i].match;
    const MatchMask mask = matchMask(match);
    const std::optional<uint8_t> group = profile.maskPerProtocol ? match.ipProto : std::nullopt;
    auto [it, fresh] = first.try_emplace(group, mask, i);
    if (fresh || mask == it->second.first) continue;
    const ChainPlan& setter = plans[it->second.second];
    std::string scope = "one match mask for all hardware rules (";
    if (profile.maskPerProtocol) {
      const auto known = group ? ipProtocolName(*group) : std::nullopt;
      const std::string protocol = !group ? "no protocol" : known ? std::string(*known) : std::to_string(*group);
      scope = "one match mask for the hardware rules of each protocol (for " + protocol + ": ";
    }
    demoteToHost(cp, "profile " + profile.name + " holds " + scope + it->second.first.str() + ", set by chain " +
                         setter.name + "), and this chain matches " + mask.str());
  }
}

// A flow director's filters have no order between them, and two with the
// same match are one filter to the hardware (ixgbe keys its perfect
// filters by their fields' hash; i40e refuses the second,
// i40e_disallow_matching_filters()). Of chains with the same match, the
// first in match order keeps the NIC; the others, which it shadows, run on
// the host, where no packet of that match reaches them.
void keepOneRulePerMatch(const Policy& policy, const std::vector<size_t>& order, std::vector<ChainPlan>& plans) {
  // The loader refuses a prefix with host bits set: equal text, equal prefix.
  auto prefix = [](const std::optional<IpPrefix>& p) { return p ? p->str() : std::string("-"); };
  std::map<std::string, size_t> first;  // the fields' values → the chain that holds them
  for (size_t i : order) {
    ChainPlan& cp = plans[i];
    if (!cp.demuxInNic) continue;
    const Match& m = policy.chains[i].match;
    const std::string values = prefix(m.srcIp) + " " + prefix(m.dstIp) + " " +
                               (m.ipProto ? std::to_string(*m.ipProto) : "-") + " " +
                               (m.srcPort ? std::to_string(*m.srcPort) : "-") + " " +
                               (m.dstPort ? std::to_string(*m.dstPort) : "-");
    auto [it, fresh] = first.try_emplace(values, i);
    if (fresh) continue;
    demoteToHost(cp, "chain " + plans[it->second].name + " matches the same packets first, and a flow director "
                     "holds one filter per match (no order between filters)");
  }
}

// Engine u32: which chains fit the tables and node numbers of the device,
// and the layout of those that do. Chains that do not fit move to the host,
// and so do the chains that must then follow them; each round moves at
// least one chain, so it ends.
std::vector<std::pair<size_t, uint32_t>> fitU32Layout(const Policy& policy, const Profile& profile,
                                                      const std::vector<size_t>& order,
                                                      std::vector<ChainPlan>& plans, std::vector<U32Link>& links) {
  for (;;) {
    std::vector<U32Rule> rules;
    for (size_t i : order)
      if (plans[i].demuxInNic) rules.push_back({&policy.chains[i].match, i, policy.chains[i].priority});
    U32Layout layout = layoutU32(rules, profile.u32LinkTables);
    bool demoted = false;
    for (size_t k = 0; k < rules.size(); ++k) {
      if (layout.whyNot[k].empty()) continue;
      demoteToHost(plans[rules[k].chain], "profile " + profile.name + ": " + layout.whyNot[k]);
      demoted = true;
    }
    if (!demoted) {
      links = std::move(layout.links);
      std::vector<std::pair<size_t, uint32_t>> out;
      for (size_t k = 0; k < rules.size(); ++k) out.emplace_back(rules[k].chain, layout.handles[k]);
      return out;
    }
    keepPriorityOrder(policy, order, plans);
  }
}

// Engine ntuple: a location for every NIC chain (ntuple_layout.hpp); a
// chain that gets none moves to the host, and so do the chains that must
// then follow it, until every one left has a location.
std::map<size_t, uint32_t> fitNtupleLayout(const Policy& policy, const Profile& profile,
                                           const std::vector<size_t>& order, std::vector<ChainPlan>& plans) {
  for (;;) {
    std::vector<size_t> chains;
    std::vector<NtupleRule> rules;
    for (size_t i : order)
      if (plans[i].demuxInNic) {
        chains.push_back(i);
        rules.push_back({&policy.chains[i].match, policy.chains[i].priority});
      }
    NtupleLayout layout = layoutNtuple(rules, static_cast<uint32_t>(profile.flowRuleLocations));
    bool demoted = false;
    for (size_t k = 0; k < rules.size(); ++k) {
      if (layout.whyNot[k].empty()) continue;
      demoteToHost(plans[chains[k]], "profile " + profile.name + ": " + layout.whyNot[k]);
      demoted = true;
    }
    if (!demoted) {
      std::map<size_t, uint32_t> out;
      for (size_t k = 0; k < chains.size(); ++k) out[chains[k]] = layout.locations[k];
      return out;
    }
    keepPriorityOrder(policy, order, plans);
  }
}

}  // namespace

Result<Plan> plan(const Policy& policy, const Profile& profile, const PlanOptions& options) {
  for (const auto& [chainName, mode] : options.chains) {
    if (!policy.findChain(chainName))
      return Error(ErrorCode::kInvalidInput,
                   "no chain named \"" + chainName + "\" in " + policy.file + " (--" +
                       std::string(name(mode)) + ")");
  }
  Plan out;
  out.profile = profile.name;
  out.engine = profile.engine;
  if (!profile.switchdev && policy.device.eswitchDeclared && policy.device.eswitch == EswitchMode::kSwitchdev)
    out.errors.push_back({"", "profile " + profile.name + " has no switchdev mode (no representors); set device.eswitch: "
                              "legacy, or choose the profile of a NIC that has one",
                          policy.device.eswitchPos});
  for (const auto& chain : policy.chains) {
    ChainPlan cp = splitChain(chain, profile, effectiveMode(chain, options));
    if (auto it = options.refused.find(chain.name); it != options.refused.end() && cp.demuxInNic)
      demoteToHost(cp, it->second);
    out.chains.push_back(std::move(cp));
  }

  // Chains in match order: by side, then priority.
  std::vector<size_t> order(policy.chains.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const auto& x = policy.chains[a];
    const auto& y = policy.chains[b];
    return std::tie(x.match.from, x.priority) < std::tie(y.match.from, y.priority);
  });

  // The rule budget: chains past it (in match order) lose their NIC rules.
  if (profile.ruleBudget > 0) {
    int used = 0;
    for (size_t i : order) {
      ChainPlan& cp = out.chains[i];
      if (!cp.demuxInNic) continue;
      int need = static_cast<int>(ruleVersions(policy.chains[i].match).size());
      if (used + need > profile.ruleBudget) {
        demoteToHost(cp, "profile " + profile.name + " holds at most " +
                             std::to_string(profile.ruleBudget) + " hardware rules");
        continue;
      }
      used += need;
    }
  }
  keepPriorityOrder(policy, order, out.chains);
  if (profile.sharedMask || profile.maskPerProtocol) {
    keepOneMask(policy, profile, order, out.chains);
    keepOneRulePerMatch(policy, order, out.chains);
    keepPriorityOrder(policy, order, out.chains);
  }
  const auto packed = fitPriorityRange(policy, profile, order, out.chains);
  std::map<size_t, uint32_t> u32Handle;
  if (profile.engine == NicEngine::kU32)
    for (const auto& [chain, handle] : fitU32Layout(policy, profile, order, out.chains, out.u32Links))
      u32Handle[chain] = handle;
  std::map<size_t, uint32_t> location;
  if (profile.engine == NicEngine::kNtuple) location = fitNtupleLayout(policy, profile, order, out.chains);

  for (size_t i = 0; i < policy.chains.size(); ++i) {
    const Chain& chain = policy.chains[i];
    ChainPlan& cp = out.chains[i];
    fillStages(chain, cp);
    noteConditions(chain, profile, cp);
    if (auto why = whyHostCannotRun(policy, chain, cp)) out.errors.push_back({chain.name, *why, chain.pos});
    if (cp.mode == OffloadMode::kSkipSw && !cp.demuxInNic)
      out.errors.push_back(
          {chain.name,
           "chain " + chain.name + " is skip-sw, but no part of it can run in the NIC: " + cp.reason,
           chain.pos});
  }

  for (size_t i : order) {
    const Chain& chain = policy.chains[i];
    const ChainPlan& cp = out.chains[i];
    if (cp.demuxInNic) {
      for (IpVersion l3 : ruleVersions(chain.match)) {
        NicRule r;
        r.chain = i;
        r.from = chain.match.from;
        r.l3 = l3;
        if (profile.engine == NicEngine::kU32) {
          r.tcPriority = kU32Priority;
          r.tcHandle = u32Handle.at(i);
        } else if (profile.engine == NicEngine::kNtuple) {
          r.tcPriority = 0;  // not a tc filter
          r.location = location.at(i);
        } else if (profile.tcPriorities > 0) {
          r.tcPriority = packed.at({i, l3});
          r.tcHandle = packedHandle(chain.priority, l3);
        } else {
          r.tcPriority = nicPriority(chain.priority, l3);
        }
        r.stageCount = cp.split;
        r.exit = cp.handover == Handover::kNone       ? NicExit::kTerminal
                 : cp.handover == Handover::kContinue ? NicExit::kGotoChain
                                                      : NicExit::kTrap;
        if (r.exit == NicExit::kGotoChain) r.gotoTcChain = cp.continueTcChain;
        out.nicRules.push_back(r);
      }
    }
    if (cp.handover != Handover::kNone) {
      HostRule h;
      h.chain = i;
      h.from = chain.match.from;
      h.priority = chain.priority;
      h.startStage = cp.handover == Handover::kContinue ? cp.split : 0;
      h.entry = cp.handover == Handover::kContinue ? HostEntry::kContinuation : HostEntry::kClassify;
      if (h.entry == HostEntry::kContinuation) h.tcChain = cp.continueTcChain;
      out.hostRules.push_back(h);
    }
  }
  return out;
}

}  // namespace vfsteer::demux
