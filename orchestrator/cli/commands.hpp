// The command line: subcommand registration, exit codes and printing. The
// engine returns typed results; only this layer turns them into words.
// main() owns the exit code; each command's callback writes it.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/apply.hpp"
#include "engine/rx_metadata.hpp"
#include "vfsteer/representors/topology.hpp"
#include "vfsteer/common/result.hpp"

namespace vfsteer::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitBadInput = 1,
  kExitPlanRefused = 2,
  kExitKernelRefused = 3,
};

int exitCodeFor(engine::FailureKind kind);

void addCommands(CLI::App& app, int& exitCode);

void addPlanCommand(CLI::App& app, int& exitCode);
void addApplyCommand(CLI::App& app, int& exitCode);
void addReportCommand(CLI::App& app, int& exitCode);
void addTeardownCommand(CLI::App& app, int& exitCode);
void addLabCommand(CLI::App& app, int& exitCode);
void addDiscoverCommand(CLI::App& app, int& exitCode);
void addEnforceCommand(CLI::App& app, int& exitCode);
void addRunCommand(CLI::App& app, int& exitCode);
void addMetadataCommand(CLI::App& app, int& exitCode);

// The options apply and run share: -f, --profile, --profiles-dir, --skip-sw,
// --skip-hw, --emulate-nic, --retry-refused and --topology (into `topology`).
void addApplyOptions(CLI::App* cmd, engine::ApplyOptions& options, std::optional<std::string>& topology);

// --wait SECONDS: how long a command waits for another vfsteer changing the
// same instance (its lock) before failing.
inline constexpr int kDefaultLockWaitSeconds = 30;
void addLockWaitOption(CLI::App* cmd, int& seconds);
// --chain NAME[,NAME]: show only these chains (plan, report; keepChains).
void addChainOption(CLI::App* cmd, std::vector<std::string>& chains);

// The device a read-only command names: --pf (with --netns) or the PF of
// -f POLICY, with --topology instead of the kernel's view.
struct DeviceArgs {
  std::optional<std::string> pf;
  std::optional<std::string> netns;
  std::optional<std::string> policyFile;
  std::optional<std::string> topology;
};
void addDeviceOptions(CLI::App* cmd, DeviceArgs& args);
// Discovers that device; the error says what to give instead.
Result<representors::Topology> discoverNamedDevice(const DeviceArgs& args);

// The XDP RX metadata each of the topology's ports supplies now, or why it
// cannot be read (discover and report show what they can and go on).
Result<std::vector<engine::PortRxMetadata>> readRxMetadata(const representors::Topology& t);

// Prints an error for the operator: "vfsteer: <text>" on stderr.
void printError(const std::string& text);
// "vfsteer: warning: file:line:column: chain web: ..." on stderr, one per line.
void printWarnings(const std::vector<demux::Warning>& warnings);

// An apply's (or enforce's) failure: the error, then whether anything was
// left changed. Returns the exit code.
int printFailure(const engine::ApplyFailure& failure);
// The changes an apply made (or, in a dry run, would make), its refusals
// and its warnings, one line each under a heading.
void printChanges(const engine::ApplyResult& r, bool dryRun);

}  // namespace vfsteer::cli
