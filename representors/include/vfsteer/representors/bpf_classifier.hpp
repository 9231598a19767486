// A host classifier made for one policy: the tables of a generation
// (host_tables.hpp) compiled into straight-line BPF that compares the parsed
// keys with the rules' constants, in priority order, instead of one hash
// lookup per match shape.
//
// The datapath's entries parse the frame as always, then tail-call the
// classifier of their generation (slot `gen` of vfs_spec_tc/vfs_spec_xdp);
// it reads the parsed keys from the per-CPU scratch (struct vfs_scratch),
// leaves its verdict there and tail-calls vfs_run/vfs_run_xdp, which run
// the chain. Parsing and the chains' stages are the datapath's own code, so
// only classification differs, and it must pick what the tables pick: the
// lowest priority, ties to the lower tuple (datapath.bpf.c classify()).
//
// Why generated code and not the C datapath with read-only constants: the
// verifier prunes branches on constants but keeps every load of them, so a
// loop over a rule table in .rodata still walks the table; here each test is
// a load of the packet's word and a compare with an immediate.
#pragma once

#include <linux/bpf.h>

#include <cstddef>
#include <vector>

#include "vfsteer/common/result.hpp"
#include "vfsteer/representors/bpf_demux.hpp"
#include "vfsteer/representors/host_tables.hpp"

namespace vfsteer::representors {

// The most rules a specialized classifier takes. Chosen from
// bench/host_datapath: at 64 rules, with the matching rule last, the
// generated compares still cost less than the tables' one hash lookup per
// match shape (README "Measured").
inline constexpr size_t kSpecializedMaxRules = 64;

// Whether the tables are small enough to specialize.
bool specializable(const HostTables& t);

// The classifier's instructions (pure). `scratchFd` is the datapath's
// vfs_scratch map, `specFd` the hook's program array (vfs_spec_tc or
// vfs_spec_xdp); the instructions refer to them by fd.
std::vector<bpf_insn> compileClassifier(const HostTables& t, DemuxHook hook, int scratchFd, int specFd);

// Loads it; the kernel's refusal, with the verifier's reason, is the error.
Result<int> loadClassifier(const std::vector<bpf_insn>& insns, DemuxHook hook);

}  // namespace vfsteer::representors
