// vfsteer report: what runs where, live, with counters.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/plan_output.hpp"
#include "cli/rx_metadata_output.hpp"
#include "engine/instances.hpp"
#include "engine/report.hpp"
#include "vfsteer/representors/bpf_classifier.hpp"

namespace vfsteer::cli {

namespace {

struct ReportArgs {
  std::optional<std::string> instance;
  std::optional<std::string> policyFile;
  std::vector<std::string> chains;
  std::string output = "table";
  std::string stateRoot = paths::kStateRoot;
};

// What the kernel says about the NIC part: in hardware or not.
void printNic(const engine::LiveReport& r) {
  bool header = false;
  auto line = [&](const std::string& text) {
    if (!header)
      std::cout << (r.nicEmulated ? "\nNIC, emulated in software (as the kernel reports it)\n"
                                  : "\nNIC (as the kernel reports it)\n");
    header = true;
    std::cout << "  " << text << "\n";
  };
  if (r.demuxProgram) {
    const auto& p = *r.demuxProgram;
    std::string chains;
    for (const auto& c : p.record.chains) chains += (chains.empty() ? "" : ", ") + c;
    line("demux program (" + std::string(engine::hookName(p.record.hook)) + " on " + p.record.device + ", prog id " +
         std::to_string(p.record.progId) + "): " +
         (p.inHw           ? "in_hw"
          : !p.attached    ? "NOT attached"
          : r.nicEmulated ? "attached (skip_hw)"
                           : "NOT in_hw") +
         "; chains " + chains);
  }
  for (const auto& c : r.split.chains) {
    const auto& statuses = r.nicRules.at(c.name);
    for (size_t i = 0; i < c.nicRules.size() && i < statuses.size(); ++i) {
      const auto& s = statuses[i];
      if (s.viaProgram) continue;
      if (r.split.engine == policies::NicEngine::kNtuple) {
        line("chain " + c.name + ": flow rule on " + c.nicRules[i].device + " (location " +
             std::to_string(c.nicRules[i].location) + "): " +
             (s.present ? "in the NIC: " + s.flowRule + ", not counted (the NIC reports no counters per rule)"
                        : "MISSING"));
        continue;
      }
      const bool u32 = r.split.engine == policies::NicEngine::kU32;  // u32 reports no in_hw count
      std::string state = !s.present ? "MISSING"
                          : s.inHw   ? (u32 ? std::string("in_hw") : "in_hw (count " + std::to_string(s.inHwCount) + ")")
                          : r.nicEmulated ? "present (skip_hw)"
                                          : "NOT in_hw";
      if (s.present)
        state += r.nicCounters ? ", " + std::to_string(s.packets) + " packets"
                               : ", not counted (the NIC reports no counters per rule)";
      const std::string handle = u32 ? ", handle " + netlink::tc::u32HandleName(c.nicRules[i].tcHandle) : "";
      line("chain " + c.name + ": " + (u32 ? "u32" : "flower") + " on " + c.nicRules[i].device + " (tc priority " +
           std::to_string(c.nicRules[i].tcPriority) + handle + "): " + state);
    }
  }
}

int runReport(const ReportArgs& args) {
  engine::StateStore store(args.stateRoot);
  auto ref = engine::resolveInstance(args.instance, args.policyFile, {}, store);
  if (!ref.ok()) {
    printError(ref.error().describe());
    return kExitBadInput;
  }
  auto state = store.load(ref->instance);
  if (!state.ok()) {
    printError(state.error().describe());
    return kExitBadInput;
  }
  if (!state->has_value()) {
    printError("nothing is applied for " + ref->instance + " (no state); run vfsteer apply first");
    return kExitBadInput;
  }
  auto split = store.loadSplit(**state);
  if (!split.ok()) {
    printError(split.error().describe());
    return kExitBadInput;
  }
  auto ports = engine::makeRealPorts();
  auto report = engine::buildReport(**state, *split, *ports);
  if (!report.ok()) {
    printError(report.error().describe());
    return kExitKernelRefused;
  }
  if (auto kept = keepChains(report->split, args.chains); !kept.ok()) {
    printError(kept.error().message());
    return kExitBadInput;
  }
  const engine::LiveReport& r = *report;
  // What each port's driver supplies now, as `metadata show` says; the
  // report shows what it can and goes on when it cannot be read.
  policies::Device device;
  device.pf = (*state)->pf;
  if (!(*state)->netns.empty()) device.netns = (*state)->netns;
  auto topology = engine::discoverDevice(device, {});
  auto metadata =
      topology.ok() ? readRxMetadata(*topology) : Result<std::vector<engine::PortRxMetadata>>(topology.error());
  if (args.output == "json") {
    auto doc = reportJson(r);
    doc["xdp_rx_metadata"] = metadata.ok() ? rxMetadataJson(*metadata) : nlohmann::ordered_json::array();
    if (!metadata.ok()) doc["xdp_rx_metadata_error"] = metadata.error().describe();
    std::cout << doc.dump(2) << "\n";
  } else if (args.output == "dot") {
    writeDot(std::cout, r.split, &r);
  } else {
    std::cout << "instance " << ref->instance << "\n";
    writeTable(std::cout, r.split, &r);
    printNic(r);
    const auto& dp = r.datapath;
    std::cout << "\nhost datapath " << (dp.loaded ? "loaded" : "NOT loaded") << " (" << dp.pinned << ", generation "
              << dp.generation << ")\n";
    if (dp.classifier == "specialized")
      std::cout << "  classifier: made for this policy (program " << dp.classifierProgId << ", no table lookups)\n";
    else if (!dp.classifier.empty())
      std::cout << "  classifier: tuple-space tables (a policy of at most " << representors::kSpecializedMaxRules
                << " host rules gets its own unless device.host_classifier: tables)\n";
    for (const auto& e : dp.entries)
      std::cout << "  " << e.device << ": tc entry " << (e.attached ? "attached" : "NOT attached") << "\n";
    for (const auto& x : dp.xdp)
      std::cout << "  " << x.device << ": XDP entry (" << policies::name(x.mode)
                << (x.rxMetadata ? ", reading RX metadata" : "") << ") "
                << (x.attached ? "attached" : "NOT attached") << "\n";
    if (r.totals) {
      const auto& t = *r.totals;
      std::cout << "host totals: " << t.unmatched << " unmatched (default path), " << t.malformed << " malformed, "
                << t.policed << " policed, " << t.actionErrors << " action errors, " << t.tailcallFailures
                << " missing bpf programs; " << t.fromXdp << " passed on by the XDP entry with their chain\n";
    }
    std::cout << "\nXDP RX metadata the drivers supply (docs/nic-metadata.md)\n";
    if (metadata.ok()) printRxMetadata(std::cout, *metadata, "  ");
    else std::cout << "  cannot be read: " << metadata.error().describe() << "\n";
  }
  return kExitOk;
}

}  // namespace

void addReportCommand(CLI::App& app, int& exitCode) {
  auto args = std::make_shared<ReportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "report", "Show what runs where for an applied policy: NIC and host placement per stage, "
                "whether the host datapath is attached, and packet/byte counters.");
  cmd->add_option("--instance", args->instance,
                  "PF or PF:NETNS as vfsteer names it (default: the only one applied)");
  cmd->add_option("-f,--file", args->policyFile, "Report on the PF this policy names")
      ->check(CLI::ExistingFile);
  addChainOption(cmd, args->chains);
  cmd->add_option("-o,--output", args->output, "Output format")
      ->check(CLI::IsMember({"table", "json", "dot"}))
      ->capture_default_str();
  cmd->footer("Exit status: 0 reported; 1 bad input, or nothing of vfsteer's to report on.\n"
              "JSON format: docs/report-json.md.");
  cmd->callback([args, &exitCode] { exitCode = runReport(*args); });
}

}  // namespace vfsteer::cli
