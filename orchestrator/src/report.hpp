// vfsteer report: the live state of an instance — the applied plan, where
// the host datapath is attached, and per chain and stage counters.
#pragma once

#include <nlohmann/json.hpp>

#include "instances.hpp"
#include "ports.hpp"
#include "state.hpp"

namespace vfsteer::orchestrator {

inline constexpr int kReportJsonVersion = 1;

Result<nlohmann::json> buildReport(const InstanceState& state, PortFactory& ports);

}  // namespace vfsteer::orchestrator
