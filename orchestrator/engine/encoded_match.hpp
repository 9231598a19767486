// A chain's match as the values a classifier compares. One encoder serves
// the three classifiers vfsteer programs — the host datapath's tables, tc
// flower rules and the BPF demux program — so that they cannot disagree
// about what a prefix, a VLAN tag or "IPv4" means. Each backend only copies
// these fields into its own layout (and byte order).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "vfsteer/policies/policy.hpp"

namespace vfsteer::engine {

template <size_t N>
struct MaskedBytes {
  std::array<uint8_t, N> value{};  // already masked
  std::array<uint8_t, N> mask{};
  bool operator==(const MaskedBytes&) const = default;
};

// An address prefix: IPv4 in the first four bytes.
struct EncodedPrefix {
  bool v6 = false;
  MaskedBytes<16> bits;
  MaskedBytes<4> v4() const;
  bool operator==(const EncodedPrefix&) const = default;
};

// A VLAN tag; host byte order.
struct EncodedTag {
  uint16_t tpid = 0;  // 0x8100 or 0x88a8
  std::optional<uint16_t> vid;
  std::optional<uint8_t> prio;
  uint16_t tci() const;
  uint16_t tciMask() const;
  bool operator==(const EncodedTag&) const = default;
};

struct EncodedTunnel {
  policies::TunnelType type = policies::TunnelType::kVxlan;
  uint16_t dstPort = 0;  // host order
  std::optional<uint32_t> vni;
  std::optional<EncodedPrefix> srcIp, dstIp;  // outer addresses
  uint8_t outerL3 = 0;  // 4 or 6 when an outer address is matched, else 0
  bool operator==(const EncodedTunnel&) const = default;
};

// Host byte order for numbers; with a tunnel, L2..L4 describe the inner frame.
struct EncodedMatch {
  std::optional<MaskedBytes<6>> dstMac, srcMac;
  std::optional<EncodedTag> outer, inner;
  // Untagged frames only. Flower needs nothing more: its protocol (an
  // ethertype, never absent then) already tells tagged frames apart.
  bool untagged = false;
  std::optional<uint16_t> ethertype;  // after the tags
  std::optional<EncodedPrefix> srcIp, dstIp;
  std::optional<uint8_t> ipProto;
  std::optional<uint16_t> srcPort, dstPort;
  std::optional<EncodedTunnel> tunnel;
  bool operator==(const EncodedMatch&) const = default;
};

// The IP versions a classifier needs one entry for: a match on both IPv4
// and IPv6 becomes two (tc binds a priority to one protocol, the host keys
// carry the ethertype); kNone when the match is not IP-specific.
std::vector<policies::IpVersion> ipVersionsOf(const policies::Match& m);

// The match for one of those versions.
EncodedMatch encodeMatch(const policies::Match& m, policies::IpVersion l3);

}  // namespace vfsteer::engine
