// NIC rules as tc u32 filters the way ixgbe offloads them
// (ixgbe_configure_clsu32, ixgbe_model.h), for profiles whose engine is u32.
//
// ixgbe maps u32 onto its flow director: in the root table 800: it reads
// the IPv4 source and destination only; to match a protocol and ports, a
// rule in 800: must *link* to a table of its own (a hash table of one
// bucket), matching the protocol and eating the IP header, and the port
// rules go in that table. The driver takes one link per table and nine
// tables (IXGBE_MAX_LINK_HANDLE), so port rules with the same IP match and
// protocol share a table, and other IP matches need another. Every filter's
// node number is its flow director location (1..2045), unique across
// tables.
//
// Pure: the planner decides here which chains fit; the engine builds the
// filters from the result.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vfsteer/policies/policy.hpp"

namespace vfsteer::demux {

// The fields a flow director rule for this match sets, and their masks. A
// flow director keeps one mask for all rules (profile shared_mask).
struct MatchMask {
  int srcIpBits = -1;  // prefix length; -1: not matched
  int dstIpBits = -1;
  bool ipProto = false;
  bool srcPort = false;
  bool dstPort = false;
  auto operator<=>(const MatchMask&) const = default;
  std::string str() const;  // "dst_ip /24, ip_proto, dst_port"
};
MatchMask matchMask(const policies::Match& match);

inline constexpr uint32_t kU32RootTable = 0x800;
// ixgbe's locations: below (1024 << fdir_pballoc) - 2 with the default
// 64K packet buffer; location 0 cannot be used in a linked table.
inline constexpr uint32_t kU32LastNode = 2045;

// u32 handles: table T is T << 20; node N of table T is (T << 20) | N.
inline constexpr uint32_t u32TableHandle(uint32_t table) { return table << 20; }
inline constexpr uint32_t u32NodeHandle(uint32_t table, uint32_t node) { return (table << 20) | node; }

// A link from 800: into `table`, matching the IP keys and protocol of
// `chain`'s match (all port rules of the table share them).
struct U32Link {
  uint32_t table = 0;
  uint32_t node = 0;  // its node in 800:
  size_t chain = 0;
};

struct U32Layout {
  std::vector<U32Link> links;
  std::vector<uint32_t> handles;  // per rule given: its u32 handle; 0 if it did not fit
  std::vector<std::string> whyNot;  // per rule given: why it did not fit (empty if it did)
};

struct U32Rule {
  const policies::Match* match;  // must outlive the call
  size_t chain;                  // the policy chain it belongs to
  uint32_t priority;             // the chain's priority (unique: u32 rules are all on the uplink side)
};

// Lays out one rule per chain, given in match order. `linkTables`: tables
// the device takes (0: as many as node numbers allow). Links take the
// highest node numbers (2045 down). A rule's node is its chain's priority
// when all fit below the links, so that chains added or removed move no
// other rule; else rules are numbered 1, 2, ... in match order.
U32Layout layoutU32(const std::vector<U32Rule>& rules, int linkTables);

}  // namespace vfsteer::demux
