// vfsteer teardown: removes what vfsteer made for an instance and nothing
// else, with or without its state file.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "instances.hpp"
#include "ports.hpp"
#include "state.hpp"

namespace vfsteer::orchestrator {

// Returns what was removed (empty: there was nothing).
// Waits up to `lockWait` for another vfsteer changing the instance.
Result<std::vector<std::string>> teardown(const InstanceRef& ref, PortFactory& ports, const StateStore& store,
                                          std::chrono::milliseconds lockWait);

}  // namespace vfsteer::orchestrator
