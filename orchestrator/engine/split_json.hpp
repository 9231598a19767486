// The split report as JSON: the document `vfsteer plan -o json` prints
// (docs/plan-json.md) and the form in which an apply's state keeps it. The
// two directions round-trip.
#pragma once

#include <iosfwd>
#include <nlohmann/json.hpp>

#include "vfsteer/common/result.hpp"
#include "vfsteer/demux/split_report.hpp"

namespace vfsteer::engine {

// Format version of the plan JSON document; bump on any incompatible change.
inline constexpr int kPlanJsonVersion = 1;

// In the order docs/plan-json.md shows (the identity fields first).
nlohmann::ordered_json toJson(const demux::SplitReport& report);
// The same document, compact, written chain by chain (never whole in memory).
void writeJson(std::ostream& out, const demux::SplitReport& report);
// A fingerprint of everything a split report says (cheaper than its JSON).
std::string fingerprint(const demux::SplitReport& report);
Result<demux::SplitReport> splitReportFromJson(const nlohmann::json& doc);

}  // namespace vfsteer::engine
