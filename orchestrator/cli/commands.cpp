#include "cli/commands.hpp"

#include <cstdio>
#include <iostream>

#include <linux/netlink.h>

#include "engine/instances.hpp"
#include "engine/ports.hpp"
#include "engine/requests.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::cli {

void addCommands(CLI::App& app, int& exitCode) {
  addDiscoverCommand(app, exitCode);
  addPlanCommand(app, exitCode);
  addApplyCommand(app, exitCode);
  addEnforceCommand(app, exitCode);
  addReportCommand(app, exitCode);
  addTeardownCommand(app, exitCode);
  addRunCommand(app, exitCode);
  addMetadataCommand(app, exitCode);
  addLabCommand(app, exitCode);
}

int exitCodeFor(engine::FailureKind kind) {
  switch (kind) {
    case engine::FailureKind::kBadInput: return kExitBadInput;
    case engine::FailureKind::kPlanRefused: return kExitPlanRefused;
    case engine::FailureKind::kKernelRefused: return kExitKernelRefused;
  }
  return kExitKernelRefused;
}

void addLockWaitOption(CLI::App* cmd, int& seconds) {
  cmd->add_option("--wait", seconds,
                  "Seconds to wait for another vfsteer changing the same instance (default " +
                      std::to_string(kDefaultLockWaitSeconds) + "; 0 fails at once)")
      ->check(CLI::Range(0, 86400))
      ->type_name("SECONDS");
}

void addChainOption(CLI::App* cmd, std::vector<std::string>& chains) {
  cmd->add_option("--chain", chains, "Show only CHAIN (repeat or separate with commas)")
      ->delimiter(',')
      ->type_name("CHAIN");
}

void addDeviceOptions(CLI::App* cmd, DeviceArgs& args) {
  cmd->add_option("--pf", args.pf, "PF netdev name");
  cmd->add_option("--netns", args.netns,
                  "The PF's network namespace (read from its topology file; default: the policy's "
                  "device.netns)");
  cmd->add_option("-f,--file", args.policyFile, "Use the PF this policy names")->check(CLI::ExistingFile);
  cmd->add_option("--topology", args.topology, "Topology file instead of the kernel's view")
      ->check(CLI::ExistingFile);
}

Result<representors::Topology> discoverNamedDevice(const DeviceArgs& args) {
  policies::Device device;
  if (args.pf) {
    device.pf = *args.pf;
  } else if (args.policyFile) {
    VFSTEER_ASSIGN_OR_RETURN(auto policy, policies::loadPolicyFile(*args.policyFile));
    device = policy.device;
  } else {
    return Error(ErrorCode::kInvalidInput, "name the device: --pf NAME or -f POLICY");
  }
  if (args.netns) device.netns = args.netns;
  representors::DiscoverOptions opts;
  opts.topologyFile = args.topology;
  return engine::discoverDevice(device, opts);
}

Result<std::vector<engine::PortRxMetadata>> readRxMetadata(const representors::Topology& t) {
  auto ports = engine::makeRealPorts();
  VFSTEER_ASSIGN_OR_RETURN(auto genl, ports->netlink(t.netns, NETLINK_GENERIC));
  VFSTEER_ASSIGN_OR_RETURN(auto devices, engine::readNetdevDevices(*genl));
  return engine::rxMetadataOf(t, devices);
}

void printError(const std::string& text) { std::fprintf(stderr, "vfsteer: %s\n", text.c_str()); }

void printWarnings(const std::vector<demux::Warning>& warnings) {
  for (const auto& w : warnings)
    std::fprintf(stderr, "vfsteer: warning: %s: %s\n", w.pos.str().c_str(), w.message.c_str());
}

int printFailure(const engine::ApplyFailure& f) {
  std::string msg = f.error.describe();
  if (f.leftovers.empty()) {
    msg += f.changedSomething ? "\nnothing was changed (every step before it was undone)" : "\nnothing was changed";
  } else {
    msg += "\nrolling back left these behind:";
    for (const auto& l : f.leftovers) msg += "\n  " + l;
  }
  printError(msg);
  return exitCodeFor(f.kind);
}

void printChanges(const engine::ApplyResult& r, bool dryRun) {
  std::cout << (dryRun ? "would change " : "changed ") << r.instance << ":\n";
  if (r.tookOver) {
    const auto& j = *r.tookOver;
    std::cout << "  take over what an interrupted vfsteer (pid " << j.pid << ") left: " << j.clsact.size()
              << " clsact, " << j.tunnelDevices.size() << " tunnel devices, " << j.demuxPrograms.size()
              << " demux programs\n";
  }
  for (const auto& p : r.provisioning) std::cout << "  " << p << "\n";
  if (r.provisioningPending)
    std::cout << "  then: the NIC rules and the host datapath for the new representors\n";
  for (const auto& c : r.firstPass) std::cout << "  " << c.describe() << "\n";
  if (r.demuxMoved) std::cout << "  then, with the host carrying the chains:\n";
  for (const auto& refusal : r.refusals) {
    std::string chains;
    for (const auto& c : refusal.chains) chains += (chains.empty() ? "" : ", ") + c;
    std::cout << "  chain " << chains << " runs on the host: the NIC refused: " << refusal.words << "\n";
  }
  for (const auto& c : r.changes) std::cout << "  " << c.describe() << "\n";
  for (const auto& w : r.warnings) std::cout << "  warning: " << w.what << ": " << w.error.describe() << "\n";
}

}  // namespace vfsteer::cli
