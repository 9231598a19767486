// vfsteer apply: program the host path (and, where the profile allows, the
// NIC prefix) for a policy; all or nothing; idempotent.
#include <cstdio>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/plan_output.hpp"
#include "engine/apply.hpp"
#include "engine/instances.hpp"

namespace vfsteer::cli {

namespace {

struct ApplyArgs {
  engine::ApplyOptions options;
  std::optional<std::string> topology;
  int waitSeconds = kDefaultLockWaitSeconds;
  bool timings = false;
};

// One line on stderr: each step's seconds, in order, and their sum ("load
// (cached)" when the policy came from the cache an earlier apply kept).
void printTimings(const engine::ApplyResult& r) {
  const auto& phases = r.phases;
  std::string line = "vfsteer: timings (s):";
  double total = 0;
  char figure[32];
  for (const auto& p : phases) {
    std::snprintf(figure, sizeof figure, " %.3f", p.took.count());
    line += (&p == &phases.front() ? " " : ", ") + p.phase + (p.phase == "load" && r.policyCached ? " (cached)" : "") +
            figure;
    total += p.took.count();
  }
  std::snprintf(figure, sizeof figure, "%.3f", total);
  std::cerr << line << " (total " << figure << ")\n";
}

int runApply(ApplyArgs& args) {
  if (!args.options.dryRun) {
    if (auto p = engine::requirePrivileges("apply"); !p.ok()) {
      printError(p.error().message());
      return kExitBadInput;
    }
  }
  args.options.discover.topologyFile = args.topology;
  args.options.lockWait = std::chrono::seconds(args.waitSeconds);
  auto ports = engine::makeRealPorts();
  engine::ApplyResult r = engine::apply(args.options, *ports);
  if (args.timings) printTimings(r);
  printWarnings(r.policyWarnings);
  if (r.failure) {
    // A refused plan shows why, chain by chain.
    if (r.refusedPlan) writeTable(std::cout, *r.refusedPlan);
    return printFailure(*r.failure);
  }
  if (!r.changedKernel() && !r.provisioningPending && r.changes.empty()) {
    std::cout << "vfsteer: " << r.instance << " already matches " << args.options.policyFile
              << (r.recordsChanged ? "; updated vfsteer's own records only\n" : "; nothing to change\n");
    for (const auto& w : r.warnings) std::cout << "  warning: " << w.what << ": " << w.error.describe() << "\n";
    return kExitOk;
  }
  printChanges(r, args.options.dryRun);
  return kExitOk;
}

}  // namespace

void addApplyOptions(CLI::App* cmd, engine::ApplyOptions& options, std::optional<std::string>& topology) {
  cmd->add_option("-f,--file", options.policyFile, "Steering policy (YAML, docs/policy.md)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_flag("--retry-refused", options.retryRefused,
                "Ask the NIC again for rules it refused before (by default a refusal is remembered "
                "and the chain stays on the host)");
  cmd->add_flag("--emulate-nic", options.emulateNic,
                "Run the NIC part in software (flower or u32 skip_hw, the demux program as cls_bpf skip_hw) "
                "to try a NIC profile in the lab; never on production. Not for engine ntuple: ethtool's flow rules "
                "have no software twin");
  cmd->add_option("--profile", options.profile,
                  "NIC profile; default: device.profile, where \"auto\" asks the PF's driver");
  cmd->add_option("--profiles-dir", options.profileDir, "Directory of profile files");
  cmd->add_option("--skip-sw", options.skipSw,
                  "Require CHAIN (or \"all\") to have a NIC part; fail otherwise")
      ->delimiter(',')
      ->type_name("CHAIN|all");
  cmd->add_option("--skip-hw", options.skipHw, "Keep CHAIN (or \"all\") on the host")
      ->delimiter(',')
      ->type_name("CHAIN|all");
  cmd->add_option("--topology", topology,
                  "Topology file for the PF (default: " + paths::topologyDir() +
                      "/PF.json if present, else the kernel's devlink and sysfs view)")
      ->check(CLI::ExistingFile);
}

void addApplyCommand(CLI::App& app, int& exitCode) {
  auto args = std::make_shared<ApplyArgs>();
  CLI::App* cmd = app.add_subcommand(
      "apply", "Apply a steering policy: program the host datapath (and the NIC where the profile "
               "allows). All or nothing: a failure undoes every change. A second apply of the "
               "same policy changes nothing.");
  addApplyOptions(cmd, args->options, args->topology);
  cmd->add_flag("--dry-run", args->options.dryRun,
                "Print the changes apply would make, make none (no root needed)");
  addLockWaitOption(cmd, args->waitSeconds);
  cmd->add_flag("--timings", args->timings,
                "Print how long each step took (load, discover, state, plan, provision, observe, lower, reconcile, execute, "
                "record) on stderr; \"load (cached)\": the policy came from the copy the last apply of the same file "
                "kept");
  cmd->footer(
      "Exit status: 0 applied (or nothing to change); 1 bad input (or another vfsteer kept the "
      "instance locked past --wait), nothing changed; 2 the plan "
      "was refused, nothing changed; 3 the kernel refused a change, everything was undone.");
  cmd->callback([args, &exitCode] { exitCode = runApply(*args); });
}

}  // namespace vfsteer::cli
