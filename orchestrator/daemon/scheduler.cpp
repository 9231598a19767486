#include "daemon/scheduler.hpp"

#include <algorithm>

namespace vfsteer::daemon {

const char* name(Trigger trigger) {
  switch (trigger) {
    case Trigger::kKernel: return "kernel";
    case Trigger::kPolicy: return "policy";
    case Trigger::kRetry: return "retry";
    case Trigger::kResync: return "resync";
  }
  return "?";
}

void Scheduler::kernelChanged(Clock::time_point now) {
  if (!burstStart_) burstStart_ = now;
  lastEvent_ = now;
}

void Scheduler::policyChanged(Clock::time_point now) {
  kernelChanged(now);
  policyPending_ = true;
}

void Scheduler::finished(Clock::time_point now, bool ok) {
  burstStart_.reset();
  policyPending_ = false;
  lastReconcile_ = now;
  if (ok) {
    failures_ = 0;
    return;
  }
  ++failures_;
  Millis backoff = timing_.firstBackoff;
  for (int i = 1; i < failures_ && backoff < timing_.maxBackoff; ++i) backoff *= 2;
  backoffUntil_ = now + std::min(backoff, timing_.maxBackoff);
}

Clock::time_point Scheduler::burstDue() const {
  return std::min(lastEvent_ + timing_.settle, *burstStart_ + timing_.maxDelay);
}

std::optional<Scheduler::Due> Scheduler::next() const {
  if (policyPending_) return Due{burstDue(), Trigger::kPolicy};
  if (failures_ > 0) {
    // Retried when the back-off ends, with or without news from the kernel.
    const bool news = burstStart_.has_value();
    return Due{news ? std::max(burstDue(), backoffUntil_) : backoffUntil_, news ? Trigger::kKernel : Trigger::kRetry};
  }
  if (burstStart_) return Due{burstDue(), Trigger::kKernel};
  if (timing_.resync.count() > 0) return Due{lastReconcile_ + timing_.resync, Trigger::kResync};
  return std::nullopt;
}

}  // namespace vfsteer::daemon
