// When `vfsteer run` reconciles. Pure: it is told what happened and when,
// and says when the next reconcile is due, so that coalescing and back-off
// are tested without a clock.
//
//   - A kernel notification starts a burst; the reconcile runs once the
//     burst has been quiet for `settle`, and at the latest `maxDelay` after
//     its first notification (1,000 link flaps are a handful of reconciles).
//   - A failed reconcile backs off (`firstBackoff`, doubling to
//     `maxBackoff`); notifications during the back-off do not shorten it,
//     so a kernel that keeps refusing is never hammered.
//   - A policy change (new file content, SIGHUP) settles like a burst but
//     ignores the back-off: the operator may have just fixed the cause.
//   - Without any of these, a resync runs `resync` after the last reconcile:
//     it catches drift that no notification announces.
#pragma once

#include <chrono>
#include <optional>

namespace vfsteer::daemon {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

struct Timing {
  Millis settle{25};
  Millis maxDelay{1000};
  Millis firstBackoff{1000};
  Millis maxBackoff{60000};
  Millis resync{30000};  // 0: never
};

// Why a reconcile is due (logged, and counted in the metrics).
enum class Trigger { kKernel, kPolicy, kRetry, kResync };
const char* name(Trigger trigger);

class Scheduler {
 public:
  explicit Scheduler(Timing timing, Clock::time_point start) : timing_(timing), lastReconcile_(start) {}

  void kernelChanged(Clock::time_point now);
  void policyChanged(Clock::time_point now);
  // A reconcile ended at `now`; what was pending before it began is done.
  void finished(Clock::time_point now, bool ok);

  // When the next reconcile is due, and why.
  struct Due {
    Clock::time_point at;
    Trigger trigger;
  };
  std::optional<Due> next() const;
  int failuresInARow() const { return failures_; }
  bool policyPending() const { return policyPending_; }

 private:
  Clock::time_point burstDue() const;

  Timing timing_;
  std::optional<Clock::time_point> burstStart_;
  Clock::time_point lastEvent_{};
  bool policyPending_ = false;
  int failures_ = 0;
  Clock::time_point backoffUntil_{};
  Clock::time_point lastReconcile_;
};

}  // namespace vfsteer::daemon
