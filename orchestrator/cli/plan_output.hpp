// Renders plans and reports: JSON for programs (docs/plan-json.md,
// docs/report-json.md; the plan document is engine::toJson of the split
// report), and a table and a Graphviz picture for people. A report is the
// plan plus what the kernel holds, and looks like one.
#pragma once

#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/report.hpp"

namespace vfsteer::cli {

// Format version of the report JSON document; bump on any incompatible change.
inline constexpr int kReportJsonVersion = 1;

// Keeps only the chains named by --chain (all when `names` is empty); a
// name the report does not have is an error that lists the ones it has.
Status keepChains(demux::SplitReport& split, const std::vector<std::string>& names);

// The split report with what the kernel holds (docs/report-json.md).
// In the order docs/report-json.md shows (the identity fields first).
nlohmann::ordered_json reportJson(const engine::LiveReport& report);

// The split as a table and as a Graphviz picture, for people; with a live
// report, the host's counters too. Written as they are made: a plan of
// 100,000 chains is never one string.
void writeTable(std::ostream& out, const demux::SplitReport& split, const engine::LiveReport* live = nullptr);
void writeDot(std::ostream& out, const demux::SplitReport& split, const engine::LiveReport* live = nullptr);

}  // namespace vfsteer::cli
