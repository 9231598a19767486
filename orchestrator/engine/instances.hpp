// Which instance (PF, in which namespace) a report or teardown is about.
#pragma once

#include <optional>
#include <string>

#include "engine/state.hpp"
#include "vfsteer/common/result.hpp"
#include "vfsteer/policies/policy.hpp"
#include "vfsteer/representors/topology.hpp"

namespace vfsteer::engine {

struct InstanceRef {
  std::string instance;  // "pf" or "pf:netns"
  std::string pf;
  std::string netns;
};

// The topology of the policy's device: its PF, in the namespace it names.
Result<representors::Topology> discoverDevice(const policies::Device& device,
                                              representors::DiscoverOptions options);

// "pf" or "pf:netns"; refuses anything else (names::checkInstanceName).
Result<InstanceRef> parseInstance(const std::string& name);

// --instance NAME, else the PF of -f POLICY, else the only instance there is.
Result<InstanceRef> resolveInstance(const std::optional<std::string>& instance,
                                    const std::optional<std::string>& policyFile,
                                    const representors::DiscoverOptions& discover,
                                    const StateStore& store);

// Exits with a clear message unless the process may change networking and
// BPF state (root, or CAP_NET_ADMIN + CAP_SYS_ADMIN/CAP_BPF).
Status requirePrivileges(const std::string& command);

}  // namespace vfsteer::engine
