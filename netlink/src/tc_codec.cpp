// tc qdisc/filter/action codecs. Attribute order follows what iproute2 6.1
// sends for the command line quoted above each encoder (tests/golden checks
// it byte for byte), so a capture of vfsteer and of tc can be diffed.
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/gen_stats.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_gact.h>
#include <linux/tc_act/tc_mirred.h>
#include <linux/tc_act/tc_skbedit.h>
#include <linux/tc_act/tc_tunnel_key.h>
#include <linux/tc_act/tc_vlan.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "vfsteer/netlink/tc.hpp"

namespace vfsteer::netlink::tc {

namespace {

// ---- attribute policies ------------------------------------------------------------
// What vfsteer writes and reads in each tc attribute space (the kernel's
// nla_policy in net/sched/*.c for the same attributes).

#define VFS_ATTR(type, kind) AttrSpec { type, #type, AttrType::kind }
#define VFS_STRUCT(type, size) AttrSpec { type, #type, AttrType::kBinary, static_cast<uint16_t>(size) }

constexpr AttrSpec kMirredSpecs[] = {VFS_STRUCT(TCA_MIRRED_PARMS, sizeof(tc_mirred))};
constexpr AttrSpec kVlanSpecs[] = {VFS_STRUCT(TCA_VLAN_PARMS, sizeof(tc_vlan)), VFS_ATTR(TCA_VLAN_PUSH_VLAN_ID, kU16),
                                   VFS_ATTR(TCA_VLAN_PUSH_VLAN_PROTOCOL, kU16),
                                   VFS_ATTR(TCA_VLAN_PUSH_VLAN_PRIORITY, kU8)};
constexpr AttrSpec kTunnelKeySpecs[] = {VFS_STRUCT(TCA_TUNNEL_KEY_PARMS, sizeof(tc_tunnel_key)),
                                        VFS_ATTR(TCA_TUNNEL_KEY_NO_CSUM, kU8)};
constexpr AttrSpec kGactSpecs[] = {VFS_STRUCT(TCA_GACT_PARMS, sizeof(tc_gact))};
constexpr AttrSpec kSkbeditSpecs[] = {VFS_STRUCT(TCA_SKBEDIT_PARMS, sizeof(tc_skbedit)),
                                      VFS_ATTR(TCA_SKBEDIT_QUEUE_MAPPING, kU16), VFS_ATTR(TCA_SKBEDIT_MARK, kU32)};
constexpr AttrSpec kPoliceSpecs[] = {VFS_STRUCT(TCA_POLICE_TBF, sizeof(tc_police)), VFS_STRUCT(TCA_POLICE_RATE, 1024),
                                     VFS_ATTR(TCA_POLICE_RATE64, kU64), VFS_ATTR(TCA_POLICE_RESULT, kU32)};
constexpr AttrPolicy kMirredPolicy{"mirred", kMirredSpecs};
constexpr AttrPolicy kVlanPolicy{"vlan", kVlanSpecs};
constexpr AttrPolicy kTunnelKeyPolicy{"tunnel_key", kTunnelKeySpecs};
constexpr AttrPolicy kGactPolicy{"gact", kGactSpecs};
constexpr AttrPolicy kSkbeditPolicy{"skbedit", kSkbeditSpecs};
constexpr AttrPolicy kPolicePolicy{"police", kPoliceSpecs};
constexpr KindChoice kActionKinds[] = {{"mirred", &kMirredPolicy}, {"vlan", &kVlanPolicy},
                                       {"tunnel_key", &kTunnelKeyPolicy}, {"gact", &kGactPolicy},
                                       {"skbedit", &kSkbeditPolicy}, {"police", &kPolicePolicy}};

// gnet_stats_basic: a u64 of bytes and a u32 of packets.
constexpr AttrSpec kStatsSpecs[] = {VFS_STRUCT(TCA_STATS_BASIC, 12), VFS_ATTR(TCA_STATS_PKT64, kU64)};
constexpr AttrPolicy kStatsPolicy{"action statistics", kStatsSpecs};

constexpr AttrSpec kActionSpecs[] = {
    VFS_ATTR(TCA_ACT_KIND, kString),
    {TCA_ACT_OPTIONS, "TCA_ACT_OPTIONS", AttrType::kNested, 0, nullptr, TCA_ACT_KIND, kActionKinds},
    VFS_ATTR(TCA_ACT_INDEX, kU32),
    VFS_STRUCT(TCA_ACT_COOKIE, 0),
    {TCA_ACT_STATS, "TCA_ACT_STATS", AttrType::kNested, 0, &kStatsPolicy},
};
constexpr AttrPolicy kActionPolicy{"action", kActionSpecs};
// An action list: slots numbered by their order, each an action.
constexpr AttrSpec kActionSlot{0, "action", AttrType::kNested, 0, &kActionPolicy};
constexpr AttrPolicy kActionListPolicy{"action list", {}, &kActionSlot};

constexpr AttrSpec kFlowerSpecs[] = {
    VFS_STRUCT(TCA_FLOWER_KEY_ETH_DST, 6), VFS_STRUCT(TCA_FLOWER_KEY_ETH_DST_MASK, 6),
    VFS_STRUCT(TCA_FLOWER_KEY_ETH_SRC, 6), VFS_STRUCT(TCA_FLOWER_KEY_ETH_SRC_MASK, 6),
    VFS_ATTR(TCA_FLOWER_KEY_ETH_TYPE, kU16), VFS_ATTR(TCA_FLOWER_KEY_VLAN_ID, kU16),
    VFS_ATTR(TCA_FLOWER_KEY_VLAN_PRIO, kU8), VFS_ATTR(TCA_FLOWER_KEY_VLAN_ETH_TYPE, kU16),
    VFS_ATTR(TCA_FLOWER_KEY_CVLAN_ID, kU16), VFS_ATTR(TCA_FLOWER_KEY_CVLAN_PRIO, kU8),
    VFS_ATTR(TCA_FLOWER_KEY_CVLAN_ETH_TYPE, kU16), VFS_ATTR(TCA_FLOWER_KEY_IP_PROTO, kU8),
    VFS_STRUCT(TCA_FLOWER_KEY_IPV4_SRC, 4), VFS_STRUCT(TCA_FLOWER_KEY_IPV4_SRC_MASK, 4),
    VFS_STRUCT(TCA_FLOWER_KEY_IPV4_DST, 4), VFS_STRUCT(TCA_FLOWER_KEY_IPV4_DST_MASK, 4),
    VFS_STRUCT(TCA_FLOWER_KEY_IPV6_SRC, 16), VFS_STRUCT(TCA_FLOWER_KEY_IPV6_SRC_MASK, 16),
    VFS_STRUCT(TCA_FLOWER_KEY_IPV6_DST, 16), VFS_STRUCT(TCA_FLOWER_KEY_IPV6_DST_MASK, 16),
    VFS_ATTR(TCA_FLOWER_KEY_TCP_SRC, kU16), VFS_ATTR(TCA_FLOWER_KEY_TCP_DST, kU16),
    VFS_ATTR(TCA_FLOWER_KEY_UDP_SRC, kU16), VFS_ATTR(TCA_FLOWER_KEY_UDP_DST, kU16),
    VFS_ATTR(TCA_FLOWER_KEY_SCTP_SRC, kU16), VFS_ATTR(TCA_FLOWER_KEY_SCTP_DST, kU16),
    VFS_ATTR(TCA_FLOWER_KEY_ENC_KEY_ID, kU32),
    VFS_STRUCT(TCA_FLOWER_KEY_ENC_IPV4_SRC, 4), VFS_STRUCT(TCA_FLOWER_KEY_ENC_IPV4_SRC_MASK, 4),
    VFS_STRUCT(TCA_FLOWER_KEY_ENC_IPV4_DST, 4), VFS_STRUCT(TCA_FLOWER_KEY_ENC_IPV4_DST_MASK, 4),
    VFS_STRUCT(TCA_FLOWER_KEY_ENC_IPV6_SRC, 16), VFS_STRUCT(TCA_FLOWER_KEY_ENC_IPV6_SRC_MASK, 16),
    VFS_STRUCT(TCA_FLOWER_KEY_ENC_IPV6_DST, 16), VFS_STRUCT(TCA_FLOWER_KEY_ENC_IPV6_DST_MASK, 16),
    VFS_ATTR(TCA_FLOWER_KEY_ENC_UDP_DST_PORT, kU16),
    {TCA_FLOWER_ACT, "TCA_FLOWER_ACT", AttrType::kNested, 0, &kActionListPolicy},
    VFS_ATTR(TCA_FLOWER_FLAGS, kU32), VFS_ATTR(TCA_FLOWER_IN_HW_COUNT, kU32),
};
constexpr AttrSpec kU32Specs[] = {
    VFS_ATTR(TCA_U32_CLASSID, kU32),
    {TCA_U32_ACT, "TCA_U32_ACT", AttrType::kNested, 0, &kActionListPolicy},
    VFS_STRUCT(TCA_U32_SEL, sizeof(tc_u32_sel)),
    VFS_ATTR(TCA_U32_FLAGS, kU32),       VFS_ATTR(TCA_U32_HASH, kU32),
    VFS_ATTR(TCA_U32_LINK, kU32),        VFS_ATTR(TCA_U32_DIVISOR, kU32),
};
constexpr AttrSpec kBpfSpecs[] = {
    VFS_ATTR(TCA_BPF_FD, kU32),       VFS_ATTR(TCA_BPF_NAME, kString), VFS_ATTR(TCA_BPF_CLASSID, kU32),
    VFS_ATTR(TCA_BPF_FLAGS_GEN, kU32), VFS_ATTR(TCA_BPF_FLAGS, kU32),  VFS_ATTR(TCA_BPF_ID, kU32),
    VFS_STRUCT(TCA_BPF_TAG, 0),
};
constexpr AttrPolicy kFlowerPolicy{"flower", kFlowerSpecs};
constexpr AttrPolicy kU32Policy{"u32", kU32Specs};
constexpr AttrPolicy kBpfPolicy{"bpf", kBpfSpecs};
constexpr KindChoice kFilterKinds[] = {{"flower", &kFlowerPolicy}, {"u32", &kU32Policy}, {"bpf", &kBpfPolicy}};

constexpr AttrSpec kTcSpecs[] = {
    VFS_ATTR(TCA_KIND, kString),
    {TCA_OPTIONS, "TCA_OPTIONS", AttrType::kNested, 0, nullptr, TCA_KIND, kFilterKinds},
    VFS_ATTR(TCA_CHAIN, kU32),
};
constexpr AttrPolicy kTcPolicy{"tc", kTcSpecs};

#undef VFS_ATTR
#undef VFS_STRUCT

// The options of an action or a filter of `kind` (nothing for kinds
// vfsteer does not read).
const AttrPolicy* policyFor(std::span<const KindChoice> kinds, std::string_view kind) {
  for (const auto& k : kinds)
    if (k.kind == kind) return k.policy;
  return nullptr;
}


// ---- police timing, as iproute2's tc_core.c computes it -------------------------

// Scheduler ticks per microsecond from /proc/net/psched (t2us, us2t, clock
// resolution; the fourth field is the hrtimer resolution, which tc ignores).
// Since high-resolution timers the kernel reports 1000/64 with a 1 MHz
// clock: 64 ns ticks.
double ticksPerUsec() {
  unsigned long t2us = 1000, us2t = 64, clockRes = 1000000;
  std::ifstream in("/proc/net/psched");
  std::string a, b, c;
  if (in >> a >> b >> c) {
    t2us = std::stoul(a, nullptr, 16);
    us2t = std::stoul(b, nullptr, 16);
    clockRes = std::stoul(c, nullptr, 16);
  }
  if (clockRes == 1000000000) t2us = us2t;  // tc's compatibility rule
  const double clockFactor = static_cast<double>(clockRes) / 1000000.0;
  return static_cast<double>(t2us) / static_cast<double>(us2t) * clockFactor;
}

// tc_calc_xmittime(): the time to send `size` bytes at `rate`, truncated to
// whole microseconds before it becomes ticks, exactly as tc truncates.
uint32_t xmitTicks(uint64_t rate, uint32_t size, double tpu) {
  // No rate, or a time past what the kernel's u32 holds (a decoded police
  // action may carry anything): saturate instead of converting out of range.
  if (rate == 0) return UINT32_MAX;
  const double usec = std::trunc(1000000.0 * (static_cast<double>(size) / static_cast<double>(rate)));
  const double ticks = std::trunc(usec * tpu);
  if (!(ticks < static_cast<double>(UINT32_MAX))) return UINT32_MAX;
  return static_cast<uint32_t>(ticks);
}

// Bytes whose transmit time encodes to exactly `ticks` (the inverse of
// xmitTicks, so that a decoded police action re-encodes to the same bytes).
uint32_t burstBytesFor(uint64_t rate, uint32_t ticks, double tpu) {
  const double estimate = static_cast<double>(ticks) / tpu * static_cast<double>(rate) / 1e6;
  if (!(estimate < static_cast<double>(UINT32_MAX))) return UINT32_MAX;
  const long base = static_cast<long>(estimate);
  for (long d = 0; d < 4096; ++d) {
    for (long cand : {base + d, base - d}) {
      if (cand <= 0) continue;
      if (xmitTicks(rate, static_cast<uint32_t>(cand), tpu) == ticks) return static_cast<uint32_t>(cand);
    }
  }
  return static_cast<uint32_t>(std::max(0L, base));
}

constexpr int kPoliceCellLog = 3;  // tc's cell size for its default MTU of 2047

// ---- helpers -------------------------------------------------------------------

tcmsg tcHeader(int ifindex, uint32_t handle, uint32_t parent, uint32_t info) {
  tcmsg t{};
  t.tcm_family = AF_UNSPEC;
  t.tcm_ifindex = ifindex;
  t.tcm_handle = handle;
  t.tcm_parent = parent;
  t.tcm_info = info;
  return t;
}

uint32_t filterInfo(const Filter& f) {
  return TC_H_MAKE(static_cast<uint32_t>(f.priority) << 16, htons(f.protocol));
}

template <class T>
T genFields(uint32_t index, int32_t verdict) {
  T p{};
  p.index = index;
  p.action = verdict;
  return p;
}

// One action inside an action list nest:
//   [order] { KIND "name", OPTIONS|NESTED { ... }, COOKIE? }
void encodeAction(Message& m, uint16_t order, const Action& a) {
  auto slot = m.nest(order);
  m.putStrz(TCA_ACT_KIND, a.kind());
  {
    auto opts = m.nest(TCA_ACT_OPTIONS, true);
    struct Visitor {
      Message& m;
      const Action& a;
      void operator()(const Mirred& x) {
        auto p = genFields<tc_mirred>(a.index, a.verdict);
        p.eaction = static_cast<int>(x.op);
        p.ifindex = x.ifindex;
        m.putStruct(TCA_MIRRED_PARMS, p);
      }
      void operator()(const Vlan& x) {
        auto p = genFields<tc_vlan>(a.index, a.verdict);
        p.v_action = static_cast<int>(x.op);
        m.putStruct(TCA_VLAN_PARMS, p);
        if (x.op != Vlan::Op::kPop) {
          m.putU16(TCA_VLAN_PUSH_VLAN_ID, x.id);
          if (x.protocol) m.putBe16(TCA_VLAN_PUSH_VLAN_PROTOCOL, htons(*x.protocol));
          if (x.prio) m.putU8(TCA_VLAN_PUSH_VLAN_PRIORITY, *x.prio);
        }
      }
      void operator()(const TunnelKeyUnset&) {
        // tc sends "no checksum: 0" even for unset; the kernel ignores it.
        m.putU8(TCA_TUNNEL_KEY_NO_CSUM, 0);
        auto p = genFields<tc_tunnel_key>(a.index, a.verdict);
        p.t_action = TCA_TUNNEL_KEY_ACT_RELEASE;
        m.putStruct(TCA_TUNNEL_KEY_PARMS, p);
      }
      void operator()(const Gact&) { m.putStruct(TCA_GACT_PARMS, genFields<tc_gact>(a.index, a.verdict)); }
      void operator()(const Skbedit& x) {
        m.putStruct(TCA_SKBEDIT_PARMS, genFields<tc_skbedit>(a.index, TC_ACT_PIPE));
        if (x.queueMapping) m.putU16(TCA_SKBEDIT_QUEUE_MAPPING, *x.queueMapping);
        if (x.mark) m.putU32(TCA_SKBEDIT_MARK, *x.mark);
      }
      void operator()(const Police& x) {
        // "police rate R burst B conform-exceed <verdict>/pipe": a token
        // bucket described in scheduler ticks plus a 256-entry rate table.
        const double tpu = ticksPerUsec();
        tc_police p{};
        p.index = a.index;
        p.action = a.verdict;
        p.burst = xmitTicks(x.rateBytesPerSec, x.burstBytes, tpu);
        p.mtu = x.mtu;
        p.rate.cell_log = kPoliceCellLog;
        p.rate.linklayer = TC_LINKLAYER_ETHERNET;
        p.rate.cell_align = -1;
        p.rate.rate = x.rateBytesPerSec >= (1ULL << 32) ? ~0U : static_cast<uint32_t>(x.rateBytesPerSec);
        m.putStruct(TCA_POLICE_TBF, p);
        uint32_t rtab[256];
        for (uint32_t i = 0; i < 256; ++i)
          rtab[i] = xmitTicks(x.rateBytesPerSec, (i + 1) << kPoliceCellLog, tpu);
        m.put(TCA_POLICE_RATE, rtab, sizeof rtab);
        if (x.rateBytesPerSec >= (1ULL << 32)) m.putU64(TCA_POLICE_RATE64, x.rateBytesPerSec);
        m.putU32(TCA_POLICE_RESULT, TC_ACT_PIPE);
      }
    };
    std::visit(Visitor{m, a}, a.op);
  }
  if (!a.cookie.empty()) m.put(TCA_ACT_COOKIE, a.cookie.data(), a.cookie.size());
}

void encodeActions(Message& m, uint16_t type, const std::vector<Action>& actions) {
  if (actions.empty()) return;
  auto list = m.nest(type);
  for (size_t i = 0; i < actions.size(); ++i) encodeAction(m, static_cast<uint16_t>(i + 1), actions[i]);
}

template <size_t N>
void putMasked(Message& m, uint16_t valueType, uint16_t maskType, const Masked<N>& k) {
  m.put(valueType, k.value.data(), N);
  m.put(maskType, k.mask.data(), N);
}

// Port attribute types by IP protocol (TCP, UDP, SCTP).
std::pair<uint16_t, uint16_t> portTypes(std::optional<uint8_t> proto) {
  if (proto == IPPROTO_UDP) return {TCA_FLOWER_KEY_UDP_SRC, TCA_FLOWER_KEY_UDP_DST};
  if (proto == IPPROTO_SCTP) return {TCA_FLOWER_KEY_SCTP_SRC, TCA_FLOWER_KEY_SCTP_DST};
  return {TCA_FLOWER_KEY_TCP_SRC, TCA_FLOWER_KEY_TCP_DST};
}

// tc ... flower [dst_mac M] [src_mac M] [vlan_id V] [vlan_prio P] [vlan_ethtype E]
//   [cvlan_id V] [cvlan_prio P] [cvlan_ethtype E] [src_ip A] [dst_ip A]
//   [ip_proto P] [src_port N] [dst_port N] [enc_key_id K] [enc_src_ip A]
//   [enc_dst_ip A] [enc_dst_port N] [skip_sw|skip_hw] action ...
void encodeFlower(Message& m, const Filter& f, const Flower& fl) {
  auto opts = m.nest(TCA_OPTIONS);
  const FlowerKey& k = fl.key;
  if (k.dstMac) putMasked(m, TCA_FLOWER_KEY_ETH_DST, TCA_FLOWER_KEY_ETH_DST_MASK, *k.dstMac);
  if (k.srcMac) putMasked(m, TCA_FLOWER_KEY_ETH_SRC, TCA_FLOWER_KEY_ETH_SRC_MASK, *k.srcMac);
  if (k.vlanId) m.putU16(TCA_FLOWER_KEY_VLAN_ID, *k.vlanId);
  if (k.vlanPrio) m.putU8(TCA_FLOWER_KEY_VLAN_PRIO, *k.vlanPrio);
  if (k.vlanEthType) m.putBe16(TCA_FLOWER_KEY_VLAN_ETH_TYPE, htons(*k.vlanEthType));
  if (k.cvlanId) m.putU16(TCA_FLOWER_KEY_CVLAN_ID, *k.cvlanId);
  if (k.cvlanPrio) m.putU8(TCA_FLOWER_KEY_CVLAN_PRIO, *k.cvlanPrio);
  if (k.cvlanEthType) m.putBe16(TCA_FLOWER_KEY_CVLAN_ETH_TYPE, htons(*k.cvlanEthType));
  if (k.src4) putMasked(m, TCA_FLOWER_KEY_IPV4_SRC, TCA_FLOWER_KEY_IPV4_SRC_MASK, *k.src4);
  if (k.src6) putMasked(m, TCA_FLOWER_KEY_IPV6_SRC, TCA_FLOWER_KEY_IPV6_SRC_MASK, *k.src6);
  if (k.dst4) putMasked(m, TCA_FLOWER_KEY_IPV4_DST, TCA_FLOWER_KEY_IPV4_DST_MASK, *k.dst4);
  if (k.dst6) putMasked(m, TCA_FLOWER_KEY_IPV6_DST, TCA_FLOWER_KEY_IPV6_DST_MASK, *k.dst6);
  if (k.ipProto) m.putU8(TCA_FLOWER_KEY_IP_PROTO, *k.ipProto);
  auto [srcType, dstType] = portTypes(k.ipProto);
  if (k.srcPort) m.putBe16(srcType, htons(*k.srcPort));
  if (k.dstPort) m.putBe16(dstType, htons(*k.dstPort));
  if (k.encKeyId) m.putBe32(TCA_FLOWER_KEY_ENC_KEY_ID, htonl(*k.encKeyId));
  if (k.encSrc4) putMasked(m, TCA_FLOWER_KEY_ENC_IPV4_SRC, TCA_FLOWER_KEY_ENC_IPV4_SRC_MASK, *k.encSrc4);
  if (k.encSrc6) putMasked(m, TCA_FLOWER_KEY_ENC_IPV6_SRC, TCA_FLOWER_KEY_ENC_IPV6_SRC_MASK, *k.encSrc6);
  if (k.encDst4) putMasked(m, TCA_FLOWER_KEY_ENC_IPV4_DST, TCA_FLOWER_KEY_ENC_IPV4_DST_MASK, *k.encDst4);
  if (k.encDst6) putMasked(m, TCA_FLOWER_KEY_ENC_IPV6_DST, TCA_FLOWER_KEY_ENC_IPV6_DST_MASK, *k.encDst6);
  if (k.encDstPort) m.putBe16(TCA_FLOWER_KEY_ENC_UDP_DST_PORT, htons(*k.encDstPort));
  encodeActions(m, TCA_FLOWER_ACT, fl.actions);
  m.putU32(TCA_FLOWER_FLAGS, fl.flags & (kSkipHw | kSkipSw));
  // tc repeats the filter's protocol as a key unless it is "all".
  if (f.protocol != ETH_P_ALL) m.putBe16(TCA_FLOWER_KEY_ETH_TYPE, htons(f.protocol));
}

// tc ... u32 divisor N                    (a table)
// tc ... u32 [ht T:] [link L: offset at A mask M shift S plus P eat]
//            [skip_sw|skip_hw] match ... [classid C] action ...
// in the order tc puts them: what it parses in its loop, then the table,
// the selector and the flags.
void encodeU32(Message& m, const U32& u) {
  auto opts = m.nest(TCA_OPTIONS);
  if (u.divisor) {
    m.putU32(TCA_U32_DIVISOR, *u.divisor);
    return;
  }
  if (u.classid) m.putU32(TCA_U32_CLASSID, *u.classid);
  if (u.link) m.putU32(TCA_U32_LINK, *u.link);
  encodeActions(m, TCA_U32_ACT, u.actions);
  if (u.table) m.putU32(TCA_U32_HASH, *u.table);
  // struct tc_u32_sel is followed by its keys in one attribute.
  std::vector<uint8_t> sel(sizeof(tc_u32_sel) + u.keys.size() * sizeof(tc_u32_key), 0);
  auto* s = reinterpret_cast<tc_u32_sel*>(sel.data());
  s->flags = u.terminal ? TC_U32_TERMINAL : 0;
  s->nkeys = static_cast<unsigned char>(u.keys.size());
  if (const auto& next = u.nextHeader) {
    s->flags |= TC_U32_OFFSET | TC_U32_VAROFFSET | (next->eat ? TC_U32_EAT : 0);
    s->offoff = next->at;
    s->offmask = htons(next->mask);
    s->offshift = next->shift;
    s->off = static_cast<uint16_t>(next->plus);
  }
  auto* keys = reinterpret_cast<tc_u32_key*>(sel.data() + sizeof(tc_u32_sel));
  for (size_t i = 0; i < u.keys.size(); ++i) {
    keys[i].val = u.keys[i].value;
    keys[i].mask = u.keys[i].mask;
    keys[i].off = u.keys[i].offset;
    keys[i].offmask = u.keys[i].offmask;
  }
  m.put(TCA_U32_SEL, sel.data(), sel.size());
  if (u.flags & (kSkipHw | kSkipSw)) m.putU32(TCA_U32_FLAGS, u.flags & (kSkipHw | kSkipSw));
}

// tc ... bpf object-file F section S [da] [skip_sw|skip_hw]
void encodeBpf(Message& m, const Bpf& b) {
  auto opts = m.nest(TCA_OPTIONS);
  m.putU32(TCA_BPF_FD, static_cast<uint32_t>(b.fd));
  m.putStrz(TCA_BPF_NAME, b.name);
  if (b.classid) m.putU32(TCA_BPF_CLASSID, b.classid);
  if (b.flags & (kSkipHw | kSkipSw)) m.putU32(TCA_BPF_FLAGS_GEN, b.flags & (kSkipHw | kSkipSw));
  if (b.directAction) m.putU32(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT);
}

// ---- decoding ---------------------------------------------------------------------

template <size_t N>
std::optional<Masked<N>> getMasked(const AttrTable& t, uint16_t valueType, uint16_t maskType) {
  auto v = t.get(valueType);
  if (!v || v->payload().size() < N) return std::nullopt;
  Masked<N> out;
  std::memcpy(out.value.data(), v->payload().data(), N);
  if (auto mk = t.get(maskType); mk && mk->payload().size() >= N)
    std::memcpy(out.mask.data(), mk->payload().data(), N);
  else
    out.mask.fill(0xff);
  return out;
}

std::optional<uint16_t> getBe16(const AttrTable& t, uint16_t type) {
  if (auto a = t.get(type)) return ntohs(a->u16());
  return std::nullopt;
}
std::optional<uint16_t> getU16(const AttrTable& t, uint16_t type) {
  if (auto a = t.get(type)) return a->u16();
  return std::nullopt;
}
std::optional<uint8_t> getU8(const AttrTable& t, uint16_t type) {
  if (auto a = t.get(type)) return a->u8();
  return std::nullopt;
}

template <class T>
Result<T> parms(const AttrTable& opts, uint16_t type, const char* kind) {
  auto a = opts.get(type);
  if (!a) return Error(ErrorCode::kInternal, std::string(kind) + " action without parameters");
  auto p = a->as<T>();
  if (!p) return Error(ErrorCode::kInternal, std::string(kind) + " parameters are truncated");
  return *p;
}

Result<Action> decodeAction(const Attr& slot) {
  VFSTEER_ASSIGN_OR_RETURN(AttrTable t, AttrTable::ofNest(slot, kActionPolicy));
  auto kindAttr = t.get(TCA_ACT_KIND);
  if (!kindAttr) return Error(ErrorCode::kInternal, "action without a kind");
  const std::string kind = kindAttr->str();
  Action a;
  const AttrPolicy* optionsPolicy = policyFor(kActionKinds, kind);
  if (!optionsPolicy) return Error(ErrorCode::kNotSupported, "action kind \"" + kind + "\" is not decoded by vfsteer");
  AttrTable opts;
  if (auto o = t.get(TCA_ACT_OPTIONS)) {
    VFSTEER_ASSIGN_OR_RETURN(opts, AttrTable::ofNest(*o, *optionsPolicy));
  }
  if (kind == "mirred") {
    VFSTEER_ASSIGN_OR_RETURN(auto p, parms<tc_mirred>(opts, TCA_MIRRED_PARMS, "mirred"));
    a.op = Mirred{static_cast<Mirred::Op>(p.eaction), p.ifindex};
    a.index = p.index;
    a.verdict = p.action;
  } else if (kind == "vlan") {
    VFSTEER_ASSIGN_OR_RETURN(auto p, parms<tc_vlan>(opts, TCA_VLAN_PARMS, "vlan"));
    Vlan v;
    v.op = static_cast<Vlan::Op>(p.v_action);
    v.id = getU16(opts, TCA_VLAN_PUSH_VLAN_ID).value_or(0);
    v.protocol = getBe16(opts, TCA_VLAN_PUSH_VLAN_PROTOCOL);
    v.prio = getU8(opts, TCA_VLAN_PUSH_VLAN_PRIORITY);
    a.op = v;
    a.index = p.index;
    a.verdict = p.action;
  } else if (kind == "tunnel_key") {
    VFSTEER_ASSIGN_OR_RETURN(auto p, parms<tc_tunnel_key>(opts, TCA_TUNNEL_KEY_PARMS, "tunnel_key"));
    if (p.t_action != TCA_TUNNEL_KEY_ACT_RELEASE)
      return Error(ErrorCode::kNotSupported, "tunnel_key set is not used by vfsteer");
    a.op = TunnelKeyUnset{};
    a.index = p.index;
    a.verdict = p.action;
  } else if (kind == "gact") {
    VFSTEER_ASSIGN_OR_RETURN(auto p, parms<tc_gact>(opts, TCA_GACT_PARMS, "gact"));
    a.op = Gact{};
    a.index = p.index;
    a.verdict = p.action;
  } else if (kind == "skbedit") {
    VFSTEER_ASSIGN_OR_RETURN(auto p, parms<tc_skbedit>(opts, TCA_SKBEDIT_PARMS, "skbedit"));
    Skbedit s;
    s.queueMapping = getU16(opts, TCA_SKBEDIT_QUEUE_MAPPING);
    if (auto m = opts.get(TCA_SKBEDIT_MARK)) s.mark = m->u32();
    a.op = s;
    a.index = p.index;
    a.verdict = p.action;
  } else if (kind == "police") {
    VFSTEER_ASSIGN_OR_RETURN(auto p, parms<tc_police>(opts, TCA_POLICE_TBF, "police"));
    Police x;
    x.rateBytesPerSec = p.rate.rate;
    if (auto r64 = opts.get(TCA_POLICE_RATE64)) x.rateBytesPerSec = r64->u64();
    // Sent without an MTU, a policer gets the largest packet its rate
    // table covers (act_police.c, tcf_police_init), 255 cells of the size
    // vfsteer sends (the dump does not report the cell size): "no MTU".
    x.mtu = p.mtu == (255u << kPoliceCellLog) ? 0 : p.mtu;
    if (x.rateBytesPerSec > 0) x.burstBytes = burstBytesFor(x.rateBytesPerSec, p.burst, ticksPerUsec());
    a.op = x;
    a.index = p.index;
    a.verdict = p.action;
  } else {
    return Error(ErrorCode::kNotSupported, "action kind \"" + kind + "\" is not decoded by vfsteer");
  }
  if (auto c = t.get(TCA_ACT_COOKIE)) a.cookie.assign(c->payload().begin(), c->payload().end());
  if (auto idx = t.get(TCA_ACT_INDEX)) a.index = idx->u32();
  if (auto stats = t.get(TCA_ACT_STATS)) {
    VFSTEER_ASSIGN_OR_RETURN(AttrTable st, AttrTable::ofNest(*stats, kStatsPolicy));
    if (auto basic = st.get(TCA_STATS_BASIC)) {
      auto p = basic->payload();  // at least 12 bytes (the policy)
      std::memcpy(&a.bytes, p.data(), 8);
      uint32_t packets;
      std::memcpy(&packets, p.data() + 8, 4);
      a.packets = packets;
    }
    if (auto pkt64 = st.get(TCA_STATS_PKT64)) a.packets = pkt64->u64();
  }
  return a;
}

Result<std::vector<Action>> decodeActions(const AttrTable& opts, uint16_t type) {
  std::vector<Action> out;
  auto list = opts.get(type);
  if (!list) return out;
  VFSTEER_ASSIGN_OR_RETURN(AttrTable slots, AttrTable::ofNest(*list, kActionListPolicy));
  for (const auto& slot : slots.all()) {
    VFSTEER_ASSIGN_OR_RETURN(Action a, decodeAction(slot));
    out.push_back(std::move(a));
  }
  return out;
}

Result<Flower> decodeFlower(const AttrTable& o) {
  Flower fl;
  FlowerKey& k = fl.key;
  k.dstMac = getMasked<6>(o, TCA_FLOWER_KEY_ETH_DST, TCA_FLOWER_KEY_ETH_DST_MASK);
  k.srcMac = getMasked<6>(o, TCA_FLOWER_KEY_ETH_SRC, TCA_FLOWER_KEY_ETH_SRC_MASK);
  k.vlanId = getU16(o, TCA_FLOWER_KEY_VLAN_ID);
  k.vlanPrio = getU8(o, TCA_FLOWER_KEY_VLAN_PRIO);
  k.vlanEthType = getBe16(o, TCA_FLOWER_KEY_VLAN_ETH_TYPE);
  k.cvlanId = getU16(o, TCA_FLOWER_KEY_CVLAN_ID);
  k.cvlanPrio = getU8(o, TCA_FLOWER_KEY_CVLAN_PRIO);
  k.cvlanEthType = getBe16(o, TCA_FLOWER_KEY_CVLAN_ETH_TYPE);
  k.ipProto = getU8(o, TCA_FLOWER_KEY_IP_PROTO);
  k.src4 = getMasked<4>(o, TCA_FLOWER_KEY_IPV4_SRC, TCA_FLOWER_KEY_IPV4_SRC_MASK);
  k.dst4 = getMasked<4>(o, TCA_FLOWER_KEY_IPV4_DST, TCA_FLOWER_KEY_IPV4_DST_MASK);
  k.src6 = getMasked<16>(o, TCA_FLOWER_KEY_IPV6_SRC, TCA_FLOWER_KEY_IPV6_SRC_MASK);
  k.dst6 = getMasked<16>(o, TCA_FLOWER_KEY_IPV6_DST, TCA_FLOWER_KEY_IPV6_DST_MASK);
  auto [srcType, dstType] = portTypes(k.ipProto);
  k.srcPort = getBe16(o, srcType);
  k.dstPort = getBe16(o, dstType);
  if (auto a = o.get(TCA_FLOWER_KEY_ENC_KEY_ID)) k.encKeyId = ntohl(a->u32());
  k.encSrc4 = getMasked<4>(o, TCA_FLOWER_KEY_ENC_IPV4_SRC, TCA_FLOWER_KEY_ENC_IPV4_SRC_MASK);
  k.encDst4 = getMasked<4>(o, TCA_FLOWER_KEY_ENC_IPV4_DST, TCA_FLOWER_KEY_ENC_IPV4_DST_MASK);
  k.encSrc6 = getMasked<16>(o, TCA_FLOWER_KEY_ENC_IPV6_SRC, TCA_FLOWER_KEY_ENC_IPV6_SRC_MASK);
  k.encDst6 = getMasked<16>(o, TCA_FLOWER_KEY_ENC_IPV6_DST, TCA_FLOWER_KEY_ENC_IPV6_DST_MASK);
  k.encDstPort = getBe16(o, TCA_FLOWER_KEY_ENC_UDP_DST_PORT);
  if (auto a = o.get(TCA_FLOWER_FLAGS)) fl.flags = a->u32();
  if (auto a = o.get(TCA_FLOWER_IN_HW_COUNT)) fl.inHwCount = a->u32();
  VFSTEER_ASSIGN_OR_RETURN(fl.actions, decodeActions(o, TCA_FLOWER_ACT));
  return fl;
}

Result<U32> decodeU32(const AttrTable& o) {
  U32 u;
  if (auto a = o.get(TCA_U32_SEL)) {
    auto p = a->payload();  // at least a tc_u32_sel (the policy)
    tc_u32_sel sel;
    std::memcpy(&sel, p.data(), sizeof sel);
    if (p.size() < sizeof(tc_u32_sel) + sel.nkeys * sizeof(tc_u32_key))
      return Error(ErrorCode::kInternal, "u32 selector keys truncated");
    u.terminal = sel.flags & TC_U32_TERMINAL;
    if (sel.flags & TC_U32_VAROFFSET)
      u.nextHeader = U32NextHeader{sel.offoff, ntohs(sel.offmask), sel.offshift, static_cast<int16_t>(sel.off),
                                   (sel.flags & TC_U32_EAT) != 0};
    for (unsigned i = 0; i < sel.nkeys; ++i) {
      tc_u32_key key;
      std::memcpy(&key, p.data() + sizeof(tc_u32_sel) + i * sizeof(tc_u32_key), sizeof key);
      u.keys.push_back(U32Key{key.val, key.mask, key.off, key.offmask});
    }
  }
  if (auto a = o.get(TCA_U32_FLAGS)) u.flags = a->u32();
  if (auto a = o.get(TCA_U32_CLASSID)) u.classid = a->u32();
  if (auto a = o.get(TCA_U32_DIVISOR)) u.divisor = a->u32();
  if (auto a = o.get(TCA_U32_HASH)) u.table = a->u32();
  if (auto a = o.get(TCA_U32_LINK)) u.link = a->u32();
  VFSTEER_ASSIGN_OR_RETURN(u.actions, decodeActions(o, TCA_U32_ACT));
  return u;
}

Result<Bpf> decodeBpf(const AttrTable& o) {
  Bpf b;
  if (auto a = o.get(TCA_BPF_NAME)) b.name = a->str();
  if (auto a = o.get(TCA_BPF_ID)) b.progId = a->u32();
  if (auto a = o.get(TCA_BPF_CLASSID)) b.classid = a->u32();
  if (auto a = o.get(TCA_BPF_FD)) b.fd = static_cast<int>(a->u32());
  if (auto a = o.get(TCA_BPF_FLAGS)) b.directAction = a->u32() & TCA_BPF_FLAG_ACT_DIRECT;
  else b.directAction = false;
  if (auto a = o.get(TCA_BPF_FLAGS_GEN)) b.flags = a->u32();
  if (auto a = o.get(TCA_BPF_TAG)) {
    static const char* hex = "0123456789abcdef";
    for (uint8_t c : a->payload()) {
      b.tag += hex[c >> 4];
      b.tag += hex[c & 15];
    }
  }
  return b;
}

}  // namespace

// ---- public -------------------------------------------------------------------------

namespace {
constexpr std::pair<uint16_t, const char*> kProtocolNames[] = {
    {ETH_P_ALL, "all"},      {ETH_P_IP, "ip"},          {ETH_P_IPV6, "ipv6"}, {ETH_P_ARP, "arp"},
    {ETH_P_8021Q, "802.1Q"}, {ETH_P_8021AD, "802.1ad"}, {0x88cc, "lldp"}};
}  // namespace

std::string u32HandleName(uint32_t handle) {
  char buf[32];
  if ((handle & 0x000fffff) == 0) std::snprintf(buf, sizeof buf, "%x:", handle >> 20);
  else std::snprintf(buf, sizeof buf, "%x:%x:%x", handle >> 20, (handle >> 12) & 0xff, handle & 0xfff);
  return buf;
}

std::string protocolName(uint16_t protocol) {
  for (const auto& [number, word] : kProtocolNames)
    if (number == protocol) return word;
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", protocol);
  return buf;
}

std::optional<uint16_t> protocolByName(const std::string& name) {
  for (const auto& [number, word] : kProtocolNames)
    if (name == word) return number;
  if (name.size() == 6 && name.rfind("0x", 0) == 0 && name.find_first_not_of("0123456789abcdef", 2) == std::string::npos)
    return static_cast<uint16_t>(std::stoul(name, nullptr, 16));
  return std::nullopt;
}

std::string Action::kind() const {
  struct Visitor {
    std::string operator()(const Mirred&) const { return "mirred"; }
    std::string operator()(const Vlan&) const { return "vlan"; }
    std::string operator()(const TunnelKeyUnset&) const { return "tunnel_key"; }
    std::string operator()(const Gact&) const { return "gact"; }
    std::string operator()(const Skbedit&) const { return "skbedit"; }
    std::string operator()(const Police&) const { return "police"; }
  };
  return std::visit(Visitor{}, op);
}

bool Action::sameConfig(const Action& other) const {
  return op == other.op && verdict == other.verdict && cookie == other.cookie;
}

std::string Filter::kind() const {
  if (std::holds_alternative<Flower>(spec)) return "flower";
  if (std::holds_alternative<U32>(spec)) return "u32";
  return "bpf";
}

uint32_t Filter::flags() const {
  if (auto* f = std::get_if<Flower>(&spec)) return f->flags;
  if (auto* u = std::get_if<U32>(&spec)) return u->flags;
  return std::get<Bpf>(spec).flags;
}

// tc qdisc add dev DEV clsact
Message encodeAddQdisc(const Qdisc& q) {
  Message m(RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  m.setPolicy(&kTcPolicy);
  m.putHeader(tcHeader(q.ifindex, q.handle, q.parent, 0));
  m.putStrz(TCA_KIND, q.kind);
  return m;
}

// tc qdisc del dev DEV clsact
Message encodeDeleteQdisc(const Qdisc& q) {
  Message m(RTM_DELQDISC, NLM_F_REQUEST | NLM_F_ACK);
  m.setPolicy(&kTcPolicy);
  m.putHeader(tcHeader(q.ifindex, q.handle, q.parent, 0));
  m.putStrz(TCA_KIND, q.kind);
  return m;
}

// tc qdisc show dev DEV
Message encodeDumpQdiscs(int ifindex) {
  Message m(RTM_GETQDISC, NLM_F_REQUEST | NLM_F_DUMP);
  m.setPolicy(&kTcPolicy);
  m.putHeader(tcHeader(ifindex, 0, 0, 0));
  return m;
}

// tc filter add|replace dev DEV ingress [chain C] prio P [handle H] protocol PROTO KIND ...
Message encodeAddFilter(const Filter& f, bool replace) {
  Message m(RTM_NEWTFILTER, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | (replace ? 0 : NLM_F_EXCL));
  m.setPolicy(&kTcPolicy);
  m.putHeader(tcHeader(f.ifindex, f.handle, f.parent, filterInfo(f)));
  if (f.chain) m.putU32(TCA_CHAIN, *f.chain);
  m.putStrz(TCA_KIND, f.kind());
  if (auto* fl = std::get_if<Flower>(&f.spec)) encodeFlower(m, f, *fl);
  if (auto* u = std::get_if<U32>(&f.spec)) encodeU32(m, *u);
  if (auto* b = std::get_if<Bpf>(&f.spec)) encodeBpf(m, *b);
  return m;
}

// tc filter del dev DEV ingress [chain C] prio P protocol PROTO [handle H KIND]
Message encodeDeleteFilter(const Filter& f) {
  Message m(RTM_DELTFILTER, NLM_F_REQUEST | NLM_F_ACK);
  m.setPolicy(&kTcPolicy);
  m.putHeader(tcHeader(f.ifindex, f.handle, f.parent, filterInfo(f)));
  if (f.chain) m.putU32(TCA_CHAIN, *f.chain);
  // Deleting one filter of a priority needs its handle and kind; without a
  // handle the whole priority goes, and tc sends no kind.
  if (f.handle != 0) m.putStrz(TCA_KIND, f.kind());
  return m;
}

// tc filter show dev DEV ingress [chain C]
Message encodeDumpFilters(int ifindex, uint32_t parent, std::optional<uint32_t> chain) {
  Message m(RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP);
  m.setPolicy(&kTcPolicy);
  m.putHeader(tcHeader(ifindex, 0, parent, 0));
  if (chain) m.putU32(TCA_CHAIN, *chain);
  return m;
}

namespace {

// A tc reply's fixed header and attributes, once its type is `type`.
struct TcReply {
  tcmsg header;
  AttrTable attrs;
};

Result<TcReply> readTcReply(const RawMessage& raw, uint16_t type, const char* what) {
  VFSTEER_ASSIGN_OR_RETURN(const nlmsghdr* nlh, checkedHeader(raw, sizeof(tcmsg)));
  if (nlh->nlmsg_type != type) return Error(ErrorCode::kInternal, std::string("not a ") + what + " message");
  TcReply r{};
  VFSTEER_ASSIGN_OR_RETURN(r.attrs, AttrTable::ofMessage(raw, sizeof(tcmsg), kTcPolicy));
  std::memcpy(&r.header, raw.data() + NLMSG_HDRLEN, sizeof r.header);
  return r;
}

FilterPlace placeOf(const TcReply& r) {
  FilterPlace p;
  if (auto c = r.attrs.get(TCA_CHAIN)) p.chain = c->u32();
  p.priority = static_cast<uint16_t>(TC_H_MAJ(r.header.tcm_info) >> 16);
  p.protocol = ntohs(static_cast<uint16_t>(TC_H_MIN(r.header.tcm_info)));
  p.head = !r.attrs.has(TCA_OPTIONS);
  return p;
}

}  // namespace

Result<Qdisc> decodeQdisc(const RawMessage& raw) {
  VFSTEER_ASSIGN_OR_RETURN(TcReply reply, readTcReply(raw, RTM_NEWQDISC, "qdisc"));
  const tcmsg& h = reply.header;
  const AttrTable& t = reply.attrs;
  Qdisc q;
  q.ifindex = h.tcm_ifindex;
  q.handle = h.tcm_handle;
  q.parent = h.tcm_parent;
  if (auto k = t.get(TCA_KIND)) q.kind = k->str();
  return q;
}

Result<FilterPlace> decodeFilterPlace(const RawMessage& raw) {
  VFSTEER_ASSIGN_OR_RETURN(TcReply reply, readTcReply(raw, RTM_NEWTFILTER, "filter"));
  return placeOf(reply);
}

bool isFilterHead(const RawMessage& raw) {
  auto p = decodeFilterPlace(raw);
  return !p.ok() || p->head;
}

namespace {

// The filter a reply read by readTcReply describes.
Result<Filter> filterOf(const TcReply& reply) {
  const tcmsg& h = reply.header;
  const AttrTable& t = reply.attrs;
  const FilterPlace place = placeOf(reply);
  Filter f;
  f.ifindex = h.tcm_ifindex;
  f.parent = h.tcm_parent;
  f.handle = h.tcm_handle;
  f.priority = place.priority;
  f.protocol = place.protocol;
  if (t.has(TCA_CHAIN)) f.chain = place.chain;
  auto kindAttr = t.get(TCA_KIND);
  if (!kindAttr) return Error(ErrorCode::kInternal, "filter without a kind");
  const std::string kind = kindAttr->str();
  const AttrPolicy* optionsPolicy = policyFor(kFilterKinds, kind);
  if (!optionsPolicy) return Error(ErrorCode::kNotSupported, "filter kind \"" + kind + "\" is not decoded by vfsteer");
  AttrTable opts;
  if (auto o = t.get(TCA_OPTIONS)) {
    VFSTEER_ASSIGN_OR_RETURN(opts, AttrTable::ofNest(*o, *optionsPolicy));
  }
  if (kind == "flower") {
    VFSTEER_ASSIGN_OR_RETURN(f.spec, decodeFlower(opts));
  } else if (kind == "u32") {
    VFSTEER_ASSIGN_OR_RETURN(U32 u, decodeU32(opts));
    u.nodeHandle = h.tcm_handle;
    f.spec = std::move(u);
  } else if (kind == "bpf") {
    VFSTEER_ASSIGN_OR_RETURN(f.spec, decodeBpf(opts));
  } else {
    return Error(ErrorCode::kNotSupported, "filter kind \"" + kind + "\" is not decoded by vfsteer");
  }
  return f;
}

}  // namespace

Result<Filter> decodeFilter(const RawMessage& raw) {
  VFSTEER_ASSIGN_OR_RETURN(TcReply reply, readTcReply(raw, RTM_NEWTFILTER, "filter"));
  return filterOf(reply);
}

Result<PlacedFilter> decodePlacedFilter(const RawMessage& raw) {
  VFSTEER_ASSIGN_OR_RETURN(TcReply reply, readTcReply(raw, RTM_NEWTFILTER, "filter"));
  PlacedFilter out{placeOf(reply), std::nullopt};
  if (out.place.head) return out;
  if (auto f = filterOf(reply); f.ok()) out.filter = std::move(*f);
  return out;
}

const AttrPolicy& attrPolicy() { return kTcPolicy; }

}  // namespace vfsteer::netlink::tc
