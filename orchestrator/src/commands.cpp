#include "commands.hpp"

#include <cstdio>

namespace vfsteer::orchestrator {

void addCommands(CLI::App& app, int& exitCode) {
  addDiscoverCommand(app, exitCode);
  addPlanCommand(app, exitCode);
  addApplyCommand(app, exitCode);
  addEnforceCommand(app, exitCode);
  addReportCommand(app, exitCode);
  addTeardownCommand(app, exitCode);
  addLabCommand(app, exitCode);
}

void addLockWaitOption(CLI::App* cmd, int& seconds) {
  cmd->add_option("--wait", seconds,
                  "Seconds to wait for another vfsteer changing the same instance (default " +
                      std::to_string(kDefaultLockWaitSeconds) + "; 0 fails at once)")
      ->check(CLI::Range(0, 86400))
      ->type_name("SECONDS");
}

void printError(const std::string& text) { std::fprintf(stderr, "vfsteer: %s\n", text.c_str()); }

Result<demux::PlanOptions> placementOptions(const std::vector<std::string>& skipSw,
                                            const std::vector<std::string>& skipHw) {
  demux::PlanOptions options;
  for (auto [values, mode] : {std::pair{&skipSw, policies::OffloadMode::kSkipSw},
                              std::pair{&skipHw, policies::OffloadMode::kSkipHw}}) {
    for (const auto& v : *values) {
      if (v.empty())
        return Error(ErrorCode::kInvalidInput,
                     "--" + std::string(policies::name(mode)) + " needs a chain name or \"all\"");
      if (v == "all") {
        if (options.all && *options.all != mode)
          return Error(ErrorCode::kInvalidInput, "--skip-sw all and --skip-hw all contradict");
        options.all = mode;
        continue;
      }
      auto [it, fresh] = options.chains.emplace(v, mode);
      if (!fresh && it->second != mode)
        return Error(ErrorCode::kInvalidInput,
                     "chain \"" + v + "\" is named by both --skip-sw and --skip-hw");
    }
  }
  return options;
}

}  // namespace vfsteer::orchestrator
