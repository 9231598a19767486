// The tc priorities and chains vfsteer owns. Anything outside these ranges
// belongs to someone else and is never touched.
#pragma once

#include <cstdint>

#include "vfsteer/policies/policy.hpp"

namespace vfsteer::demux {

// NIC rules: one tc priority per (chain priority, IP version), so that a
// chain matching both IPv4 and IPv6 gets two filters (tc binds a priority to
// one protocol). Chain priority 1..9999 maps into [10002, 30000).
inline constexpr uint16_t kNicPriorityBase = 10000;
// The NIC demux as one offloaded cls_bpf program (profiles with engine bpf)
// sits at the base itself, below every chain's priority.
inline constexpr uint16_t kNicProgramPriority = kNicPriorityBase;
// So do all u32 filters of engine u32: u32 orders rules by node number
// within one priority, and its tables belong to the priority they are made in.
inline constexpr uint16_t kU32Priority = kNicPriorityBase;
inline constexpr uint16_t kNicPriorityEnd = 30000;

// The host datapath's cls_bpf filter on each attach point.
inline constexpr uint16_t kHostPriority = 40000;

// Software continuation chains (Handover::kContinue): one tc chain per
// policy chain priority, far above anything a person types. The kernel
// refuses chain indexes past 2^28 - 1 (the low bits of TC_ACT_GOTO_CHAIN).
inline constexpr uint32_t kContinueChainBase = 0x07660000;
inline constexpr uint32_t kContinueChainEnd = kContinueChainBase + 10000;

inline constexpr uint16_t nicPriority(uint32_t chainPriority, policies::IpVersion l3) {
  return static_cast<uint16_t>(kNicPriorityBase + chainPriority * 2 +
                               (l3 == policies::IpVersion::kV6 ? 1 : 0));
}

// In a profile's priority range, rules share priorities; each takes the
// number its chain would have as a priority in the usual layout (unique per
// side) as its flower handle, stable across policy changes.
inline constexpr uint32_t packedHandle(uint32_t chainPriority, policies::IpVersion l3) {
  return chainPriority * 2 + (l3 == policies::IpVersion::kV6 ? 1 : 0);
}

inline constexpr uint32_t continueChain(uint32_t chainPriority) {
  return kContinueChainBase + chainPriority;
}

inline constexpr bool ownsPriority(uint32_t prio) {
  return (prio >= kNicPriorityBase && prio < kNicPriorityEnd) || prio == kHostPriority;
}

inline constexpr bool ownsChain(uint32_t chain) {
  return chain >= kContinueChainBase && chain < kContinueChainEnd;
}

}  // namespace vfsteer::demux
