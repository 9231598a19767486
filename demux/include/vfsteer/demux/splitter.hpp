// The planner: Policy + Profile → Plan. Pure and deterministic: no I/O, no
// clock, no logging; problems come back as Plan::errors.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "vfsteer/common/result.hpp"
#include "vfsteer/demux/plan.hpp"

namespace vfsteer::demux {

// Placement overrides from the command line (--skip-sw / --skip-hw).
struct PlanOptions {
  std::optional<OffloadMode> all;             // "all"
  std::map<std::string, OffloadMode> chains;  // per chain name; wins over `all`
  // What the kernel refused earlier: chain name → its reason. Such a chain
  // has no NIC part (it runs on the host with that reason), and chains after
  // it that may match the same packets follow it there.
  std::map<std::string, std::string> refused;
};

// Fails only when the options name a chain the policy does not have.
Result<Plan> plan(const policies::Policy& policy, const policies::Profile& profile,
                  const PlanOptions& options = {});

}  // namespace vfsteer::demux
