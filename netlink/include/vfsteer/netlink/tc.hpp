// Typed tc objects (qdiscs, filters, actions) between vfsteer and the bytes
// the kernel reads. Encoders and decoders come in pairs and round-trip;
// tests/golden checks the encoders against what iproute2's tc sends.
#pragma once

#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "vfsteer/common/result.hpp"
#include "vfsteer/netlink/message.hpp"

namespace vfsteer::netlink::tc {

// clsact's two hooks, as "tc filter ... ingress|egress" name them.
inline constexpr uint32_t kIngress = TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS);
inline constexpr uint32_t kEgress = TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS);

// Classifier flags shared by flower, u32 and bpf (TCA_CLS_FLAGS_*).
inline constexpr uint32_t kSkipHw = TCA_CLS_FLAGS_SKIP_HW;
inline constexpr uint32_t kSkipSw = TCA_CLS_FLAGS_SKIP_SW;
inline constexpr uint32_t kInHw = TCA_CLS_FLAGS_IN_HW;
inline constexpr uint32_t kNotInHw = TCA_CLS_FLAGS_NOT_IN_HW;

struct Qdisc {
  int ifindex = 0;
  std::string kind = "clsact";  // "clsact" or "ingress"
  uint32_t handle = 0xffff0000;
  uint32_t parent = TC_H_CLSACT;
  bool operator==(const Qdisc&) const = default;
};

// ---- actions ----------------------------------------------------------------

struct Mirred {
  enum class Op : int32_t {
    kEgressRedirect = TCA_EGRESS_REDIR,
    kEgressMirror = TCA_EGRESS_MIRROR,
    kIngressRedirect = TCA_INGRESS_REDIR,
    kIngressMirror = TCA_INGRESS_MIRROR,
  };
  Op op = Op::kEgressRedirect;
  uint32_t ifindex = 0;
  bool operator==(const Mirred&) const = default;
};

struct Vlan {
  enum class Op : int32_t { kPop = 1, kPush = 2, kModify = 3 };
  Op op = Op::kPop;
  uint16_t id = 0;
  std::optional<uint16_t> protocol;  // host order; unset: the kernel's 802.1Q
  std::optional<uint8_t> prio;
  bool operator==(const Vlan&) const = default;
};

struct TunnelKeyUnset {
  bool operator==(const TunnelKeyUnset&) const = default;
};

// Generic action: only a verdict (drop, pass, trap, goto chain).
struct Gact {
  bool operator==(const Gact&) const = default;
};

struct Skbedit {
  std::optional<uint16_t> queueMapping;
  std::optional<uint32_t> mark;
  bool operator==(const Skbedit&) const = default;
};

struct Police {
  uint64_t rateBytesPerSec = 0;
  uint32_t burstBytes = 0;
  uint32_t mtu = 0;  // 0: no MTU check
  // The kernel keeps the burst as a time at the rate, in scheduler ticks:
  // bytes -> ticks -> bytes does not come back exact (tc itself shows a
  // "burst 64k" as 65512b). Bursts within 1/256 of each other are the same.
  bool operator==(const Police& o) const {
    const uint32_t lo = std::min(burstBytes, o.burstBytes), hi = std::max(burstBytes, o.burstBytes);
    return rateBytesPerSec == o.rateBytesPerSec && mtu == o.mtu && hi - lo <= hi / 256 + 1;
  }
};

using ActionOp = std::variant<Mirred, Vlan, TunnelKeyUnset, Gact, Skbedit, Police>;

struct Action {
  ActionOp op;
  // What happens after the action: TC_ACT_PIPE (next action), TC_ACT_STOLEN,
  // TC_ACT_SHOT, TC_ACT_OK, TC_ACT_TRAP, TC_ACT_GOTO_CHAIN | chain...
  // For police it is the exceed verdict; conform is always "pipe".
  int32_t verdict = TC_ACT_PIPE;
  uint32_t index = 0;            // 0: the kernel picks one
  std::vector<uint8_t> cookie;   // up to 16 bytes, kept by the kernel verbatim

  // Decoded only.
  uint64_t packets = 0;
  uint64_t bytes = 0;
  std::string kind() const;  // "mirred", "vlan", ...
  // Equality ignores the decoded-only fields and a kernel-chosen index.
  bool sameConfig(const Action& other) const;
};

// ---- classifiers --------------------------------------------------------------

template <size_t N>
struct Masked {
  std::array<uint8_t, N> value{};
  std::array<uint8_t, N> mask{};
  bool operator==(const Masked&) const = default;
};
using MacKey = Masked<6>;
using Ip4Key = Masked<4>;
using Ip6Key = Masked<16>;

// Flower keys; each set key becomes one (or a value/mask pair of) attribute(s).
// Ports and ethertypes are host order here.
struct FlowerKey {
  std::optional<MacKey> dstMac;
  std::optional<MacKey> srcMac;
  std::optional<uint16_t> vlanId;
  std::optional<uint8_t> vlanPrio;
  std::optional<uint16_t> vlanEthType;
  std::optional<uint16_t> cvlanId;
  std::optional<uint8_t> cvlanPrio;
  std::optional<uint16_t> cvlanEthType;
  std::optional<uint8_t> ipProto;
  std::optional<Ip4Key> src4, dst4;
  std::optional<Ip6Key> src6, dst6;
  std::optional<uint16_t> srcPort, dstPort;  // TCP/UDP/SCTP by ipProto
  std::optional<uint32_t> encKeyId;
  std::optional<Ip4Key> encSrc4, encDst4;
  std::optional<Ip6Key> encSrc6, encDst6;
  std::optional<uint16_t> encDstPort;
  bool operator==(const FlowerKey&) const = default;
};

struct Flower {
  FlowerKey key;
  uint32_t flags = 0;  // kSkipSw / kSkipHw; decoded: also kInHw / kNotInHw
  std::vector<Action> actions;
  uint32_t inHwCount = 0;  // decoded only
};

struct U32Key {
  uint32_t value = 0;  // network order, as in the packet
  uint32_t mask = 0;   // network order
  int32_t offset = 0;
  int32_t offmask = 0;
  bool operator==(const U32Key&) const = default;
};

// Where a link's target table reads from: past the header the link
// matched, its length taken from the packet (tc "offset at AT mask MASK
// shift SHIFT plus PLUS eat"): (u16 at AT & MASK) >> SHIFT, plus PLUS.
struct U32NextHeader {
  int16_t at = 0;
  uint16_t mask = 0;  // host order; 0x0f00 with shift 6: the IPv4 header length
  uint8_t shift = 0;
  int16_t plus = 0;
  bool eat = true;  // the target's keys are relative to the next header
  bool operator==(const U32NextHeader&) const = default;
};

// A u32 node: a rule (knode) or, with `divisor`, a hash table (hnode).
// Handles are u32's: table 0xTTT00000, rule TTT:BB:NNN (table, bucket, node).
struct U32 {
  std::vector<U32Key> keys;
  bool terminal = true;  // TC_U32_TERMINAL: a match ends classification
  uint32_t flags = 0;
  std::optional<uint32_t> classid;
  std::vector<Action> actions;
  std::optional<uint32_t> divisor;  // a hash table with this many buckets (1: a plain list)
  std::optional<uint32_t> table;    // the table a rule goes in ("ht 1:"); absent: 800:
  std::optional<uint32_t> link;     // the table a match continues in ("link 1:")
  std::optional<U32NextHeader> nextHeader;
  // Decoded only: u32's own node handle ("800::800").
  uint32_t nodeHandle = 0;
};

struct Bpf {
  int fd = -1;               // program to attach (encode only)
  std::string name;          // shown by "tc filter show"; tc uses "file:[section]"
  bool directAction = true;  // "da": the program's return value is the verdict
  uint32_t flags = 0;
  uint32_t classid = 0;      // "classid": the program reads it as skb->tc_classid
  // Decoded only.
  uint32_t progId = 0;
  std::string tag;  // hex
};

struct Filter {
  int ifindex = 0;
  uint32_t parent = kIngress;
  uint16_t priority = 0;
  uint16_t protocol = 0x0003;  // host order ETH_P_*; ETH_P_ALL by default
  uint32_t handle = 0;
  std::optional<uint32_t> chain;
  std::variant<Flower, U32, Bpf> spec;

  std::string kind() const;  // "flower", "u32", "bpf"
  uint32_t flags() const;
  // What the kernel reported back (decoded filters).
  bool inHw() const { return flags() & kInHw; }
  bool notInHw() const { return flags() & kNotInHw; }
};

// tc's name for a protocol, as `tc filter show` prints it: "ip", "ipv6",
// "802.1Q", "802.1ad", "arp", "lldp", "all", else "0xNNNN" (host order in).
std::string protocolName(uint16_t protocol);
// u32's spelling of a handle, as tc prints and takes it: "1:" for a table,
// "1:0:2" for node 2 in bucket 0 of table 1.
std::string u32HandleName(uint32_t handle);
// The inverse; nothing for a name it does not know.
std::optional<uint16_t> protocolByName(const std::string& name);

// ---- encoders -----------------------------------------------------------------

// tc qdisc add dev DEV clsact
Message encodeAddQdisc(const Qdisc& q);
// tc qdisc del dev DEV clsact
Message encodeDeleteQdisc(const Qdisc& q);
// tc qdisc show dev DEV
Message encodeDumpQdiscs(int ifindex);

// tc filter add dev DEV ingress prio P protocol PROTO [chain C] KIND ...
// `replace` makes it "tc filter replace" (create or change in place).
Message encodeAddFilter(const Filter& f, bool replace = false);
// tc filter del dev DEV ingress prio P protocol PROTO [chain C] [handle H KIND]
Message encodeDeleteFilter(const Filter& f);
// tc filter show dev DEV ingress [chain C]
Message encodeDumpFilters(int ifindex, uint32_t parent, std::optional<uint32_t> chain = {});

// The attribute space of tc messages (filters, qdiscs and what nests in
// them), for naming the attribute an extended ack points at.
const AttrPolicy& attrPolicy();

// ---- decoders -----------------------------------------------------------------

Result<Qdisc> decodeQdisc(const RawMessage& msg);
// A RTM_NEWTFILTER message. Filters without options (the "tcf_proto" head
// that a dump lists before each priority's filters) decode with an empty spec
// and handle 0; callers skip them.
Result<Filter> decodeFilter(const RawMessage& msg);
// Which (chain, priority, protocol) a RTM_NEWTFILTER message is about and
// whether it is that place's head, read from its header and TCA_CHAIN only:
// it decodes for every filter kind, those vfsteer cannot decode too.
struct FilterPlace {
  uint32_t chain = 0;
  uint16_t priority = 0;
  uint16_t protocol = 0;  // host order
  bool head = false;      // no TCA_OPTIONS
};
Result<FilterPlace> decodeFilterPlace(const RawMessage& msg);
// Both of the above from one reading of the message (a dump's every filter
// is read this way): the place, and the filter unless the message is a
// head or its kind or options do not decode. An error only for a message
// that is not a filter.
struct PlacedFilter {
  FilterPlace place;
  std::optional<Filter> filter;
};
Result<PlacedFilter> decodePlacedFilter(const RawMessage& msg);
// True for the per-priority head entry of a dump (no TCA_OPTIONS), and for a
// message that is not a filter at all.
bool isFilterHead(const RawMessage& msg);

}  // namespace vfsteer::netlink::tc
