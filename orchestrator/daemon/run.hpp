// vfsteer run: apply a policy, then keep the kernel equal to it until told
// to stop.
//
//   claim the instance (engine/keeper.hpp) → apply → loop:
//     wait for a signal, the policy file, a link/tc notification that
//     concerns a watched device, or the scheduler's next deadline
//     → reconcile: apply the last good policy again (only the difference is
//       written), or the file's new content when it changed
//   SIGTERM/SIGINT: stop, steering left in place (or removed with
//   teardownOnExit); SIGHUP: read the policy again.
//
// A new policy that does not load or is refused leaves the last good one in
// force: the apply is all or nothing, and later repairs keep applying the
// last good text, never the broken file.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "daemon/scheduler.hpp"
#include "daemon/watch.hpp"
#include "engine/apply.hpp"
#include "engine/ports.hpp"

namespace vfsteer::daemon {

struct RunOptions {
  engine::ApplyOptions apply;  // policyFile and how to apply it (profile, skip-sw, emulate-nic...)
  bool teardownOnExit = false;
  Timing timing;
};

// What the daemon has done, for the log and the metrics.
struct RunStats {
  uint64_t generation = 0;              // policies put in force (the first apply is 1)
  std::string instance;
  std::map<std::string, uint64_t> reconciles;  // by trigger (scheduler.hpp)
  std::map<std::string, uint64_t> repairs;     // changes written outside a policy change, by object kind
  uint64_t failures = 0;                // reconciles that failed (kernel refused; undone)
  uint64_t policyRejections = 0;        // new policy content that did not load or was refused
  bool policyFileRefused = false;       // the file's current content is refused (until a good one)
  std::string lastError;                // the latest failure or rejection, as logged
  double lastDurationSeconds = 0;
  std::chrono::system_clock::time_point lastSuccess{};
  uint64_t notificationsSeen = 0;
};

enum class RunEnd {
  kStopped,      // a signal: exit 0
  kBadInput,     // the first policy (or the command line) is unusable; nothing changed
  kPlanRefused,  // the first policy's plan was refused; nothing changed
  kFailed,       // the daemon could not watch or claim what it needs
};

struct RunOutcome {
  RunEnd end = RunEnd::kStopped;
  std::optional<Error> error;  // why, unless stopped
};

// Called after every reconcile (and once after the first apply), on the
// daemon's thread: the metrics read the stats from here.
using StatsObserver = std::function<void(const RunStats&)>;

// `signals` is opened by the caller before any thread starts (watch.hpp).
RunOutcome run(const RunOptions& options, engine::PortFactory& ports, SignalWatch& signals,
               const StatsObserver& observer = {});

}  // namespace vfsteer::daemon
