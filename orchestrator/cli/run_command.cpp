// vfsteer run: apply a policy and keep the kernel equal to it (daemon/run.hpp).
#include "cli/commands.hpp"
#include "daemon/log.hpp"
#include "daemon/metrics.hpp"
#include "daemon/run.hpp"
#include "engine/instances.hpp"

#include <spdlog/spdlog.h>

namespace vfsteer::cli {

namespace {

struct RunArgs {
  daemon::RunOptions options;
  std::optional<std::string> topology;
  bool verbose = false;
  std::optional<std::string> logLevel;
  std::optional<std::string> metrics;
  double resyncSeconds = 30;
};

int runRun(RunArgs& args) {
  auto level = args.logLevel ? daemon::parseLogLevel(*args.logLevel)
                             : Result<spdlog::level::level_enum>(args.verbose ? spdlog::level::debug
                                                                              : spdlog::level::info);
  if (!level.ok()) {
    printError(level.error().message());
    return kExitBadInput;
  }
  if (args.resyncSeconds < 0) {
    printError("--resync " + std::to_string(args.resyncSeconds) + ": must be 0 (never) or more seconds");
    return kExitBadInput;
  }
  if (auto p = engine::requirePrivileges("run"); !p.ok()) {
    printError(p.error().message());
    return kExitBadInput;
  }
  daemon::setUpLogging(*level);
  args.options.apply.discover.topologyFile = args.topology;
  args.options.timing.resync = std::chrono::milliseconds(static_cast<int64_t>(args.resyncSeconds * 1000));
  // Signals are blocked before the metrics server starts its threads.
  auto signals = daemon::SignalWatch::open();
  if (!signals.ok()) {
    printError(signals.error().describe());
    return kExitBadInput;
  }
  std::unique_ptr<daemon::MetricsServer> metrics;
  if (args.metrics) {
    auto started = daemon::MetricsServer::start(*args.metrics, args.options.apply.stateRoot);
    if (!started.ok()) {
      printError(started.error().message() + "\nnothing was changed");
      return kExitBadInput;
    }
    metrics = std::move(*started);
    spdlog::info("metrics on http://{}/metrics", *args.metrics);
  }
  auto ports = engine::makeRealPorts();
  const daemon::RunOutcome out = daemon::run(args.options, *ports, *signals, [&](const daemon::RunStats& stats) {
    if (metrics) metrics->update(stats);
  });
  // Not stopped in order: civetweb's stop waits about 2 s for its threads,
  // and SIGTERM must end the daemon promptly. They end with the process.
  (void)metrics.release();
  switch (out.end) {
    case daemon::RunEnd::kStopped: return kExitOk;
    case daemon::RunEnd::kBadInput: printError(out.error->describe() + "\nnothing was changed"); return kExitBadInput;
    case daemon::RunEnd::kPlanRefused: printError(out.error->describe() + "\nnothing was changed"); return kExitPlanRefused;
    case daemon::RunEnd::kFailed: printError(out.error->describe()); return kExitBadInput;
  }
  return kExitBadInput;
}

}  // namespace

void addRunCommand(CLI::App& app, int& exitCode) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand(
      "run", "Apply a steering policy, then stay in the foreground and keep the kernel equal to it: "
             "repair what others change or remove, follow edits of the policy file (SIGHUP re-reads "
             "it), and keep the last good policy when a new one is refused.");
  addApplyOptions(cmd, args->options.apply, args->topology);
  cmd->add_flag("--teardown-on-exit", args->options.teardownOnExit,
                "On SIGTERM/SIGINT remove the steering (default: leave it in place)");
  cmd->add_option("--resync", args->resyncSeconds,
                  "Reconcile this often even without a notification (seconds; 0: never)")
      ->capture_default_str();
  cmd->add_option("--metrics", args->metrics,
                  "Serve Prometheus metrics on ADDRESS:PORT (e.g. 127.0.0.1:9470) at /metrics")
      ->type_name("ADDRESS:PORT");
  cmd->add_flag("-v,--verbose", args->verbose, "Log at debug level (every reconcile, also when it changes nothing)");
  cmd->add_option("--log-level", args->logLevel, "trace, debug, info (default), warning, error, critical or off");
  cmd->footer(
      "Logs go to stderr, one event per line (with syslog priorities under systemd). "
      "Exit status: 0 stopped by SIGTERM/SIGINT; 1 bad input, or another vfsteer run keeps the "
      "instance, nothing changed; 2 the plan of the first policy was refused, nothing changed.");
  cmd->callback([args, &exitCode] { exitCode = runRun(*args); });
}

}  // namespace vfsteer::cli
