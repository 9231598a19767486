// vfsteer teardown: reconcile against nothing. Removes what vfsteer made for
// an instance and nothing else, with or without its state: filters are
// found by their marks on every link of the namespace, the rest by the
// state and the journal of an interrupted apply.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "engine/change_set.hpp"
#include "engine/execute.hpp"
#include "engine/instances.hpp"
#include "engine/ports.hpp"
#include "engine/state.hpp"

namespace vfsteer::engine {

struct TeardownResult {
  std::vector<Change> removed;  // empty (with no state or journal): there was nothing
  bool removedState = false;
  bool removedJournal = false;
  bool nothing() const { return removed.empty() && !removedState && !removedJournal; }
};

// Waits up to `lockWait` for another vfsteer changing the instance. A
// failure undoes the removals made before it. Refused while a `vfsteer run`
// keeps the instance, unless it is that run's own (`asKeeper`).
Result<TeardownResult> teardown(const InstanceRef& ref, PortFactory& ports, const StateStore& store,
                                std::chrono::milliseconds lockWait, bool asKeeper = false);

}  // namespace vfsteer::engine
