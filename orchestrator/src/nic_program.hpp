// The NIC demux program in the kernel: which program sits in the NIC's slot
// (tc ingress cls_bpf with skip_sw, or XDP offload mode), attaching one in
// place of another, and removing vfsteer's — never anyone else's.
#pragma once

#include <optional>
#include <string>

#include "ports.hpp"
#include "state.hpp"
#include "vfsteer/representors/bpf_demux.hpp"

namespace vfsteer::orchestrator {

std::string hookName(representors::DemuxHook hook);  // "cls_bpf" / "xdp"
std::optional<representors::DemuxHook> parseHookName(const std::string& name);

struct NicProgramSlot {
  uint32_t progId = 0;  // 0: nothing of ours (cls_bpf) / nothing at all (xdp)
  bool inHw = false;    // the kernel reports the program in hardware
  bool skipHw = false;  // cls_bpf: attached in software (emulation)
};

// cls_bpf: vfsteer's filter (priority, handle and name); xdp: whatever
// program the offload slot holds, the caller decides whose it is.
Result<NicProgramSlot> readNicProgramSlot(NetlinkPort& nl, representors::DemuxHook hook, int ifindex,
                                          const std::string& instance);

// Attaches the program `fd` with id `progId`, replacing `replacing` (our
// program there now) atomically, then checks that the kernel reports the
// new one in hardware (`emulated`: in software, cls_bpf skip_hw). When it does not, the previous state is restored
// before the error returns: the kernel's acceptance alone means nothing
// (u32 skip_sw on veth is accepted and never in hardware).
Status attachNicProgram(NetlinkPort& nl, ProgramPort& programs, representors::DemuxHook hook,
                        int ifindex, const std::string& device, const std::string& instance, int fd,
                        uint32_t progId, std::optional<uint32_t> replacing, bool emulated);

// Removes vfsteer's program recorded in `record`, when it is still there.
// Returns what it did, for the operator.
Result<std::string> detachNicProgram(NetlinkPort& nl, ProgramPort& programs, const NicProgramRecord& record,
                                     const std::string& instance);

}  // namespace vfsteer::orchestrator
