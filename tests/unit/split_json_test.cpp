// The split report as JSON: what an apply records and `plan -o json`
// prints reads back as the same report, its text is what nlohmann writes
// for the same document, and its fingerprint tells reports apart.
#include <gtest/gtest.h>

#include <map>

#include "engine/flower_rules.hpp"
#include "engine/json_writer.hpp"
#include "engine/split_json.hpp"
#include "generators.hpp"
#include "vfsteer/demux/split_report.hpp"
#include "vfsteer/demux/splitter.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::engine {
namespace {

TEST(SplitJson, RoundTripsAsNlohmannWouldWriteItAndTheFingerprintTellsReportsApart) {
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
      // Quotes, a backslash, controls and UTF-8: the escaped path.
      split.chains[0].hostHookReason = "why \"not\" \\ xdp:\n\tm\u00e9tadonn\u00e9es \x01";
      if (!split.chains[0].nicRules.empty()) split.chains[0].nicRules[0].device = "uplink0";
    }
    auto back = splitReportFromJson(toJson(split));
    ASSERT_TRUE(back.ok()) << back.error().describe();
    EXPECT_EQ(*back, split) << "seed " << seed;
    std::string text;
    writeJson(text, split);
    EXPECT_EQ(text, nlohmann::ordered_json::parse(text).dump()) << "seed " << seed;
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

TEST(JsonWriter, WritesWhatNlohmannDumpsForTheSameDocument) {
  std::string text;
  JsonWriter w(text);
  w.beginObject();
  w.key("empty object").beginObject().endObject();
  w.key("empty list").beginArray().endArray();
  w.key("numbers").beginArray().value(0).value(uint64_t{18446744073709551615ULL}).value(-7).endArray();
  w.key("flags").beginArray().value(true).value(false).null().endArray();
  w.key("strings").value(std::vector<std::string>{"", "plain", "a \"quote\"", "tab\there", "\xc3\xa9t\xc3\xa9"});
  w.key("nested").beginArray().beginObject().key("k").beginArray().beginArray().endArray().endArray().endObject().endArray();
  w.endObject();
  const auto expected = nlohmann::ordered_json{
      {"empty object", nlohmann::ordered_json::object()},
      {"empty list", nlohmann::ordered_json::array()},
      {"numbers", {0, 18446744073709551615ULL, -7}},
      {"flags", {true, false, nullptr}},
      {"strings", {"", "plain", "a \"quote\"", "tab\there", "\xc3\xa9t\xc3\xa9"}},
      {"nested", {{{"k", {nlohmann::ordered_json::array()}}}}}};
  EXPECT_EQ(text, expected.dump());
}

// A string that is not UTF-8 is refused as nlohmann refuses it, not
// written into a document no JSON reader takes.
TEST(JsonWriter, RefusesTextThatIsNotUtf8) {
  std::string text;
  JsonWriter w(text);
  EXPECT_THROW(w.value(std::string("\xff\xfe")), nlohmann::json::type_error);
}

// The report's tc protocol of each NIC rule is the protocol the flower
// encoder gives the filter (two derivations of one fact: the report's from
// the policy's match, the encoder's from the encoded match).
TEST(SplitJson, TcProtocolOfEachNicRuleIsTheFlowerFiltersProtocol) {
  auto mlx5 = policies::loadProfileFile(std::string(VFSTEER_SOURCE_DIR) + "/profiles/mlx5.yaml");
  ASSERT_TRUE(mlx5.ok()) << mlx5.error().describe();
  int rules = 0, tagged = 0;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    testing::Generator g(seed);
    auto policy = policies::loadPolicyText(g.policyYaml(12, 4), "gen.yaml");
    if (!policy.ok()) continue;
    auto plan = demux::plan(*policy, *mlx5, {});
    if (!plan.ok() || !plan->ok()) continue;
    FlowerBindings bindings;
    bindings.uplinkIfindex = IfIndex{1};
    bindings.uplinkName = "uplink0";
    for (uint16_t vf = 0; vf < 64; ++vf) {
      bindings.repIfindex[VfIndex{vf}] = IfIndex{10 + vf};
      bindings.repName[VfIndex{vf}] = "pf0vf" + std::to_string(vf);
    }
    auto built = buildFlowerRules(*policy, *plan, bindings);
    ASSERT_TRUE(built.ok()) << built.error().describe();
    const demux::SplitReport split = demux::splitReport(*policy, *plan);
    std::map<std::string, std::vector<uint16_t>> fromReport, fromFilters;
    for (const auto& c : split.chains)
      for (const auto& n : c.nicRules) fromReport[c.name].push_back(n.tcProtocol);
    for (const auto& r : *built) {
      fromFilters[r.chain].push_back(r.filter.protocol);
      tagged += r.filter.protocol == 0x8100 || r.filter.protocol == 0x88a8;
      ++rules;
    }
    EXPECT_EQ(fromReport, fromFilters) << "seed " << seed;
  }
  EXPECT_GT(rules, 200);
  EXPECT_GT(tagged, 20) << "VLAN-keyed rules, whose protocol is the tag's";
}

}  // namespace
}  // namespace vfsteer::engine
