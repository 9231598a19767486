// A host classifier made for one policy: the tables of a generation
// (host_tables.hpp) compiled into straight-line BPF that compares the parsed
// keys with the rules' constants, in priority order, instead of one hash
// lookup per match shape.
//
// The datapath's entries parse the frame as always, then tail-call the
// classifier of their generation (slot `gen` of vfs_spec_tc/vfs_spec_xdp);
// it reads the parsed keys from the per-CPU scratch (struct vfs_scratch) and
// leaves its verdict there. A chain made only of stages it can write out
// with constants (mark, queue, then deliver or drop; in XDP, an XDP chain
// ending in deliver or drop) it runs itself, counters included, at the
// chain's fixed counter index; for any other chain it tail-calls
// vfs_run/vfs_run_xdp, which run it as after the tables. It must pick what
// the tables pick, the lowest priority, ties to the lower tuple
// (datapath.bpf.c classify()), and run a chain as run_chain() does.
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

// The datapath's maps the classifier uses, by file descriptor.
struct ClassifierMaps {
  int scratch = -1;     // vfs_scratch
  int spec = -1;        // the hook's program array: vfs_spec_tc or vfs_spec_xdp
  int chainStats = -1;  // vfs_chain_stats
};

// The classifier's instructions (pure); they refer to the maps by fd.
std::vector<bpf_insn> compileClassifier(const HostTables& t, DemuxHook hook, const ClassifierMaps& maps);

// Loads it; the kernel's refusal, with the verifier's reason, is the error.
Result<int> loadClassifier(const std::vector<bpf_insn>& insns, DemuxHook hook);

}  // namespace vfsteer::representors
