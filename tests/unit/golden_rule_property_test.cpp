// The golden rule, checked by generation: for random (policy, profile, packet)
// cases, running the plan's NIC prefix and then its host remainder delivers
// exactly what the whole policy delivers in software.
#include <gtest/gtest.h>

#include "generators.hpp"
#include "vfsteer/demux/interpreter.hpp"
#include "vfsteer/demux/splitter.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::demux {
namespace {

constexpr int kPolicies = 1500;
constexpr int kPacketsPerPolicy = 12;

std::vector<policies::Profile> shippedProfiles() {
  auto all = policies::loadProfileDir(std::string(VFSTEER_SOURCE_DIR) + "/profiles");
  EXPECT_TRUE(all.ok() && all->broken.empty());
  return all.ok() ? all->profiles : std::vector<policies::Profile>{};
}

TEST(GoldenRule, SplitExecutionEqualsWholeChainExecution) {
  testing::Generator gen(20261122);
  const auto shipped = shippedProfiles();
  int cases = 0, nicHandled = 0, plansWithErrors = 0, continued = 0, trapped = 0;
  // Under engine u32 and ntuple profiles (the flow director's); through
  // their NIC rules.
  int filterCases = 0, filterHandled = 0;
  for (int i = 0; i < kPolicies; ++i) {
    const std::string yaml = gen.policyYaml(6, 3);
    auto policy = policies::loadPolicyText(yaml, "generated.yaml");
    ASSERT_TRUE(policy.ok()) << "generator wrote an invalid policy:\n"
                             << yaml << "\n" << policy.error().message();
    const policies::Profile profile =
        gen.chance(0.5) ? gen.profile() : shipped[gen.pick(static_cast<int>(shipped.size()))];
    auto plan = demux::plan(*policy, profile);
    ASSERT_TRUE(plan.ok());

    // Every error is a skip-sw chain left without a NIC part, and vice versa.
    for (size_t c = 0; c < plan->chains.size(); ++c) {
      const ChainPlan& cp = plan->chains[c];
      bool failed = std::any_of(plan->errors.begin(), plan->errors.end(),
                                [&](const Diagnostic& d) { return d.chain == cp.name; });
      EXPECT_EQ(failed, cp.mode == policies::OffloadMode::kSkipSw && !cp.demuxInNic) << yaml;
      if (cp.handover == Handover::kContinue) ++continued;
      if (cp.handover == Handover::kTrap) ++trapped;
    }
    if (!plan->ok()) {
      ++plansWithErrors;
      continue;  // never applied
    }
    for (int k = 0; k < kPacketsPerPolicy; ++k) {
      const Packet packet = gen.packet(*policy);
      const Environment env = gen.environment(*policy);
      const Outcome whole = runWhole(*policy, packet, env);
      const Outcome split = runSplit(*policy, *plan, profile, packet, env);
      ++cases;
      const bool filterEngine =
          profile.engine == policies::NicEngine::kU32 || profile.engine == policies::NicEngine::kNtuple;
      filterCases += filterEngine;
      if (split.chain && plan->chains[*split.chain].demuxInNic) {
        ++nicHandled;
        filterHandled += filterEngine;
      }
      ASSERT_TRUE(split.violation.empty()) << split.violation << "\n" << yaml;
      ASSERT_EQ(split, whole) << "policy:\n"
                              << yaml << "profile " << profile.name << " (engine "
                              << policies::name(profile.engine) << ")\nwhole: " << whole.describe()
                              << "\nsplit: " << split.describe();
    }
  }
  std::printf("golden rule: %d cases (%d through a NIC rule), %d continue and %d trap chains, "
              "%d plans refused; engines u32 and ntuple: %d cases, %d through their rules\n",
              cases, nicHandled, continued, trapped, plansWithErrors, filterCases, filterHandled);
  EXPECT_GE(cases, 10000);
  // The generator must exercise the interesting paths, not only the host.
  EXPECT_GT(nicHandled, cases / 10);
  // Random policies seldom fit a flow director rule (IPv4 fields and one
  // final stage only); the VM tier's cross-checks cover its layouts in depth.
  EXPECT_GT(filterCases, 500);
  EXPECT_GT(filterHandled, 5);
  EXPECT_GT(continued, 100);
  EXPECT_GT(trapped, 100);
}

}  // namespace
}  // namespace vfsteer::demux
