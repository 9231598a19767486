// reconcile: desired + observed → the change set that makes the kernel hold
// exactly the desired objects among vfsteer's own. Pure: no I/O.
//
// Contract (tests/unit/reconcile_test.cpp checks it on generated states):
//   - applying the change set to the observed state yields the desired
//     objects, and reconciling again yields nothing;
//   - nothing that is not vfsteer's is changed: a foreign clsact or tunnel
//     device is used, never removed; a clsact vfsteer added is removed only
//     when no foreign filter is left on it;
//   - the order never mis-steers a packet (see Phase): what a rule jumps to
//     exists before the rule, what an add needs room for is removed before
//     it, and what the plan retires goes only after the host has taken over.
#pragma once

#include "engine/change_set.hpp"
#include "engine/objects.hpp"
#include "vfsteer/common/result.hpp"

namespace vfsteer::engine {

// Fails (kConflict) when a desired object needs a place someone else holds:
// a foreign filter at vfsteer's host priority on a port.
Result<ChangeSet> reconcile(const DesiredState& desired, const ObservedState& observed);

// True when the kernel's object is the desired one (no change needed).
bool sameObject(const Object& desired, const Object& observed, const ObservedState& facts);

}  // namespace vfsteer::engine
