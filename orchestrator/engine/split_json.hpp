// The split report as JSON: the document `vfsteer plan -o json` prints
// (docs/plan-json.md) and the form in which an apply's state keeps it. The
// two directions round-trip.
#pragma once

#include <nlohmann/json.hpp>

#include "vfsteer/common/result.hpp"
#include "vfsteer/demux/split_report.hpp"

namespace vfsteer::engine {

// Format version of the plan JSON document; bump on any incompatible change.
inline constexpr int kPlanJsonVersion = 1;

nlohmann::json toJson(const demux::SplitReport& report);
Result<demux::SplitReport> splitReportFromJson(const nlohmann::json& doc);

}  // namespace vfsteer::engine
