// Renders plans and reports: JSON for programs (docs/plan-json.md,
// docs/report-json.md), and a table and a Graphviz picture for people. The
// table and the picture are drawn from the JSON document, so a report (the
// plan plus counters) and a plan look alike.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "vfsteer/demux/plan.hpp"
#include "vfsteer/policies/policy.hpp"

namespace vfsteer::orchestrator {

// Format version of the plan JSON document; bump on any incompatible change.
inline constexpr int kPlanJsonVersion = 1;

nlohmann::json planJson(const policies::Policy& policy, const demux::Plan& plan);

// From a plan or report document; counters are shown where present
// ("counters" on a chain, "packets"/"bytes" on a stage).
std::string chainsTable(const nlohmann::json& doc);
std::string chainsDot(const nlohmann::json& doc);

}  // namespace vfsteer::orchestrator
