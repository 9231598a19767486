// vfsteer plan: print the split without touching the system (no root needed).
#include <algorithm>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/plan_output.hpp"
#include "cli/tc_commands.hpp"
#include "engine/apply.hpp"
#include "engine/flower_rules.hpp"
#include "engine/ntuple_rules.hpp"
#include "engine/u32_rules.hpp"
#include "engine/instances.hpp"
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
// document with ok false, no chains, and the problems one by one.
nlohmann::ordered_json inputErrorsJson(const PlanArgs& args, const std::vector<policies::LoadProblem>& problems) {
  nlohmann::ordered_json errors = nlohmann::ordered_json::array();
  for (const auto& p : problems)
    errors.push_back({{"chain", ""},
                      {"message", p.message},
                      {"position", p.pos.line > 0 ? p.pos.str() : ""},
                      {"path", p.path}});
  return {{"vfsteer_plan", engine::kPlanJsonVersion}, {"policy", args.policyFile}, {"ok", false},
          {"errors", errors}, {"warnings", nlohmann::ordered_json::array()}, {"chains", nlohmann::ordered_json::array()}};
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

// Engine u32: the tables, the links into them and the rules, in the order
// they are made. A VF is reached by its own netdev in legacy mode, by its
// representor where it has one; VFn where vfsteer cannot find either.
void writeU32Commands(std::ostream& out, const policies::Policy& policy, const demux::Plan& plan,
                      const Result<representors::Topology>& topology, const std::vector<std::string>& chains) {
  engine::U32Bindings bindings;
  std::map<int, std::string> devices;
  bindings.pfIfindex = IfIndex{1};
  bindings.pfName = policy.device.pf;
  for (uint16_t vf = 0; vf < 256; ++vf) {
    const std::string name = topology.ok() ? engine::vfNetdevName(*topology, vf).value_or("VF" + std::to_string(vf))
                                           : "VF" + std::to_string(vf);
    bindings.vfIfindex[VfIndex{vf}] = IfIndex{100 + vf};
    devices[100 + vf] = name;
  }
  bindings.cookie = engine::ownerCookie(topology.ok() ? topology->instance() : policy.device.pf);
  auto filters = engine::buildU32Filters(policy, plan, bindings);
  if (!filters.ok()) {
    out << "# " << filters.error().describe() << "\n";
    return;
  }
  if (filters->rules.empty()) {
    out << "# no chain runs in the NIC\n";
    return;
  }
  for (const auto& t : filters->tables) out << tcU32Command(policy.device.pf, t, devices) << "\n";
  for (const auto& l : filters->links) out << tcU32Command(policy.device.pf, l, devices) << "\n";
  for (const auto& rule : filters->rules)
    if (chains.empty() || std::find(chains.begin(), chains.end(), rule.chain) != chains.end())
      out << "# chain " << rule.chain << "\n" << tcU32Command(rule.device, rule.filter, devices) << "\n";
}

// The NIC rules as tc command lines. Device names come from the PF's
// topology when vfsteer can find it (a topology file, or the kernel), else
// the representors are placeholders (REP_VF1) to replace.
void writeTcCommands(std::ostream& out, const policies::Policy& policy, const demux::Plan& plan,
                     const policies::Profile& profile, const Result<representors::Topology>& topology,
                     const std::vector<std::string>& chains) {
  if (profile.engine == policies::NicEngine::kU32) {
    writeU32Commands(out, policy, plan, topology, chains);
    return;
  }
  if (profile.engine == policies::NicEngine::kNtuple) {
    auto rules = engine::buildFlowRules(policy, plan, policy.device.pf);
    if (!rules.ok()) {
      out << "# " << rules.error().describe() << "\n";
      return;
    }
    for (const auto& r : *rules)
      if (chains.empty() || std::find(chains.begin(), chains.end(), r.chain) != chains.end())
        out << "# chain " << r.chain << "\nethtool -N " << r.device << " " << netlink::rxnfc::ethtoolArgs(r.rule) << "\n";
    return;
  }
  if (profile.engine != policies::NicEngine::kFlower) {
    out << "# profile " << profile.name << " programs no flower rules (NIC engine "
        << policies::name(profile.engine) << ")\n";
    return;
  }
  engine::FlowerBindings bindings;
  std::map<int, std::string> devices;
  bindings.uplinkIfindex = IfIndex{1};
  bindings.uplinkName = policy.device.pf;
  devices[1] = policy.device.pf;
  for (uint16_t vf = 0; vf < 256; ++vf) {  // every VF a policy can name
    const auto* rep = topology.ok() ? topology->representor(vf) : nullptr;
    const std::string name = rep ? rep->ifname : "REP_VF" + std::to_string(vf);
    bindings.repIfindex[VfIndex{vf}] = IfIndex{100 + vf};
    bindings.repName[VfIndex{vf}] = name;
    devices[100 + vf] = name;
  }
  bindings.cookie = engine::ownerCookie(topology.ok() ? topology->instance() : policy.device.pf);
  auto rules = engine::buildFlowerRules(policy, plan, bindings);
  if (!rules.ok()) {
    out << "# " << rules.error().describe() << "\n";
    return;
  }
  bool placeholders = false;
  for (const auto& rule : *rules)
    for (const auto& a : std::get<netlink::tc::Flower>(rule.filter.spec).actions)
      if (const auto* m = std::get_if<netlink::tc::Mirred>(&a.op)) placeholders |= devices[m->ifindex].rfind("REP_VF", 0) == 0;
  if (placeholders)
    out << "# REP_VFn: the representor of VF n ("
        << (topology.ok() ? "the PF has none now" : topology.error().describe()) << ")\n";
  for (const auto& rule : *rules)
    if (chains.empty() || std::find(chains.begin(), chains.end(), rule.chain) != chains.end())
      out << "# chain " << rule.chain << "\n" << tcCommand(rule, devices) << "\n";
}

int runPlan(const PlanArgs& args) {
  // Bad input exits 1 with the errors on stderr, and with -o json also as
  // the plan document on stdout, problem by problem.
  auto badInput = [&](const std::string& text, std::vector<policies::LoadProblem> problems) {
    printError(text);
    if (args.output == "json") std::cout << inputErrorsJson(args, problems).dump(2) << "\n";
    return kExitBadInput;
  };
  auto unpositioned = [&](const Error& e) {
    return badInput(e.message(), {policies::LoadProblem{{}, "", e.message()}});
  };
  std::vector<policies::LoadProblem> problems;
  auto policy = policies::loadPolicyFile(args.policyFile, &problems);
  if (!policy.ok()) return badInput(policy.error().message(), problems);
  // The PF as apply would find it (a topology file, else the kernel), for
  // its driver when the profile is "auto" (the lab's uplink0 lives in a
  // namespace of its own) and its representors' names in -o tc. When it
  // cannot be found, resolveProfile asks the kernel and -o tc uses
  // placeholders.
  const bool autoProfile = !args.profile && policy->device.profile == "auto";
  const Result<representors::Topology> topology =
      autoProfile || args.output == "tc" ? engine::discoverDevice(policy->device, {})
                                         : Result<representors::Topology>(Error(ErrorCode::kNotFound, "not looked for"));
  std::optional<std::string> driver;
  if (autoProfile && topology.ok() && !topology->driver.empty()) driver = topology->driver;
  auto profile = engine::resolveProfile(*policy, args.profile, engine::profileDir(args.profileDir), driver);
  if (!profile.ok()) {
    // Positioned at device.profile unless --profile named it.
    policies::LoadProblem p{args.profile ? policies::SourcePos{} : policy->device.profilePos,
                            args.profile ? "--profile" : "device.profile", profile.error().message()};
    return badInput(profile.error().describe(), {p});
  }
  auto options = engine::placementOptions(args.skipSw, args.skipHw);
  if (!options.ok()) return unpositioned(options.error());
  auto plan = demux::plan(*policy, *profile, *options);
  if (!plan.ok()) return unpositioned(plan.error());
  auto split = demux::splitReport(*policy, *plan);
  if (auto kept = keepChains(split, args.chains); !kept.ok()) return unpositioned(kept.error());
  const auto warnings = demux::lint(*policy, *plan, engine::policyLintOptions());
  printWarnings(warnings);
  if (args.output == "json")
    std::cout << planJson(split, warnings).dump(2) << "\n";
  else if (args.output == "tc")
    writeTcCommands(std::cout, *policy, *plan, *profile, topology, args.chains);
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
      "plan", "Print where each chain's stages would run (NIC or host) and why. Reads the policy, "
              "the profile and, for profile auto and -o tc, the PF's topology; changes nothing and "
              "needs no root.");
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
  addChainOption(cmd, args->chains);
  cmd->add_option("-o,--output", args->output, "Output format")
      ->check(CLI::IsMember({"table", "json", "dot", "tc"}))
      ->capture_default_str();
  cmd->footer(
      "Exit status: 0 the plan can be applied; 1 bad input; 2 a skip-sw chain has no NIC part "
      "(the report is printed and the reasons go to stderr).\n"
      "JSON format: docs/plan-json.md. Render dot with: vfsteer plan ... -o dot | dot -Tsvg. "
      "-o tc: the NIC rules as tc commands, to hold against tc -s filter show.");
  cmd->callback([args, &exitCode] { exitCode = runPlan(*args); });
}

}  // namespace vfsteer::cli
