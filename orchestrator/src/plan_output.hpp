// Renders a Plan for people (table), programs (JSON, docs/plan-json.md) and
// pictures (Graphviz dot). Pure functions of the plan.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "vfsteer/demux/plan.hpp"
#include "vfsteer/policies/policy.hpp"

namespace vfsteer::orchestrator {

// Format version of the JSON document; bump on any incompatible change.
inline constexpr int kPlanJsonVersion = 1;

std::string planTable(const policies::Policy& policy, const demux::Plan& plan);
nlohmann::json planJson(const policies::Policy& policy, const demux::Plan& plan);
std::string planDot(const policies::Policy& policy, const demux::Plan& plan);

}  // namespace vfsteer::orchestrator
