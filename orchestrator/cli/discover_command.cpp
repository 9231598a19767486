// vfsteer discover: what vfsteer sees of a device (no root needed for most).
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/rx_metadata_output.hpp"
#include "engine/profiles.hpp"
#include "engine/rx_metadata.hpp"
#include "vfsteer/policies/loader.hpp"
#include "vfsteer/representors/topology.hpp"

namespace vfsteer::cli {

namespace {

struct DiscoverArgs {
  DeviceArgs device;
  std::optional<std::string> profileDir;
  std::string output = "table";
};

int runDiscover(const DiscoverArgs& args) {
  auto t = discoverNamedDevice(args.device);
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
  auto metadata = readRxMetadata(*t);  // discover shows what it can and does not fail for this
  doc["xdp_rx_metadata"] = metadata.ok() ? rxMetadataJson(*metadata) : nlohmann::ordered_json::array();
  if (!metadata.ok()) doc["xdp_rx_metadata_error"] = metadata.error().describe();
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
  std::cout << "  XDP RX metadata (vfsteer metadata show compares it with the profile):\n";
  if (metadata.ok()) printRxMetadata(std::cout, *metadata, "    ");
  else std::cout << "    unknown: " << metadata.error().describe() << "\n";
  return kExitOk;
}

}  // namespace

void addDiscoverCommand(CLI::App& app, int& exitCode) {
  auto args = std::make_shared<DiscoverArgs>();
  CLI::App* cmd = app.add_subcommand(
      "discover", "Show the PF, its VFs and their representors as vfsteer finds them (devlink ports "
                  "and sysfs, or a topology file), the driver, the profile it maps to and the XDP RX "
                  "metadata each port supplies.");
  addDeviceOptions(cmd, args->device);
  cmd->add_option("--profiles-dir", args->profileDir, "Directory of profile files");
  cmd->add_option("-o,--output", args->output, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  cmd->footer("Exit status: 0 found; 1 bad input, or the PF or its topology cannot be read. Changes "
              "nothing.");
  cmd->callback([args, &exitCode] { exitCode = runDiscover(*args); });
}

}  // namespace vfsteer::cli
