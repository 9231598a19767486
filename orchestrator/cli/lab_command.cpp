// vfsteer lab up|down|status: the built-in namespace lab.
#include <iostream>

#include "cli/commands.hpp"
#include "engine/instances.hpp"
#include "engine/teardown.hpp"
#include "vfsteer/representors/lab.hpp"

namespace vfsteer::cli {

namespace lab = representors::lab;

namespace {

int labUp(const lab::Lab& theLab, int vfs) {
  if (auto p = engine::requirePrivileges("lab up"); !p.ok()) {
    printError(p.error().message());
    return kExitBadInput;
  }
  auto s = lab::up(theLab, vfs);
  if (!s.ok()) {
    printError(s.error().describe());
    return s.error().code() == ErrorCode::kInvalidInput || s.error().code() == ErrorCode::kExists ||
                   s.error().code() == ErrorCode::kConflict
               ? kExitBadInput
               : kExitKernelRefused;
  }
  std::cout << "lab up: " << theLab.wireNetns() << " (" << lab::kWire << ") <-> " << theLab.hostNetns() << " ("
            << lab::kUplink << ", pf0vf0..pf0vf" << vfs - 1 << ") <-> " << theLab.vfNetns(0) << ".."
            << theLab.vfNetns(vfs - 1) << " (vf0..vf" << vfs - 1 << ")\n"
            << "topology: " << theLab.topologyFile() << " (profile veth; a policy names it with device.pf: "
            << lab::kUplink << ", and device.netns: " << theLab.hostNetns() << " when other labs are up)\n";
  return kExitOk;
}

int labDown(const lab::Lab& theLab) {
  if (auto p = engine::requirePrivileges("lab down"); !p.ok()) {
    printError(p.error().message());
    return kExitBadInput;
  }
  auto st = lab::status(theLab);
  if (!st.ok()) {
    printError(st.error().describe());
    return st.error().code() == ErrorCode::kInvalidInput ? kExitBadInput : kExitKernelRefused;
  }
  if (!st->up) {
    std::cout << "lab is not up; nothing to do\n";
    return kExitOk;
  }
  // What vfsteer applied on the lab lives partly outside its namespaces
  // (pinned BPF objects, state): remove it first.
  engine::StateStore store;
  auto ports = engine::makeRealPorts();
  auto labInstance = engine::parseInstance(theLab.instance());
  auto torn = labInstance.ok()
                  ? engine::teardown(*labInstance, *ports, store, std::chrono::seconds(kDefaultLockWaitSeconds))
                  : Result<engine::TeardownResult>(labInstance.error());
  if (!torn.ok()) {
    printError(torn.error().describe());
    // A vfsteer run keeping the lab (or another vfsteer holding it) is not
    // the kernel's refusal: nothing was changed.
    return torn.error().code() == ErrorCode::kConflict ? kExitBadInput : kExitKernelRefused;
  }
  auto s = lab::down(theLab);
  if (!s.ok()) {
    printError(s.error().describe());
    return kExitKernelRefused;
  }
  std::cout << "lab down: removed";
  for (const auto& ns : st->namespaces) std::cout << " " << ns;
  std::cout << "\n";
  return kExitOk;
}

int labStatus(const lab::Lab& theLab) {
  auto st = lab::status(theLab);
  if (!st.ok()) {
    printError(st.error().describe());
    return kExitBadInput;
  }
  if (!st->up) {
    std::cout << "lab: down\n";
    return kExitOk;
  }
  std::cout << "lab: up with " << st->vfs << " VFs\nnamespaces:";
  for (const auto& ns : st->namespaces) std::cout << " " << ns;
  std::cout << "\n";
  if (!st->missing.empty()) {
    std::cout << "missing (removed by someone else):";
    for (const auto& ns : st->missing) std::cout << " " << ns;
    std::cout << "\n";
  }
  engine::StateStore store;
  auto state = store.load(theLab.instance());
  if (state.ok() && state->has_value())
    std::cout << "applied: " << (*state)->policyFile << " (vfsteer report for details)\n";
  else
    std::cout << "applied: nothing\n";
  return kExitOk;
}

}  // namespace

void addLabCommand(CLI::App& app, int& exitCode) {
  CLI::App* cmd = app.add_subcommand(
      "lab", "A built-in lab of network namespaces and veth pairs that stands in for a switchdev "
             "NIC: NAME-wire (wire0) - NAME-host (uplink0, pf0vfN) - NAME-vfN (vfN); NAME is vfs "
             "unless --name says otherwise.");
  cmd->require_subcommand(1);
  // Before the subcommands: they take their footer from here.
  cmd->footer("Exit status: 0 done (lab down: also when the lab is not up); 1 bad input, not root, or "
              "the lab's names are taken (nothing was changed); 3 the kernel refused a change (lab up "
              "removes what it made).");
  auto vfs = std::make_shared<int>(4);
  auto theLab = std::make_shared<lab::Lab>();
  auto addName = [theLab](CLI::App* sub) {
    sub->add_option("--name", theLab->name, "The lab's name, the prefix of its namespaces")
        ->capture_default_str()
        ->check([](const std::string& name) {
          auto ok = lab::checkName(name);
          return ok.ok() ? std::string() : ok.error().message();
        });
  };
  CLI::App* up = cmd->add_subcommand("up", "Create the lab and its topology file");
  up->add_option("--vfs", *vfs, "Number of VFs")->check(CLI::Range(1, lab::kMaxVfs))->capture_default_str();
  addName(up);
  up->callback([vfs, theLab, &exitCode] { exitCode = labUp(*theLab, *vfs); });
  CLI::App* down = cmd->add_subcommand("down", "Remove the lab and what vfsteer applied on it, nothing else");
  addName(down);
  down->callback([theLab, &exitCode] { exitCode = labDown(*theLab); });
  CLI::App* status = cmd->add_subcommand("status", "Show whether the lab is up and what is applied");
  addName(status);
  status->callback([theLab, &exitCode] { exitCode = labStatus(*theLab); });
}

}  // namespace vfsteer::cli
