// vfsteer teardown: remove only what vfsteer made.
#include <iostream>

#include "cli/commands.hpp"
#include "engine/instances.hpp"
#include "engine/teardown.hpp"

namespace vfsteer::cli {

namespace {

struct TeardownArgs {
  std::optional<std::string> instance;
  std::optional<std::string> policyFile;
  int waitSeconds = kDefaultLockWaitSeconds;
};

int runTeardown(const TeardownArgs& args) {
  if (auto p = engine::requirePrivileges("teardown"); !p.ok()) {
    printError(p.error().message());
    return kExitBadInput;
  }
  engine::StateStore store;
  auto ref = engine::resolveInstance(args.instance, args.policyFile, {}, store);
  if (!ref.ok()) {
    if (ref.error().code() == ErrorCode::kNotFound) {
      std::cout << "vfsteer: nothing to tear down\n";
      return kExitOk;
    }
    printError(ref.error().describe());
    return kExitBadInput;
  }
  auto ports = engine::makeRealPorts();
  auto done = engine::teardown(*ref, *ports, store, std::chrono::seconds(args.waitSeconds));
  if (!done.ok()) {
    printError(done.error().describe());
    return done.error().code() == ErrorCode::kConflict ? kExitBadInput : kExitKernelRefused;
  }
  if (done->nothing()) {
    std::cout << "vfsteer: nothing of vfsteer's on " << ref->instance << "\n";
    return kExitOk;
  }
  std::cout << "tore down " << ref->instance << ":\n";
  for (const auto& c : done->removed) std::cout << "  " << c.describe() << "\n";
  if (done->removedState) std::cout << "  remove the state of " << ref->instance << "\n";
  if (done->removedJournal) std::cout << "  remove the journal of an interrupted apply\n";
  return kExitOk;
}

}  // namespace

void addTeardownCommand(CLI::App& app, int& exitCode) {
  auto args = std::make_shared<TeardownArgs>();
  CLI::App* cmd = app.add_subcommand(
      "teardown", "Remove everything vfsteer made for an instance (filters, the qdiscs it added, "
                  "pinned programs and maps, state) and nothing else.");
  cmd->add_option("--instance", args->instance, "PF or PF:NETNS (default: the only one)");
  cmd->add_option("-f,--file", args->policyFile, "Tear down the PF this policy names")
      ->check(CLI::ExistingFile);
  addLockWaitOption(cmd, args->waitSeconds);
  cmd->footer("Exit status: 0 torn down (or nothing to tear down); 1 bad input, or another vfsteer "
              "kept the instance locked past --wait; 3 the kernel refused a removal.");
  cmd->callback([args, &exitCode] { exitCode = runTeardown(*args); });
}

}  // namespace vfsteer::cli
