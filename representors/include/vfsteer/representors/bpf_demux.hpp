// The NIC demux as one BPF program, generated from the NIC rules, for NICs
// that offload BPF rather than tc filters (netdevsim, Netronome's BPF app).
//
// Offloaded programs cannot use the host datapath's maps (netdevsim offloads
// maps of at most two entries), so the rules become constants in the code:
// the program parses Ethernet, two in-packet VLAN tags, IPv4 or IPv6 and the
// ports into a scratch area on the stack, then tests the rules in order and
// returns the first match's verdict (drop, or pass to the host), else pass.
#pragma once

#include <linux/bpf.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vfsteer/common/result.hpp"

namespace vfsteer::representors {

// Values in network order, as they sit in the packet.
struct DemuxRule {
  struct Mac {
    std::array<uint8_t, 6> value{};
    std::array<uint8_t, 6> mask{};
  };
  struct Tag {
    uint16_t tpid = 0;  // network order
    uint16_t tci = 0;
    uint16_t tciMask = 0;
  };
  std::optional<Mac> dmac, smac;
  std::optional<Tag> outer, inner;       // VLAN tags as they appear in the packet
  bool untagged = false;                 // untagged frames only
  std::optional<uint16_t> ethertype;     // after the tags
  std::optional<std::pair<uint32_t, uint32_t>> src4, dst4;  // value, mask
  std::optional<std::pair<std::array<uint8_t, 16>, std::array<uint8_t, 16>>> src6, dst6;
  std::optional<uint8_t> ipProto;
  std::optional<uint16_t> sport, dport;
  bool drop = false;  // else pass the packet to the host
};

enum class DemuxHook { kTc, kXdp };

// The program's instructions (pure; tested by running it unoffloaded).
std::vector<bpf_insn> compileDemux(const std::vector<DemuxRule>& rules, DemuxHook hook);

// Loads the program; bound to `offloadIfindex` (the NIC) unless it is 0.
// The kernel's refusal (and the verifier log) comes back as the error.
Result<int> loadDemux(const std::vector<bpf_insn>& insns, DemuxHook hook, int offloadIfindex);

// A fingerprint of the instructions, to tell whether the program changed.
std::string demuxFingerprint(const std::vector<bpf_insn>& insns);

}  // namespace vfsteer::representors
