// vfsteer apply: from a policy file to the kernel, all or nothing.
//
//   load policy, discover topology, choose profile, plan (pure)
//   → provision the device (VF count, eswitch mode, VF settings)
//   → observe → lower → reconcile → execute, again from where the kernel is
//     when the NIC refused a rule (the chain moves to the host)
//   → save the state (the commit) → clean up what waits for it
//
// A second apply of the same policy finds no difference and writes nothing.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "engine/change_set.hpp"
#include "engine/execute.hpp"
#include "engine/ports.hpp"
#include "engine/state.hpp"
#include "vfsteer/common/paths.hpp"
#include "vfsteer/demux/lint.hpp"
#include "vfsteer/demux/split_report.hpp"
#include "vfsteer/demux/splitter.hpp"
#include "vfsteer/policies/policy.hpp"
#include "vfsteer/representors/topology.hpp"

namespace vfsteer::engine {

struct ApplyOptions {
  std::string policyFile;
  // The policy's text, when the caller read it already (`vfsteer run` keeps
  // the last good version while the file holds a broken one); positions in
  // errors still name `policyFile`.
  std::optional<std::string> policyText;
  // Set by `vfsteer run` for its own applies: any other apply of an instance
  // a run keeps is refused (engine/keeper.hpp).
  bool asKeeper = false;
  // Refuse a policy whose device is another instance (a run keeps one).
  std::optional<std::string> expectInstance;
  std::optional<std::string> profile;
  std::optional<std::string> profileDir;
  std::vector<std::string> skipSw;
  std::vector<std::string> skipHw;
  bool dryRun = false;
  bool retryRefused = false;  // ask the NIC again for rules it refused before
  // Install the NIC part in software instead (flower or u32 skip_hw, the demux
  // program as cls_bpf skip_hw): to try a NIC profile's split in the lab or
  // on a kernel without the NIC. Never meant for production.
  bool emulateNic = false;
  // Chains to keep skip-sw from now on (`vfsteer enforce skip-sw`), and
  // chains to stop keeping so (`vfsteer enforce skip-sw --clear`).
  std::vector<std::string> enforceSkipSw;
  std::vector<std::string> clearSkipSw;
  representors::DiscoverOptions discover;
  std::string stateRoot = paths::kStateRoot;
  std::chrono::milliseconds lockWait{std::chrono::seconds(30)};
};

// Why an apply failed, by what the operator can do about it.
enum class FailureKind {
  kBadInput,       // the policy, profile, device or command line: fix it (nothing was changed)
  kPlanRefused,    // a skip-sw chain cannot run in the NIC (nothing was changed)
  kKernelRefused,  // the kernel refused a change: everything was undone (or `leftovers` says not)
};

struct ApplyFailure {
  FailureKind kind = FailureKind::kKernelRefused;
  Error error;
  bool changedSomething = false;      // changes were made before it, and undone
  std::vector<std::string> leftovers;  // what an undo could not remove
};

// How long one step of an apply took. Steps: load (the policy), discover
// (the device, the profile), state (lock, records, journal), plan, provision, observe,
// lower, reconcile, execute, record (saving the state, clean-up); plan,
// lower, reconcile and execute come again for each round of NIC refusals.
struct PhaseTime {
  std::string phase;
  std::chrono::duration<double> took{};
};

struct ApplyResult {
  std::optional<ApplyFailure> failure;
  std::string instance;
  std::optional<Journal> tookOver;            // what an interrupted apply left, now vfsteer's again
  std::vector<std::string> provisioning;      // device changes done (dry run: to do)
  bool provisioningPending = false;           // dry run: the representors they make are not there to plan for
  std::vector<Change> changes;                // done (dry run: to do), in order
  std::vector<Refusal> refusals;              // NIC refusals that moved chains to the host
  std::vector<Warning> warnings;              // after the commit: clean-up that failed
  std::vector<demux::Warning> policyWarnings; // valid but almost certainly wrong (demux/lint.hpp)
  bool recordsChanged = false;                // the state was rewritten
  bool policyCached = false;                  // loaded from the cache an earlier apply kept
  bool demuxMoved = false;                    // the demux program moved hook, through the host:
  std::vector<Change> firstPass;              //   what handed its chains to the host and removed it
  std::optional<demux::SplitReport> refusedPlan;  // kPlanRefused: the plan, to show why
  std::vector<PhaseTime> phases;              // in order; a failed apply lists the steps it ran,
                                              // then "failed" (from the last one that ended to the
                                              // failure) and "undo" when it had changes to undo

  bool ok() const { return !failure; }
  bool changedKernel() const { return !changes.empty() || !provisioning.empty() || !firstPass.empty(); }
};

ApplyResult apply(const ApplyOptions& options, PortFactory& ports);

// The lint options plan and apply use: bpf objects are looked for relative
// to the working directory, as apply loads them.
demux::LintOptions policyLintOptions();

// --skip-sw / --skip-hw values (chain names or "all", repeatable, comma
// separated) as planner options. A chain named in both is an error.
Result<demux::PlanOptions> placementOptions(const std::vector<std::string>& skipSw,
                                            const std::vector<std::string>& skipHw);

}  // namespace vfsteer::engine
