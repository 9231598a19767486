// When `vfsteer run` reconciles (daemon/scheduler.hpp), on a made-up clock.
#include "daemon/scheduler.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace vfsteer::daemon {
namespace {

using namespace std::chrono_literals;

const Clock::time_point t0{};

Timing timing() {
  Timing t;
  t.settle = 100ms;
  t.maxDelay = 1000ms;
  t.firstBackoff = 1000ms;
  t.maxBackoff = 8000ms;
  t.resync = 30000ms;
  return t;
}

TEST(Scheduler, OnlyTheResyncIsDueWhenNothingHappens) {
  Scheduler s(timing(), t0);
  auto due = s.next();
  ASSERT_TRUE(due);
  EXPECT_EQ(due->trigger, Trigger::kResync);
  EXPECT_EQ(due->at, t0 + 30000ms);
  Timing never = timing();
  never.resync = 0ms;
  EXPECT_FALSE(Scheduler(never, t0).next());
}

TEST(Scheduler, ANotificationIsReconciledOnceItsBurstIsQuiet) {
  Scheduler s(timing(), t0);
  s.kernelChanged(t0 + 5ms);
  EXPECT_EQ(s.next()->at, t0 + 105ms);
  EXPECT_EQ(s.next()->trigger, Trigger::kKernel);
  s.kernelChanged(t0 + 50ms);
  EXPECT_EQ(s.next()->at, t0 + 150ms) << "each notification restarts the quiet time";
}

TEST(Scheduler, AnEndlessBurstIsReconciledOncePerMaxDelay) {
  Scheduler s(timing(), t0);
  std::vector<Clock::time_point> reconciles;
  // A notification every millisecond for 5 seconds.
  for (auto now = t0; now < t0 + 5000ms; now += 1ms) {
    s.kernelChanged(now);
    if (auto due = s.next(); due && now >= due->at) {
      reconciles.push_back(now);
      s.finished(now, true);
    }
  }
  // Each burst begins 1 ms after the reconcile that ended the last.
  EXPECT_EQ(reconciles, (std::vector{t0 + 1000ms, t0 + 2001ms, t0 + 3002ms, t0 + 4003ms}));
  EXPECT_EQ(s.next()->at, t0 + 5004ms) << "the open burst's maxDelay";
}

TEST(Scheduler, FailuresBackOffDoublingToTheMaximumAndNotificationsDoNotShortenIt) {
  Scheduler s(timing(), t0);
  s.finished(t0, false);
  EXPECT_EQ(s.next()->at, t0 + 1000ms);
  EXPECT_EQ(s.next()->trigger, Trigger::kRetry);
  s.kernelChanged(t0 + 10ms);
  EXPECT_EQ(s.next()->at, t0 + 1000ms) << "a notification during the back-off waits for it";
  EXPECT_EQ(s.next()->trigger, Trigger::kKernel);
  auto now = t0 + 1000ms;
  for (auto expected : {2000ms, 4000ms, 8000ms, 8000ms}) {
    s.finished(now, false);
    EXPECT_EQ(s.next()->at, now + expected);
    now += expected;
  }
  EXPECT_EQ(s.failuresInARow(), 5);
  s.finished(now, true);
  EXPECT_EQ(s.failuresInARow(), 0);
  EXPECT_EQ(s.next()->trigger, Trigger::kResync);
}

TEST(Scheduler, APolicyChangeIgnoresTheBackOff) {
  Scheduler s(timing(), t0);
  s.finished(t0, false);
  s.finished(t0 + 1000ms, false);  // backing off until 3 s
  s.policyChanged(t0 + 1100ms);
  EXPECT_TRUE(s.policyPending());
  EXPECT_EQ(s.next()->trigger, Trigger::kPolicy);
  EXPECT_EQ(s.next()->at, t0 + 1200ms);
  s.finished(t0 + 1200ms, true);
  EXPECT_FALSE(s.policyPending());
}

TEST(Scheduler, NeverDueInThePastForeverAfterAReconcile) {
  // After any reconcile, nothing is due again at once unless something new
  // happened: the loop cannot spin.
  Scheduler s(timing(), t0);
  s.kernelChanged(t0);
  s.finished(t0 + 200ms, true);
  EXPECT_GT(s.next()->at, t0 + 200ms);
  s.finished(t0 + 300ms, false);
  EXPECT_GT(s.next()->at, t0 + 300ms);
}

}  // namespace
}  // namespace vfsteer::daemon
