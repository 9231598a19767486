// vfsteer discover: what vfsteer sees of a device (no root needed for most).
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "engine/instances.hpp"
#include "engine/profiles.hpp"
#include "vfsteer/policies/loader.hpp"
#include "vfsteer/representors/topology.hpp"

namespace vfsteer::cli {

namespace {

struct DiscoverArgs {
  std::optional<std::string> pf;
  std::optional<std::string> netns;
  std::optional<std::string> policyFile;
  std::optional<std::string> topology;
  std::optional<std::string> profileDir;
  std::string output = "table";
};

int runDiscover(const DiscoverArgs& args) {
  policies::Device device;
  if (args.pf) {
    device.pf = *args.pf;
  } else if (args.policyFile) {
    auto policy = policies::loadPolicyFile(*args.policyFile);
    if (!policy.ok()) {
      printError(policy.error().message());
      return kExitBadInput;
    }
    device = policy->device;
  } else {
    printError("name the device: --pf NAME or -f POLICY");
    return kExitBadInput;
  }
  if (args.netns) device.netns = args.netns;
  representors::DiscoverOptions opts;
  opts.topologyFile = args.topology;
  auto t = engine::discoverDevice(device, opts);
  if (!t.ok()) {
    printError(t.error().describe());
    return kExitBadInput;
  }
  std::string profile, profileWhy;
  auto profiles = policies::loadProfileDir(engine::profileDir(args.profileDir));
  if (profiles.ok()) {
    auto p = policies::selectProfile(*profiles, "auto", t->driver);
    if (p.ok()) profile = p->name;
    else profileWhy = p.error().message();
  }
  nlohmann::json doc{{"vfsteer_topology", 1},
                     {"source", t->source},
                     {"instance", t->instance()},
                     {"netns", t->netns},
                     {"pf", t->pf},
                     {"ifindex", t->pfIfindex},
                     {"driver", t->driver},
                     {"profile", profile.empty() ? nlohmann::json() : nlohmann::json(profile)},
                     {"eswitch", t->eswitch},
                     {"devlink", t->devlink},
                     {"switch_id", t->switchId},
                     {"num_vfs", t->numVfs}};
  doc["representors"] = nlohmann::json::array();
  for (const auto& r : t->reps)
    doc["representors"].push_back({{"vf", r.vf},
                                   {"ifname", r.ifname},
                                   {"ifindex", r.ifindex},
                                   {"devlink_port", r.devlinkPort},
                                   {"pf_number", r.pfNumber},
                                   {"phys_port_name", r.physPortName},
                                   {"switch_id", r.switchId}});
  if (args.output == "json") {
    std::cout << doc.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "PF " << t->pf << " (ifindex " << t->pfIfindex << ")"
            << (t->netns.empty() ? "" : " in network namespace " + t->netns) << "\n"
            << "  found by   " << t->source << "\n"
            << "  driver     " << t->driver << " -> profile "
            << (profile.empty() ? "none (" + profileWhy + ")" : profile) << "\n"
            << "  devlink    " << (t->devlink.empty() ? "none" : t->devlink) << "\n"
            << "  eswitch    " << (t->eswitch.empty() ? "unknown" : t->eswitch) << "\n"
            << "  VFs        " << t->numVfs << "\n";
  for (const auto& r : t->reps)
    std::cout << "  vf" << r.vf << " representor " << r.ifname << " (ifindex " << r.ifindex << ")"
              << (r.physPortName.empty() ? "" : ", port " + r.physPortName)
              << (r.devlinkPort ? ", devlink port " + std::to_string(r.devlinkPort) : "")
              << (r.switchId.empty() ? "" : ", switch " + r.switchId) << "\n";
  return kExitOk;
}

}  // namespace

void addDiscoverCommand(CLI::App& app, int& exitCode) {
  auto args = std::make_shared<DiscoverArgs>();
  CLI::App* cmd = app.add_subcommand(
      "discover", "Show the PF, its VFs and their representors as vfsteer finds them (devlink ports "
                  "and sysfs, or a topology file), the driver and the profile it maps to.");
  cmd->add_option("--pf", args->pf, "PF netdev name");
  cmd->add_option("--netns", args->netns,
                  "The PF's network namespace (read from its topology file; default: the policy's "
                  "device.netns)");
  cmd->add_option("-f,--file", args->policyFile, "Use the PF this policy names")->check(CLI::ExistingFile);
  cmd->add_option("--topology", args->topology, "Topology file instead of the kernel's view")
      ->check(CLI::ExistingFile);
  cmd->add_option("--profiles-dir", args->profileDir, "Directory of profile files");
  cmd->add_option("-o,--output", args->output, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  cmd->footer("Exit status: 0 found; 1 bad input, or the PF or its topology cannot be read. Changes "
              "nothing.");
  cmd->callback([args, &exitCode] { exitCode = runDiscover(*args); });
}

}  // namespace vfsteer::cli
