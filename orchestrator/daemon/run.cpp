#include "daemon/run.hpp"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>

#include "daemon/notify.hpp"
#include "daemon/watch.hpp"
#include "engine/instances.hpp"
#include "engine/keeper.hpp"
#include "engine/state.hpp"
#include "engine/teardown.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::daemon {

namespace {

std::string describe(const engine::ApplyFailure& f) {
  std::string msg = f.error.describe();
  if (f.leftovers.empty()) {
    msg += f.changedSomething ? " (every change before it was undone)" : " (nothing was changed)";
  } else {
    msg += "; undoing left behind:";
    for (const auto& l : f.leftovers) msg += " " + l + ";";
  }
  return msg;
}

// One line per event, in the daemon's log: what the apply did besides its
// changes (which the caller logs with their own words). The policy's
// warnings (demux/lint.hpp) only when it is new, not at every repair.
void logSideNotes(const engine::ApplyResult& r, bool newPolicy) {
  if (newPolicy)
    for (const auto& w : r.policyWarnings)
      spdlog::warn("policy {}: {}", w.pos.str(), (w.chain.empty() ? "" : "chain " + w.chain + ": ") + w.message);
  for (const auto& refusal : r.refusals) {
    std::string chains;
    for (const auto& c : refusal.chains) chains += (chains.empty() ? "" : ", ") + c;
    spdlog::warn("chain {} runs on the host: the NIC refused: {}", chains, refusal.words);
  }
  for (const auto& w : r.warnings) spdlog::warn("{}: {}", w.what, w.error.describe());
  if (r.tookOver) spdlog::info("took over what an interrupted vfsteer (pid {}) left", r.tookOver->pid);
}

class Daemon {
 public:
  Daemon(const RunOptions& options, engine::PortFactory& ports, SignalWatch& signals, const StatsObserver& observer)
      : opts_(options), ports_(ports), signals_(signals), observer_(observer), store_(options.apply.stateRoot),
        scheduler_(options.timing, Clock::now()) {}

  RunOutcome run();

 private:
  engine::ApplyResult applyText(const std::string& text);
  bool reconcile(Trigger trigger);
  bool putInForce(const std::string& text);
  bool repair(Trigger trigger);
  void policyFileTouched();
  void watchDevicesOfState();
  void stop();
  void publish();

  const RunOptions& opts_;
  engine::PortFactory& ports_;
  SignalWatch& signals_;
  const StatsObserver& observer_;
  engine::StateStore store_;
  Scheduler scheduler_;
  RunStats stats_;
  engine::InstanceRef ref_;
  std::string lastGood_;  // the policy text in force
  std::string lastSeen_;  // the file's content when last read
  std::optional<KernelWatch> kernel_;
};

engine::ApplyResult Daemon::applyText(const std::string& text) {
  engine::ApplyOptions o = opts_.apply;
  o.policyText = text;
  o.asKeeper = true;
  o.expectInstance = ref_.instance;
  o.lockWait = std::chrono::seconds(5);
  return engine::apply(o, ports_);
}

void Daemon::watchDevicesOfState() {
  if (!kernel_) return;
  std::set<std::string> devices{ref_.pf};
  if (auto state = store_.load(ref_.instance); state.ok() && state->has_value()) {
    devices.insert((*state)->devices.begin(), (*state)->devices.end());
    devices.insert((*state)->tunnelDevices.begin(), (*state)->tunnelDevices.end());
  }
  kernel_->watch(std::move(devices));
}

// New policy content: in force if it loads and applies; otherwise the last
// good one stays (the apply changed nothing, or undid what it changed).
bool Daemon::putInForce(const std::string& text) {
  engine::ApplyResult r = applyText(text);
  logSideNotes(r, /*newPolicy=*/true);
  if (r.failure) {
    ++stats_.policyRejections;
    stats_.policyFileRefused = true;
    stats_.lastError = describe(*r.failure);
    spdlog::error("new policy refused, generation {} stays in force: {}", stats_.generation, stats_.lastError);
    return true;  // the kernel still holds the last good policy: no back-off
  }
  lastGood_ = text;
  stats_.policyFileRefused = false;
  ++stats_.generation;
  stats_.lastSuccess = std::chrono::system_clock::now();
  spdlog::info("policy generation {} in force: {} ({} kernel changes)", stats_.generation, opts_.apply.policyFile,
               r.changes.size() + r.firstPass.size());
  for (const auto& c : r.changes) spdlog::debug("  {}", c.describe());
  watchDevicesOfState();
  return true;
}

bool Daemon::repair(Trigger trigger) {
  engine::ApplyResult r = applyText(lastGood_);
  logSideNotes(r, /*newPolicy=*/false);
  if (r.failure) {
    ++stats_.failures;
    stats_.lastError = describe(*r.failure);
    spdlog::error("reconcile ({}) failed: {}", name(trigger), stats_.lastError);
    return false;
  }
  stats_.lastSuccess = std::chrono::system_clock::now();
  for (const auto& p : r.provisioning) spdlog::info("repaired ({}): {}", name(trigger), p);
  for (const auto& c : r.changes) {
    // "NIC rule" → "nic_rule": a metric label value.
    std::string kind(engine::name(c.key().kind));
    for (char& ch : kind) ch = ch == ' ' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    ++stats_.repairs[kind];
    spdlog::info("repaired ({}): {}", name(trigger), c.describe());
  }
  if (!r.changedKernel()) spdlog::debug("reconcile ({}): nothing to change", name(trigger));
  watchDevicesOfState();
  return true;
}

bool Daemon::reconcile(Trigger trigger) {
  ++stats_.reconciles[name(trigger)];
  const auto start = Clock::now();
  bool ok = true;
  if (scheduler_.policyPending()) {
    // Read again now: the file may have changed since the notification.
    auto text = policies::readPolicyFileText(opts_.apply.policyFile);
    if (!text.ok()) {
      ++stats_.policyRejections;
      stats_.policyFileRefused = true;
      stats_.lastError = text.error().describe();
      spdlog::error("policy file unreadable, generation {} stays in force: {}", stats_.generation,
                    stats_.lastError);
      ok = lastGood_.empty() || repair(trigger);
    } else {
      lastSeen_ = *text;
      if (*text != lastGood_ || lastGood_.empty()) {
        ok = putInForce(*text);
      } else {
        stats_.policyFileRefused = false;  // back to the content in force
        ok = repair(trigger);
      }
    }
  } else if (lastGood_.empty()) {
    // The first apply failed in the kernel: try the file's policy again.
    auto text = policies::readPolicyFileText(opts_.apply.policyFile);
    ok = text.ok() && putInForce(*text) && !lastGood_.empty();
  } else {
    ok = repair(trigger);
  }
  stats_.lastDurationSeconds = std::chrono::duration<double>(Clock::now() - start).count();
  return ok;
}

void Daemon::policyFileTouched() {
  auto text = policies::readPolicyFileText(opts_.apply.policyFile);
  if (!text.ok()) return;  // mid-rename, or removed: wait for the next event
  if (*text == lastSeen_) return;
  lastSeen_ = *text;
  spdlog::info("policy file {} changed", opts_.apply.policyFile);
  scheduler_.policyChanged(Clock::now());
}

void Daemon::stop() {
  if (!opts_.teardownOnExit) {
    spdlog::info("stopping; the steering of {} stays in place", ref_.instance);
    return;
  }
  auto done = engine::teardown(ref_, ports_, store_, std::chrono::seconds(5), /*asKeeper=*/true);
  if (!done.ok()) spdlog::error("teardown of {} failed: {}", ref_.instance, done.error().describe());
  else spdlog::info("stopping; removed the steering of {} ({} objects)", ref_.instance, done->removed.size());
}

void Daemon::publish() {
  if (kernel_) stats_.notificationsSeen = kernel_->seen();
  if (observer_) observer_(stats_);
  std::string s = "generation " + std::to_string(stats_.generation) + " in force on " + ref_.instance;
  if (stats_.policyFileRefused) s += "; the policy file's new content is refused";
  if (scheduler_.failuresInARow() > 0) s += "; reconcile failing: " + stats_.lastError;
  notify::status(s);
}

RunOutcome Daemon::run() {
  auto text = policies::readPolicyFileText(opts_.apply.policyFile);
  if (!text.ok()) return {RunEnd::kBadInput, text.error()};
  auto policy = policies::loadPolicyText(*text, opts_.apply.policyFile);
  if (!policy.ok()) return {RunEnd::kBadInput, policy.error()};
  auto topology = engine::discoverDevice(policy->device, opts_.apply.discover);
  if (!topology.ok()) return {RunEnd::kBadInput, topology.error()};
  ref_ = {topology->instance(), topology->pf, topology->netns};
  stats_.instance = ref_.instance;
  const std::string policyPath =
      std::filesystem::absolute(opts_.apply.policyFile).lexically_normal().string();
  auto claim = engine::claimInstance(store_.root(), ref_.instance, policyPath);
  if (!claim.ok()) return {RunEnd::kBadInput, claim.error()};

  // Watching starts before the first apply, so nothing after it is missed.
  auto file = FileWatch::open(opts_.apply.policyFile);
  if (!file.ok()) return {RunEnd::kFailed, file.error()};
  auto kernel = KernelWatch::open(ref_.netns);
  if (!kernel.ok()) return {RunEnd::kFailed, kernel.error()};
  kernel_ = std::move(*kernel);

  lastSeen_ = *text;
  engine::ApplyResult first = applyText(*text);
  logSideNotes(first, /*newPolicy=*/true);
  if (first.failure) {
    switch (first.failure->kind) {
      case engine::FailureKind::kBadInput: return {RunEnd::kBadInput, first.failure->error};
      case engine::FailureKind::kPlanRefused: return {RunEnd::kPlanRefused, first.failure->error};
      case engine::FailureKind::kKernelRefused:
        // Perhaps passing (a device being reset): retried with back-off.
        ++stats_.failures;
        stats_.lastError = describe(*first.failure);
        spdlog::error("first apply failed, retrying: {}", stats_.lastError);
        scheduler_.finished(Clock::now(), false);
        break;
    }
  } else {
    lastGood_ = *text;
    stats_.generation = 1;
    stats_.lastSuccess = std::chrono::system_clock::now();
    spdlog::info("keeping {} equal to {} (pid {}): {} kernel changes", ref_.instance, policyPath, ::getpid(),
                 first.changes.size() + first.firstPass.size());
    watchDevicesOfState();
  }
  publish();
  notify::ready("generation " + std::to_string(stats_.generation) + " in force on " + ref_.instance);

  const std::optional<Millis> watchdog = notify::watchdogInterval();
  Clock::time_point nextPing = Clock::now();
  for (;;) {
    if (watchdog && Clock::now() >= nextPing) {
      notify::watchdog();
      nextPing = Clock::now() + *watchdog;
    }
    std::optional<Clock::time_point> wake;
    if (auto due = scheduler_.next()) wake = due->at;
    if (watchdog) wake = wake ? std::min(*wake, nextPing) : nextPing;
    int timeoutMs = -1;
    if (wake) {
      const auto left = std::chrono::ceil<Millis>(*wake - Clock::now()).count();
      timeoutMs = static_cast<int>(std::clamp<int64_t>(left, 0, 3600 * 1000));
    }
    pollfd fds[] = {{signals_.fd(), POLLIN, 0}, {file->fd(), POLLIN, 0}, {kernel_->fd(), POLLIN, 0}};
    if (::poll(fds, 3, timeoutMs) < 0 && errno != EINTR) return {RunEnd::kFailed, Error::fromErrno(errno, "poll")};

    bool stopping = false;
    for (int s : signals_.drain()) {
      if (s == SIGHUP) {
        spdlog::info("SIGHUP: reading {} again", opts_.apply.policyFile);
        scheduler_.policyChanged(Clock::now());
      } else {
        stopping = true;
      }
    }
    if (stopping) {
      notify::stopping();
      break;
    }
    if (file->drain()) policyFileTouched();
    auto relevant = kernel_->drain();
    if (!relevant.ok()) spdlog::warn("reading notifications: {}", relevant.error().describe());
    if (!relevant.ok() || *relevant > 0) scheduler_.kernelChanged(Clock::now());

    auto due = scheduler_.next();
    if (!due || Clock::now() < due->at) continue;
    const bool ok = reconcile(due->trigger);
    scheduler_.finished(Clock::now(), ok);
    publish();
  }
  stop();
  return {RunEnd::kStopped, std::nullopt};
}

}  // namespace

RunOutcome run(const RunOptions& options, engine::PortFactory& ports, SignalWatch& signals,
               const StatsObserver& observer) {
  return Daemon(options, ports, signals, observer).run();
}

}  // namespace vfsteer::daemon
