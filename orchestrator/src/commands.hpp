// Subcommand registration. main() owns the exit code; each command's
// callback writes it.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "vfsteer/common/result.hpp"
#include "vfsteer/demux/splitter.hpp"

namespace vfsteer::orchestrator {

enum ExitCode : int {
  kExitOk = 0,
  kExitBadInput = 1,
  kExitPlanRefused = 2,
  kExitKernelRefused = 3,
};

void addCommands(CLI::App& app, int& exitCode);

void addPlanCommand(CLI::App& app, int& exitCode);
void addApplyCommand(CLI::App& app, int& exitCode);
void addReportCommand(CLI::App& app, int& exitCode);
void addTeardownCommand(CLI::App& app, int& exitCode);
void addLabCommand(CLI::App& app, int& exitCode);
void addDiscoverCommand(CLI::App& app, int& exitCode);
void addEnforceCommand(CLI::App& app, int& exitCode);

// --skip-sw / --skip-hw values (chain names or "all", repeatable, comma
// separated) as planner options. A chain named in both is an error.
Result<demux::PlanOptions> placementOptions(const std::vector<std::string>& skipSw,
                                            const std::vector<std::string>& skipHw);

// --wait SECONDS: how long a command waits for another vfsteer changing the
// same instance (its lock) before failing.
inline constexpr int kDefaultLockWaitSeconds = 30;
void addLockWaitOption(CLI::App* cmd, int& seconds);

// Prints an error for the operator: "vfsteer: <text>" on stderr.
void printError(const std::string& text);

}  // namespace vfsteer::orchestrator
