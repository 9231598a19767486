// vfsteer enforce skip-sw: on a running system, require chains of the
// applied policy to run in the NIC from now on. It re-applies the policy
// with those chains skip-sw; when the NIC cannot take one, nothing changes
// and the reason is printed. The choice is remembered for later applies
// until --clear.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/plan_output.hpp"
#include "engine/apply.hpp"
#include "engine/instances.hpp"

namespace vfsteer::cli {

namespace {

struct EnforceArgs {
  std::optional<std::string> instance;
  std::vector<std::string> chains;
  bool clear = false;
  bool dryRun = false;
  std::string stateRoot = paths::kStateRoot;
  int waitSeconds = kDefaultLockWaitSeconds;
};

int runEnforce(const EnforceArgs& args) {
  if (!args.dryRun) {
    if (auto p = engine::requirePrivileges("enforce"); !p.ok()) {
      printError(p.error().message());
      return kExitBadInput;
    }
  }
  engine::StateStore store(args.stateRoot);
  auto ref = engine::resolveInstance(args.instance, std::nullopt, {}, store);
  if (!ref.ok()) {
    printError(ref.error().describe());
    return kExitBadInput;
  }
  auto state = store.load(ref->instance);
  if (!state.ok() || !state->has_value()) {
    printError(state.ok() ? "nothing is applied for " + ref->instance + "; run vfsteer apply first"
                          : state.error().describe());
    return kExitBadInput;
  }
  const engine::InstanceState& s = **state;
  auto split = store.loadSplit(s);
  if (!split.ok()) {
    printError(split.error().describe());
    return kExitBadInput;
  }
  std::vector<std::string> applied;
  for (const auto& c : split->chains) applied.push_back(c.name);
  std::vector<std::string> chains = args.chains.empty() ? applied : args.chains;
  for (const auto& name : chains) {
    if (std::find(applied.begin(), applied.end(), name) != applied.end()) continue;
    std::string known;
    for (const auto& a : applied) known += (known.empty() ? "" : ", ") + a;
    printError("--chain " + name + ": the policy applied on " + ref->instance + " (" + s.policyFile +
               ") has no such chain; its chains: " + (known.empty() ? "none" : known));
    return kExitBadInput;
  }

  engine::ApplyOptions opts;
  opts.policyFile = s.policyFile;
  opts.profile = s.profile;  // the profile it was applied with
  opts.emulateNic = s.nicEmulated;
  opts.dryRun = args.dryRun;
  opts.stateRoot = args.stateRoot;
  opts.lockWait = std::chrono::seconds(args.waitSeconds);
  if (args.clear) {
    opts.clearSkipSw = chains;
  } else {
    opts.skipSw = chains;
    opts.enforceSkipSw = chains;
    // A refusal remembered from an `auto` apply must be asked again: the
    // point is to find out whether the NIC takes the chain now.
    opts.retryRefused = true;
  }
  auto ports = engine::makeRealPorts();
  engine::ApplyResult r = engine::apply(opts, *ports);
  if (r.failure) {
    if (r.refusedPlan) writeTable(std::cout, *r.refusedPlan);
    const int code = printFailure(*r.failure);
    if (!args.clear) printError("skip-sw was not enforced; nothing was changed");
    return code;
  }
  std::string list;
  for (const auto& c : chains) list += (list.empty() ? "" : ", ") + c;
  std::cout << "vfsteer: " << (args.dryRun ? "would " : "") << (args.clear ? "no longer enforce" : "enforce")
            << " skip-sw on " << ref->instance << " for " << list << "\n";
  for (const auto& p : r.provisioning) std::cout << "  " << p << "\n";
  for (const auto& c : r.changes) std::cout << "  " << c.describe() << "\n";
  return kExitOk;
}

}  // namespace

void addEnforceCommand(CLI::App& app, int& exitCode) {
  auto args = std::make_shared<EnforceArgs>();
  CLI::App* enforce = app.add_subcommand("enforce", "Change placement rules on a running system.");
  enforce->require_subcommand(1);
  CLI::App* cmd = enforce->add_subcommand(
      "skip-sw", "Require chains of the applied policy to run in the NIC (skip-sw) from now on. "
                 "Re-applies the policy; if the NIC cannot take a chain, nothing changes and the "
                 "reason is printed. Remembered by later applies until --clear.");
  cmd->add_option("--chain", args->chains, "A chain of the applied policy (repeatable; default: all)")
      ->delimiter(',');
  cmd->add_option("--instance", args->instance, "PF or PF:NETNS (default: the only one applied)");
  cmd->add_flag("--clear", args->clear, "Stop enforcing skip-sw for these chains (back to the policy's offload)");
  cmd->add_flag("--dry-run", args->dryRun, "Print what would change, change nothing");
  addLockWaitOption(cmd, args->waitSeconds);
  cmd->footer("Exit status: 0 enforced; 1 bad input (or another vfsteer kept the instance locked past "
              "--wait); 2 the plan cannot put a chain in the NIC; "
              "3 the NIC refused a rule (everything was undone).");
  cmd->callback([args, &exitCode] { exitCode = runEnforce(*args); });
}

}  // namespace vfsteer::cli
