// vfsteer report: what runs where, live, with counters.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/plan_output.hpp"
#include "engine/instances.hpp"
#include "engine/report.hpp"

namespace vfsteer::cli {

namespace {

struct ReportArgs {
  std::optional<std::string> instance;
  std::optional<std::string> policyFile;
  std::string output = "table";
  std::string stateRoot = paths::kStateRoot;
};

// What the kernel says about the NIC part: in hardware or not.
void printNic(const nlohmann::json& doc) {
  bool header = false;
  auto line = [&](const std::string& text) {
    if (!header)
      std::cout << (doc.value("nic_emulated", false) ? "\nNIC, emulated in software (as the kernel reports it)\n"
                                                     : "\nNIC (as the kernel reports it)\n");
    header = true;
    std::cout << "  " << text << "\n";
  };
  if (doc.contains("nic_program")) {
    const auto& p = doc["nic_program"];
    std::string chains;
    for (const auto& c : p["chains"]) chains += (chains.empty() ? "" : ", ") + c.get<std::string>();
    line("demux program (" + p["hook"].get<std::string>() + " on " + p["device"].get<std::string>() + ", prog id " +
         std::to_string(p["prog_id"].get<uint32_t>()) + "): " +
         (p["in_hw"].get<bool>()     ? "in_hw"
          : !p["attached"].get<bool>() ? "NOT attached"
          : doc.value("nic_emulated", false) ? "attached (skip_hw)"
                                             : "NOT in_hw") +
         "; chains " + chains);
  }
  for (const auto& c : doc["chains"]) {
    for (const auto& r : c["nic_rules"]) {
      if (!r.contains("via") || r["via"] != "flower") continue;
      std::string state = !r["present"].get<bool>() ? "MISSING"
                          : r["in_hw"].get<bool>()  ? "in_hw (count " + std::to_string(r["in_hw_count"].get<uint32_t>()) + ")"
                          : doc.value("nic_emulated", false) ? "present (skip_hw)"
                                                             : "NOT in_hw";
      if (r["present"].get<bool>()) state += ", " + std::to_string(r["packets"].get<uint64_t>()) + " packets";
      line("chain " + c["name"].get<std::string>() + ": flower on " + r["device"].get<std::string>() +
           " (tc priority " + std::to_string(r["tc_priority"].get<uint32_t>()) + "): " + state);
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
  auto ports = engine::makeRealPorts();
  auto report = engine::buildReport(**state, *ports);
  if (!report.ok()) {
    printError(report.error().describe());
    return kExitKernelRefused;
  }
  const nlohmann::json doc = reportJson(*report);
  if (args.output == "json") {
    std::cout << doc.dump(2) << "\n";
  } else if (args.output == "dot") {
    std::cout << chainsDot(doc);
  } else {
    std::cout << "instance " << ref->instance << "\n" << chainsTable(doc);
    printNic(doc);
    const auto& dp = doc["datapath"];
    std::cout << "\nhost datapath " << (dp["loaded"].get<bool>() ? "loaded" : "NOT loaded")
              << " (" << dp["pinned"].get<std::string>() << ", generation " << dp["generation"] << ")\n";
    for (const auto& a : dp["attachments"])
      std::cout << "  " << a["ifname"].get<std::string>() << ": tc entry "
                << (a["attached"].get<bool>() ? "attached" : "NOT attached") << "\n";
    for (const auto& a : dp["xdp_attachments"])
      std::cout << "  " << a["ifname"].get<std::string>() << ": XDP entry (" << a["mode"].get<std::string>()
                << ") " << (a["attached"].get<bool>() ? "attached" : "NOT attached") << "\n";
    if (doc.contains("host_totals")) {
      const auto& t = doc["host_totals"];
      std::cout << "host totals: " << t["unmatched"] << " unmatched (default path), " << t["malformed"]
                << " malformed, " << t["policed"] << " policed, " << t["action_errors"]
                << " action errors, " << t["bpf_stage_missing"] << " missing bpf programs\n";
    }
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
  cmd->add_option("-o,--output", args->output, "Output format")
      ->check(CLI::IsMember({"table", "json", "dot"}))
      ->capture_default_str();
  cmd->footer("JSON format: docs/report-json.md.");
  cmd->callback([args, &exitCode] { exitCode = runReport(*args); });
}

}  // namespace vfsteer::cli
