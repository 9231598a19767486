// Whether two matches can select the same packet. Conservative: "false" is a
// proof that no packet matches both; "true" means some packet might.
#pragma once

#include "vfsteer/policies/policy.hpp"

namespace vfsteer::demux {

bool mayOverlap(const policies::Match& a, const policies::Match& b);

}  // namespace vfsteer::demux
