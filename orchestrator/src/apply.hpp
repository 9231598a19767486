// vfsteer apply: from a policy file to the kernel, all or nothing.
//
//   load policy → discover topology → choose profile → plan (pure)
//   → build desired host tables → read what the kernel has → diff
//   → run the changes in a Transaction (undone on any failure) → save state
//
// A second apply of the same policy finds no difference and writes nothing.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "ports.hpp"
#include "state.hpp"
#include "vfsteer/demux/plan.hpp"
#include "vfsteer/policies/policy.hpp"
#include "vfsteer/representors/topology.hpp"

namespace vfsteer::orchestrator {

struct ApplyOptions {
  std::string policyFile;
  std::optional<std::string> profile;
  std::optional<std::string> profileDir;
  std::vector<std::string> skipSw;
  std::vector<std::string> skipHw;
  bool dryRun = false;
  bool retryRefused = false;  // ask the NIC again for rules it refused before
  // Install the NIC part in software instead (flower skip_hw, the demux
  // program as cls_bpf skip_hw): to try a NIC profile's split in the lab or
  // on a kernel without the NIC. Never meant for production.
  bool emulateNic = false;
  // Chains to keep skip-sw from now on (`vfsteer enforce skip-sw`), and
  // chains to stop keeping so (`vfsteer enforce skip-sw --clear`).
  std::vector<std::string> enforceSkipSw;
  std::vector<std::string> clearSkipSw;
  representors::DiscoverOptions discover;
  std::string stateRoot = "/run/vfsteer";
  std::chrono::milliseconds lockWait{std::chrono::seconds(30)};
};

struct ApplyResult {
  int exitCode = 0;            // see commands.hpp (0, 1 bad input, 2 refused, 3 kernel)
  std::string error;           // for a non-zero exit: what and why
  std::vector<std::string> steps;  // done, or (dry run) to do
  bool changed = false;
  // The demux program changes hook or device: this apply moved its chains
  // to the host and removed it; a second pass attaches the new one.
  bool movePending = false;
  std::string instance;
  std::optional<policies::Policy> policy;
  std::optional<demux::Plan> plan;
};

ApplyResult apply(const ApplyOptions& options, PortFactory& ports);

}  // namespace vfsteer::orchestrator
