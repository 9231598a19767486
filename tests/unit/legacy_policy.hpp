// What the tests of the legacy engines (u32_engine_test, ntuple_engine_test)
// share: a shipped profile, a policy for PF eth0 with 8 VFs from chain
// lines, and a chain's plan by name.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "vfsteer/demux/plan.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::testing {

inline policies::Profile shippedProfile(const std::string& name) {
  auto p = policies::loadProfileFile(std::string(VFSTEER_SOURCE_DIR) + "/profiles/" + name + ".yaml");
  EXPECT_TRUE(p.ok()) << p.error().describe();
  return p.ok() ? *p : policies::Profile{};
}

// eswitch "": the policy leaves the mode as it is.
inline policies::Policy policyText(const std::string& chains, const std::string& eswitch = "legacy") {
  const std::string mode = eswitch.empty() ? "" : "eswitch: " + eswitch + ", ";
  auto p = policies::loadPolicyText("version: 1\ndevice: {pf: eth0, " + mode + "vfs: {count: 8}}\nchains:\n" + chains,
                                    "t.yaml");
  EXPECT_TRUE(p.ok()) << p.error().describe();
  return p.ok() ? *p : policies::Policy{};
}

// One line of a policy's chains.
inline std::string chain(const std::string& name, int prio, const std::string& match, const std::string& stages) {
  return "  - {name: " + name + ", priority: " + std::to_string(prio) + ", match: {" + match + "}, stages: [" +
         stages + "]}\n";
}

inline const demux::ChainPlan& planOf(const demux::Plan& plan, const std::string& name) {
  for (const auto& c : plan.chains)
    if (c.name == name) return c;
  ADD_FAILURE() << "no chain " << name;
  static demux::ChainPlan none;
  return none;
}

}  // namespace vfsteer::testing
