// Renders plans and reports: JSON for programs (docs/plan-json.md,
// docs/report-json.md; the plan document is engine::toJson of the split
// report), and a table and a Graphviz picture for people. The table and the
// picture are drawn from the JSON document, so a report (the plan plus
// counters) and a plan look alike.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "engine/report.hpp"

namespace vfsteer::cli {

// Format version of the report JSON document; bump on any incompatible change.
inline constexpr int kReportJsonVersion = 1;

// The split report with what the kernel holds (docs/report-json.md).
nlohmann::json reportJson(const engine::LiveReport& report);

// From a plan or report document; counters are shown where present
// ("counters" on a chain, "packets"/"bytes" on a stage).
std::string chainsTable(const nlohmann::json& doc);
std::string chainsDot(const nlohmann::json& doc);

}  // namespace vfsteer::cli
