// vfsteer plan: print the split without touching the system (no root needed).
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/plan_output.hpp"
#include "engine/apply.hpp"
#include "engine/profiles.hpp"
#include "engine/split_json.hpp"
#include "vfsteer/demux/split_report.hpp"
#include "vfsteer/demux/splitter.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::cli {

namespace {

struct PlanArgs {
  std::string policyFile;
  std::optional<std::string> profile;
  std::optional<std::string> profileDir;
  std::vector<std::string> skipSw;
  std::vector<std::string> skipHw;
  std::vector<std::string> chains;
  std::string output = "table";
};

// Input that does not load, for a program reading -o json: the plan
// document with ok false, no chains, and one error per line of `text`
// ("file:line:column: message" lines keep their position apart).
nlohmann::json inputErrorsJson(const PlanArgs& args, const std::string& text) {
  static const std::regex positioned(R"(^(.*?:\d+:\d+): (.*)$)");
  nlohmann::json errors = nlohmann::json::array();
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    const bool hasPosition = std::regex_match(line, m, positioned);
    errors.push_back({{"chain", ""},
                      {"position", hasPosition ? m[1].str() : ""},
                      {"message", hasPosition ? m[2].str() : line}});
  }
  return {{"vfsteer_plan", 1}, {"policy", args.policyFile}, {"ok", false}, {"errors", errors},
          {"chains", nlohmann::json::array()}};
}

// The plan document with the policy's warnings after its errors.
nlohmann::ordered_json planJson(const demux::SplitReport& split, const std::vector<demux::Warning>& warnings) {
  nlohmann::ordered_json doc, plan = engine::toJson(split);
  for (auto& [key, value] : plan.items()) {
    doc[key] = value;
    if (key != "errors") continue;
    doc["warnings"] = nlohmann::ordered_json::array();
    for (const auto& w : warnings)
      doc["warnings"].push_back({{"chain", w.chain}, {"message", w.message}, {"position", w.pos.str()}});
  }
  return doc;
}

int runPlan(const PlanArgs& args) {
  // Bad input exits 1 with the errors on stderr, and with -o json also as
  // the plan document on stdout.
  auto badInput = [&](const std::string& text) {
    printError(text);
    if (args.output == "json") std::cout << inputErrorsJson(args, text).dump(2) << "\n";
    return kExitBadInput;
  };
  auto policy = policies::loadPolicyFile(args.policyFile);
  if (!policy.ok()) return badInput(policy.error().message());
  auto profile = engine::resolveProfile(*policy, args.profile, engine::profileDir(args.profileDir));
  if (!profile.ok()) return badInput(profile.error().describe());
  auto options = engine::placementOptions(args.skipSw, args.skipHw);
  if (!options.ok()) return badInput(options.error().message());
  auto plan = demux::plan(*policy, *profile, *options);
  if (!plan.ok()) return badInput(plan.error().message());
  auto split = demux::splitReport(*policy, *plan);
  if (auto kept = keepChains(split, args.chains); !kept.ok()) return badInput(kept.error().message());
  const auto warnings = demux::lint(*policy, *plan, engine::policyLintOptions());
  printWarnings(warnings);
  if (args.output == "json")
    std::cout << planJson(split, warnings).dump(2) << "\n";
  else if (args.output == "dot")
    writeDot(std::cout, split);
  else
    writeTable(std::cout, split);
  if (!plan->ok()) {
    for (const auto& e : plan->errors) printError(e.pos.str() + ": " + e.message);
    return kExitPlanRefused;
  }
  return kExitOk;
}

}  // namespace

void addPlanCommand(CLI::App& app, int& exitCode) {
  auto args = std::make_shared<PlanArgs>();
  CLI::App* cmd = app.add_subcommand(
      "plan", "Print where each chain's stages would run (NIC or host) and why. Reads the policy "
              "and the profile only; changes nothing and needs no root.");
  cmd->add_option("-f,--file", args->policyFile, "Steering policy (YAML, see docs/policy.md)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--profile", args->profile,
                  "NIC profile name (profiles/*.yaml); default: device.profile from the policy, "
                  "where \"auto\" asks the PF's driver");
  cmd->add_option("--profiles-dir", args->profileDir,
                  "Directory of profile files (default: $VFSTEER_PROFILES or the bundled ones)");
  cmd->add_option("--skip-sw", args->skipSw,
                  "Require CHAIN (or \"all\") to have a NIC part; the plan is refused otherwise")
      ->delimiter(',')
      ->type_name("CHAIN|all");
  cmd->add_option("--skip-hw", args->skipHw, "Keep CHAIN (or \"all\") entirely on the host")
      ->delimiter(',')
      ->type_name("CHAIN|all");
  cmd->add_option("--chain", args->chains, "Show only CHAIN (repeat or separate with commas)")
      ->delimiter(',')
      ->type_name("CHAIN");
  cmd->add_option("-o,--output", args->output, "Output format")
      ->check(CLI::IsMember({"table", "json", "dot"}))
      ->capture_default_str();
  cmd->footer(
      "Exit status: 0 the plan can be applied; 1 bad input; 2 a skip-sw chain has no NIC part "
      "(the report is printed and the reasons go to stderr).\n"
      "JSON format: docs/plan-json.md. Render dot with: vfsteer plan ... -o dot | dot -Tsvg");
  cmd->callback([args, &exitCode] { exitCode = runPlan(*args); });
}

}  // namespace vfsteer::cli
