// lower: a plan on a topology → the typed objects the kernel should hold,
// each with its ownership key. Pure: what it needs to know about the kernel
// (which XDP slots are taken, what the drivers say they can do) comes in
// the observed state; the previous state keeps chain ids and program slots
// stable across applies.
#pragma once

#include <string>

#include "engine/host_program.hpp"
#include "engine/objects.hpp"
#include "engine/state.hpp"
#include "vfsteer/demux/plan.hpp"
#include "vfsteer/demux/split_report.hpp"
#include "vfsteer/policies/policy.hpp"
#include "vfsteer/policies/profile.hpp"
#include "vfsteer/representors/bpf_demux.hpp"
#include "vfsteer/representors/topology.hpp"

namespace vfsteer::engine {

struct LowerInputs {
  const policies::Policy& policy;
  const policies::Profile& profile;
  const demux::Plan& plan;
  const representors::Topology& topology;
  const ObservedState& observed;
  const InstanceState* previous = nullptr;
  bool emulateNic = false;
  representors::DemuxHook demuxHook = representors::DemuxHook::kTc;
};

struct Lowered {
  DesiredState desired;
  HostProgram host;           // chain ids, programs, hooks: for the state
  demux::SplitReport split;   // the plan's report with devices and host hooks
};

// Fails on what the kernel objects cannot express (more match shapes than
// the host datapath searches, a VF without a representor) and on a bpf
// stage object that cannot be read.
Result<Lowered> lower(const LowerInputs& in);

// The kernel facts that keep chains out of the XDP entry: a program vfsteer
// did not attach in a port's slot, a driver without XDP redirect, a target
// that cannot take redirected frames.
void bindXdpPorts(HostBindings& b, const std::map<std::string, XdpPortFacts>& ports,
                  const std::map<std::string, IfIndex>& ifindex);

}  // namespace vfsteer::engine
