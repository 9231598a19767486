// The split report as JSON: the document `vfsteer plan -o json` prints
// (docs/plan-json.md) and the form in which an apply's state keeps it. The
// two directions round-trip.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "vfsteer/common/result.hpp"
#include "vfsteer/demux/split_report.hpp"

namespace vfsteer::engine {

// Format version of the plan JSON document; bump on any incompatible change.
inline constexpr int kPlanJsonVersion = 1;

// The document as compact JSON text, appended to `out`, in the order
// docs/plan-json.md shows (the identity fields first). Written directly, not
// built as a tree: a state keeps one per apply of thousands of chains.
void writeJson(std::string& out, const demux::SplitReport& report);
// The same document as a tree (parsed from writeJson's text: one definition).
nlohmann::ordered_json toJson(const demux::SplitReport& report);
// A fingerprint of everything a split report says (cheaper than its JSON).
std::string fingerprint(const demux::SplitReport& report);
Result<demux::SplitReport> splitReportFromJson(const nlohmann::json& doc);

}  // namespace vfsteer::engine
