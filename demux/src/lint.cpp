#include "vfsteer/demux/lint.hpp"

#include <algorithm>
#include <numeric>
#include <unordered_map>

namespace vfsteer::demux {

using namespace policies;

namespace {

// `a` absent, or present and equal to `b`'s (which must be present).
template <class T>
bool fieldCovers(const std::optional<T>& a, const std::optional<T>& b) {
  return !a || (b && *a == *b);
}

bool macCovers(const std::optional<MacMatch>& a, const std::optional<MacMatch>& b) {
  if (!a) return true;
  if (!b) return false;
  for (size_t i = 0; i < 6; ++i) {
    if ((a->mask.bytes[i] & b->mask.bytes[i]) != a->mask.bytes[i]) return false;  // b leaves a bit a needs free
    if ((a->addr.bytes[i] ^ b->addr.bytes[i]) & a->mask.bytes[i]) return false;
  }
  return true;
}

bool prefixCovers(const std::optional<IpPrefix>& a, const std::optional<IpPrefix>& b) {
  return !a || (b && a->contains(*b));
}

bool vlanCovers(const std::optional<VlanMatch>& a, const std::optional<VlanMatch>& b) {
  if (!a) return true;
  return b && a->proto == b->proto && fieldCovers(a->id, b->id) && fieldCovers(a->prio, b->prio);
}

bool versionCovers(IpVersion a, IpVersion b) {
  if (a == IpVersion::kNone) return true;
  if (a == IpVersion::kAny) return b != IpVersion::kNone;
  return a == b;
}

bool matchesEverything(const Match& m) {
  return !m.srcMac && !m.dstMac && !m.ethertype && !m.vlan && !m.cvlan && !m.untagged &&
         m.ipVersion == IpVersion::kNone &&
         !m.srcIp && !m.dstIp && !m.ipProto && !m.srcPort && !m.dstPort && !m.tunnel;
}

}  // namespace

bool covers(const Match& a, const Match& b) {
  if (a.from != b.from) return false;
  if (matchesEverything(a)) return true;  // everything from that side
  if (a.tunnel.has_value() != b.tunnel.has_value()) return false;
  if (a.tunnel) {
    const TunnelMatch& x = *a.tunnel;
    const TunnelMatch& y = *b.tunnel;
    if (x.type != y.type || x.dstPort != y.dstPort || !fieldCovers(x.vni, y.vni) ||
        !prefixCovers(x.srcIp, y.srcIp) || !prefixCovers(x.dstIp, y.dstIp))
      return false;
  }
  // A match without a tag key and with frame keys: whether it selects
  // tagged frames depends on the classifier; do not claim it does.
  if ((b.vlan && !a.vlan) || (b.cvlan && !a.cvlan)) return false;
  if (a.untagged && !b.untagged) return false;
  return macCovers(a.srcMac, b.srcMac) && macCovers(a.dstMac, b.dstMac) && vlanCovers(a.vlan, b.vlan) &&
         vlanCovers(a.cvlan, b.cvlan) && fieldCovers(a.ethertype, b.ethertype) &&
         versionCovers(a.ipVersion, b.ipVersion) && prefixCovers(a.srcIp, b.srcIp) &&
         prefixCovers(a.dstIp, b.dstIp) && fieldCovers(a.ipProto, b.ipProto) && fieldCovers(a.srcPort, b.srcPort) &&
         fieldCovers(a.dstPort, b.dstPort);
}

std::vector<Warning> lint(const Policy& policy, const Plan& plan, const LintOptions& options) {
  std::vector<Warning> out;
  const auto& chains = policy.chains;

  // Chains in match order (priority; overlapping chains of one priority are
  // refused by the loader), for the shadowing check. Only a chain without a
  // dst_port or with b's can cover b: earlier chains are kept in lists by
  // dst_port, and b is held against two of them, so port-keyed policies cost
  // little more than their size; a budget bounds the rest.
  std::vector<size_t> order(chains.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return chains[x].priority < chains[y].priority; });
  std::vector<std::optional<size_t>> shadowedBy(chains.size());
  std::unordered_map<uint32_t, std::vector<size_t>> earlierByPort;  // kNoPort: without a dst_port
  constexpr uint32_t kNoPort = 1u << 16;
  size_t comparisons = 0;
  std::optional<size_t> stoppedAt;  // the chain where the comparison budget ran out
  auto firstCovering = [&](uint32_t port, const Chain& b) -> std::optional<size_t> {
    auto it = earlierByPort.find(port);
    if (it == earlierByPort.end()) return std::nullopt;
    for (size_t e : it->second)
      if (++comparisons, chains[e].priority < b.priority && covers(chains[e].match, b.match)) return e;
    return std::nullopt;
  };
  for (size_t c : order) {
    if (comparisons > options.maxShadowComparisons) {
      stoppedAt = c;
      break;
    }
    const Chain& b = chains[c];
    auto wild = firstCovering(kNoPort, b);
    auto same = b.match.dstPort ? firstCovering(*b.match.dstPort, b) : std::nullopt;
    if (wild && same) shadowedBy[c] = chains[*wild].priority <= chains[*same].priority ? wild : same;
    else shadowedBy[c] = wild ? wild : same;
    earlierByPort[b.match.dstPort ? *b.match.dstPort : kNoPort].push_back(c);
  }

  bool vfWithoutVfs = false;
  for (size_t c = 0; c < chains.size(); ++c) {
    const Chain& chain = chains[c];
    auto warn = [&](const SourcePos& pos, std::string message) {
      out.push_back({chain.name, pos, "chain " + chain.name + ": " + std::move(message)});
    };
    if (shadowedBy[c]) {
      const Chain& e = chains[*shadowedBy[c]];
      warn(chain.match.pos, "can never match: chain " + e.name + " (priority " + std::to_string(e.priority) +
                                ") comes first and matches every packet this one does");
    }
    std::optional<Target> delivered, mirrored;
    const Stage* mirrorStage = nullptr;
    for (const auto& stage : chain.stages) {
      if (const auto* d = std::get_if<DeliverStage>(&stage.op)) delivered = d->to;
      if (const auto* m = std::get_if<MirrorStage>(&stage.op)) {
        mirrored = m->to;
        mirrorStage = &stage;
      }
      if (const auto* b = std::get_if<BpfStage>(&stage.op); b && options.fileExists && !options.fileExists(b->object))
        warn(stage.pos, "bpf object " + b->object + " does not exist (apply will fail until it does)");
      const Target* to = std::get_if<DeliverStage>(&stage.op) ? &std::get<DeliverStage>(stage.op).to
                         : std::get_if<MirrorStage>(&stage.op) ? &std::get<MirrorStage>(stage.op).to
                                                               : nullptr;
      if (to && to->kind == TargetKind::kVf && !policy.device.vfsDeclared && !vfWithoutVfs) {
        vfWithoutVfs = true;
        warn(stage.pos, "sends to " + to->str() +
                            ", but the policy has no device.vfs section: vfsteer creates no VFs then, so they "
                            "must exist already (add vfs: {count: N} to have vfsteer create them)");
      }
    }
    if (delivered && mirrored && *delivered == *mirrored && mirrored->kind == TargetKind::kVf)
      warn(mirrorStage->pos, "mirrors to " + mirrored->str() + " and delivers to it too: " +
                                 mirrored->str() + " gets every packet twice");
    if (c < plan.chains.size()) {
      const ChainPlan& cp = plan.chains[c];
      if (cp.mode == OffloadMode::kSkipSw && cp.demuxInNic && cp.split == 0 && !cp.stages.empty())
        warn(chain.pos, "is skip-sw, but only its match runs in the NIC; every stage runs on the host (" +
                            cp.reason + ")");
    }
  }
  if (stoppedAt)
    out.push_back({"", chains[*stoppedAt].pos,
                   "chains from " + chains[*stoppedAt].name + " on (in priority order) were not checked for "
                   "being shadowed: too many chains without a dst_port to compare pairwise"});
  return out;
}

}  // namespace vfsteer::demux
