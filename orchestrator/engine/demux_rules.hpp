// The NIC part of a plan as one offloaded BPF program, for profiles whose
// engine is BPF (netdevsim, Netronome's BPF app): each NicRule becomes a
// DemuxRule, in the plan's order. Pure.
#pragma once

#include <vector>

#include "vfsteer/common/result.hpp"
#include "vfsteer/demux/plan.hpp"
#include "vfsteer/policies/policy.hpp"
#include "vfsteer/representors/bpf_demux.hpp"

namespace vfsteer::engine {

// Fails (a planner bug, not the operator's) when a NIC rule asks for what a
// demux program cannot express: tunnel keys, VF-side rules, stages other
// than drop.
Result<std::vector<representors::DemuxRule>> buildDemuxRules(const policies::Policy& policy,
                                                             const demux::Plan& plan);

}  // namespace vfsteer::engine
