// vfsteer metadata show: which XDP RX metadata (RX hash, timestamp, VLAN
// tag) each port's driver supplies, and where the profile claims otherwise.
// vfsteer metadata header: the C header of struct vfsteer_meta for user
// stages, from the datapath's BTF.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/rx_metadata_output.hpp"
#include "engine/profiles.hpp"
#include "engine/rx_metadata.hpp"
#include "vfsteer/policies/loader.hpp"
#include "vfsteer/representors/datapath.hpp"

namespace vfsteer::cli {

namespace {

struct MetadataArgs {
  DeviceArgs device;
  std::string profile = "auto";
  std::optional<std::string> profileDir;
  std::string output = "table";
};

int runShow(const MetadataArgs& args) {
  auto t = discoverNamedDevice(args.device);
  if (!t.ok()) {
    printError(t.error().describe());
    return kExitBadInput;
  }
  auto profiles = policies::loadProfileDir(engine::profileDir(args.profileDir));
  if (!profiles.ok()) {
    printError(profiles.error().describe());
    return kExitBadInput;
  }
  auto profile = policies::selectProfile(*profiles, args.profile, t->driver);
  if (!profile.ok()) {
    printError(profile.error().describe());
    return kExitBadInput;
  }
  auto ports = engine::makeRealPorts();
  auto genl = ports->netlink(t->netns, NETLINK_GENERIC);
  if (!genl.ok()) {
    printError("open generic netlink in the PF's namespace: " + genl.error().describe());
    return kExitBadInput;
  }
  auto devices = engine::readNetdevDevices(**genl);
  if (!devices.ok()) {
    printError("read the netdev family: " + devices.error().describe());
    return kExitKernelRefused;
  }
  const auto metadata = engine::rxMetadataOf(*t, *devices);
  const auto disagreements = engine::rxDisagreements(metadata, *profile);
  if (args.output == "json") {
    nlohmann::ordered_json doc;
    doc["vfsteer_rx_metadata"] = 1;
    doc["pf"] = t->pf;
    doc["netns"] = t->netns;
    doc["driver"] = t->driver;
    doc["profile"] = profile->name;
    doc["ports"] = rxMetadataJson(metadata);
    doc["disagreements"] = rxDisagreementsJson(disagreements);
    std::cout << doc.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "XDP RX metadata of " << t->pf << (t->netns.empty() ? "" : " in network namespace " + t->netns)
            << " (driver " << t->driver << ", profile " << profile->name << "):\n";
  printRxMetadata(std::cout, metadata, "  ");
  if (disagreements.empty()) {
    std::cout << "The profile's metadata claims agree with the kernel on " << t->pf << ".\n";
  } else {
    for (const auto& d : disagreements) std::cout << "disagrees: " << d.message << "\n";
  }
  return kExitOk;
}

int runHeader(const std::string& output) {
  auto header = representors::vfsteerMetaHeader();
  if (!header.ok()) {
    printError(header.error().describe());
    return kExitBadInput;
  }
  if (output.empty() || output == "-") {
    std::cout << *header;
    return kExitOk;
  }
  std::ofstream out(output);
  out << *header;
  out.close();
  if (!out) {
    printError("cannot write " + output + "; give a writable path, or leave -o out to print the header");
    return kExitBadInput;
  }
  return kExitOk;
}

}  // namespace

void addMetadataCommand(CLI::App& app, int& exitCode) {
  CLI::App* cmd = app.add_subcommand("metadata", "NIC metadata for host programs (XDP RX metadata kfuncs)");
  cmd->require_subcommand(1);
  auto args = std::make_shared<MetadataArgs>();
  CLI::App* show = cmd->add_subcommand(
      "show", "Show which XDP RX metadata fields (rx_hash, rx_timestamp, vlan_tag) each port's driver "
              "supplies, as the kernel's netdev family reports them (Linux 6.8+), and where the "
              "profile's metadata claims disagree.");
  addDeviceOptions(show, args->device);
  show->add_option("--profile", args->profile, "Profile whose claims to compare (default: by driver)")
      ->capture_default_str();
  show->add_option("--profiles-dir", args->profileDir, "Directory of profile files");
  show->add_option("-o,--output", args->output, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  show->footer("Exit status: 0 shown (disagreements included); 1 bad input, or the PF cannot be read; 3 "
               "the kernel refused the netdev dump. Changes nothing.");
  show->callback([args, &exitCode] { exitCode = runShow(*args); });

  auto headerOut = std::make_shared<std::string>();
  CLI::App* header = cmd->add_subcommand(
      "header", "Write vfsteer_meta.h, the layout of the metadata vfsteer's XDP entry hands to tc and user bpf "
                "stages (struct vfsteer_meta), from the datapath's BTF.");
  header->add_option("-o,--output", *headerOut, "File to write (default: standard output)");
  header->footer("Exit status: 0 written; 1 the file cannot be written. Changes nothing else.");
  header->callback([headerOut, &exitCode] { exitCode = runHeader(*headerOut); });
}

}  // namespace vfsteer::cli
