// The split report as JSON: what an apply records and `plan -o json`
// prints reads back as the same report, streamed or not, and its
// fingerprint tells reports apart.
#include <gtest/gtest.h>

#include <sstream>

#include "engine/split_json.hpp"
#include "generators.hpp"
#include "vfsteer/demux/split_report.hpp"
#include "vfsteer/demux/splitter.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::engine {
namespace {

TEST(SplitJson, RoundTripsStreamedOrNotAndTheFingerprintTellsReportsApart) {
  int reports = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    testing::Generator g(seed);
    auto policy = policies::loadPolicyText(g.policyYaml(12, 4), "gen.yaml");
    if (!policy.ok()) continue;
    auto plan = demux::plan(*policy, g.profile(), {});
    if (!plan.ok() || !plan->ok()) continue;  // errors carry positions, kept as text
    demux::SplitReport split = demux::splitReport(*policy, *plan);
    if (!split.chains.empty()) {
      split.chains[0].hostHook = "tc";
      split.chains[0].hostHookReason = "why";
      if (!split.chains[0].nicRules.empty()) split.chains[0].nicRules[0].device = "uplink0";
    }
    auto back = splitReportFromJson(toJson(split));
    ASSERT_TRUE(back.ok()) << back.error().describe();
    EXPECT_EQ(*back, split) << "seed " << seed;
    std::ostringstream streamed;
    writeJson(streamed, split);
    EXPECT_EQ(nlohmann::json::parse(streamed.str()), toJson(split)) << "seed " << seed;
    EXPECT_EQ(fingerprint(*back), fingerprint(split));
    if (!split.chains.empty()) {
      demux::SplitReport other = split;
      other.chains.back().reason += ".";
      EXPECT_NE(fingerprint(other), fingerprint(split));
    }
    ++reports;
  }
  EXPECT_GT(reports, 100);
}

}  // namespace
}  // namespace vfsteer::engine
