#include "engine/u32_rules.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>

#include <cstring>

#include "engine/encoded_match.hpp"
#include "vfsteer/demux/tc_layout.hpp"
#include "vfsteer/demux/u32_layout.hpp"

namespace vfsteer::engine {

namespace tc = netlink::tc;
using namespace policies;

namespace {

// IPv4 header offsets u32 keys use (ixgbe_ipv4_fields, ixgbe_ipv4_jumps).
constexpr int32_t kProtocolWord = 8;  // TTL, protocol, checksum
constexpr int32_t kSrcIpWord = 12;
constexpr int32_t kDstIpWord = 16;
// In a linked table the keys are relative to the L4 header (the link ate
// the IP header): source and destination port in one word, "nexthdr+" as tc
// writes port matches.
constexpr int32_t kPortsWord = 0;
constexpr int32_t kNextHeader = -1;

uint32_t be32(const MaskedBytes<4>& m, bool mask) {
  uint32_t v;
  std::memcpy(&v, mask ? m.mask.data() : m.value.data(), 4);
  return v;  // already in network order
}

tc::Filter base(const U32Bindings& b, uint32_t handle) {
  tc::Filter f;
  f.ifindex = b.pfIfindex.value;
  f.parent = tc::kIngress;
  f.priority = demux::kU32Priority;
  f.protocol = ETH_P_IP;
  f.handle = handle;
  return f;
}

uint32_t flags(const U32Bindings& b) { return b.emulated ? tc::kSkipHw : tc::kSkipSw; }

// The IP keys every rule reads in the root table.
void addIpKeys(const EncodedMatch& e, tc::U32& u) {
  if (e.srcIp) u.keys.push_back({be32(e.srcIp->v4(), false), be32(e.srcIp->v4(), true), kSrcIpWord, 0});
  if (e.dstIp) u.keys.push_back({be32(e.dstIp->v4(), false), be32(e.dstIp->v4(), true), kDstIpWord, 0});
}

// The chain's one NIC stage: ixgbe acts on the first action only.
Result<tc::Action> actionFor(const Chain& chain, const demux::NicRule& rule, const U32Bindings& b) {
  if (rule.stageCount != 1 || rule.exit != demux::NicExit::kTerminal)
    return Error(ErrorCode::kInternal, "chain " + chain.name + ": a u32 NIC rule runs exactly one final stage");
  const Stage& s = chain.stages[0];
  if (std::holds_alternative<DropStage>(s.op)) return ownedAction(tc::Gact{}, TC_ACT_SHOT, b.cookie);
  if (auto* d = std::get_if<DeliverStage>(&s.op); d && d->to.kind == TargetKind::kVf) {
    auto it = b.vfIfindex.find(VfIndex{d->to.index});
    if (it == b.vfIfindex.end())
      return Error(ErrorCode::kNotFound, "chain " + chain.name + ": VF " + std::to_string(d->to.index) +
                                             " has no netdev on this host to redirect to (bind it to its "
                                             "driver, e.g. ixgbevf)");
    return ownedAction(tc::Mirred{tc::Mirred::Op::kEgressRedirect, static_cast<uint32_t>(it->second.value)},
                       TC_ACT_STOLEN, b.cookie);
  }
  return Error(ErrorCode::kInternal, "chain " + chain.name + ": stage " + s.describe() + " has no u32 action");
}

}  // namespace

bool sameU32Filter(const tc::Filter& a, const tc::Filter& b) {
  const auto* ua = std::get_if<tc::U32>(&a.spec);
  const auto* ub = std::get_if<tc::U32>(&b.spec);
  if (!ua || !ub) return false;
  if (a.parent != b.parent || a.priority != b.priority || a.protocol != b.protocol || a.handle != b.handle ||
      a.chain.value_or(0) != b.chain.value_or(0))
    return false;
  if (ua->divisor || ub->divisor) return ua->divisor == ub->divisor;
  constexpr uint32_t kAsked = tc::kSkipSw | tc::kSkipHw;
  if (ua->keys != ub->keys || ua->terminal != ub->terminal || ua->link != ub->link ||
      ua->nextHeader != ub->nextHeader || ua->classid != ub->classid || (ua->flags & kAsked) != (ub->flags & kAsked) ||
      ua->actions.size() != ub->actions.size())
    return false;
  for (size_t i = 0; i < ua->actions.size(); ++i)
    if (!ua->actions[i].sameConfig(ub->actions[i])) return false;
  return true;
}

std::optional<std::string> vfNetdevName(const representors::Topology& topology, uint16_t vf) {
  if (const auto* rep = topology.representor(vf)) return rep->ifname;
  if (auto it = topology.vfNetdevs.find(vf); it != topology.vfNetdevs.end()) return it->second;
  return std::nullopt;
}

Result<U32Filters> buildU32Filters(const Policy& policy, const demux::Plan& plan, const U32Bindings& b) {
  U32Filters out;
  for (const auto& link : plan.u32Links) {
    tc::Filter table = base(b, demux::u32TableHandle(link.table));
    tc::U32 t;
    t.divisor = 1;  // ixgbe takes tables without hash buckets only
    table.spec = t;
    out.tables.push_back(std::move(table));

    const EncodedMatch e = encodeMatch(policy.chains[link.chain].match, IpVersion::kV4);
    tc::Filter f = base(b, demux::u32NodeHandle(demux::kU32RootTable, link.node));
    tc::U32 u;
    u.terminal = false;
    u.flags = flags(b);
    u.link = demux::u32TableHandle(link.table);
    // The IPv4 header's length (IHL, in 32-bit words) read as (u16 at 0 &
    // 0x0f00) >> 6: bytes.
    u.nextHeader = tc::U32NextHeader{0, 0x0f00, 6, 0, true};
    addIpKeys(e, u);
    u.keys.push_back({htonl(uint32_t{*e.ipProto} << 16), htonl(0x00ff0000), kProtocolWord, 0});
    f.spec = std::move(u);
    out.links.push_back(std::move(f));
  }
  for (const auto& rule : plan.nicRules) {
    const Chain& chain = policy.chains[rule.chain];
    const EncodedMatch e = encodeMatch(chain.match, IpVersion::kV4);
    NicRule nr;
    nr.device = b.pfName;
    nr.chain = chain.name;
    nr.exit = rule.exit;
    nr.skipSw = plan.chains[rule.chain].mode == OffloadMode::kSkipSw;
    nr.filter = base(b, rule.tcHandle);
    tc::U32 u;
    u.flags = flags(b);
    const uint32_t table = rule.tcHandle >> 20;
    if (table == demux::kU32RootTable) {
      addIpKeys(e, u);
    } else {
      // The link matched the addresses and the protocol. A port key is
      // needed even when no port is matched: without one ixgbe leaves the
      // rule's flow type at IPv4 (ixgbe_clsu32_build_input), which would
      // take every protocol.
      u.table = demux::u32TableHandle(table);
      const uint32_t ports = (uint32_t{e.srcPort.value_or(0)} << 16) | e.dstPort.value_or(0);
      const uint32_t mask = (e.srcPort ? 0xffff0000u : 0) | (e.dstPort ? 0x0000ffffu : 0);
      u.keys.push_back({htonl(ports), htonl(mask), kPortsWord, kNextHeader});
    }
    VFSTEER_ASSIGN_OR_RETURN(tc::Action a, actionFor(chain, rule, b));
    u.actions.push_back(std::move(a));
    nr.filter.spec = std::move(u);
    out.rules.push_back(std::move(nr));
  }
  return out;
}

}  // namespace vfsteer::engine
