// libFuzzer target: the policy loader, then the planner on every bundled
// profile. Any input is either a policy or an error that says where; no
// crash, no hang, no sanitizer report. A policy also goes through apply's
// cache codec and must come back equal.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "vfsteer/demux/splitter.hpp"
#include "vfsteer/policies/codec.hpp"
#include "vfsteer/policies/loader.hpp"

using namespace vfsteer;

namespace {

const std::vector<policies::Profile>& bundledProfiles() {
  static const auto profiles = [] {
    auto p = policies::loadProfileDir(VFSTEER_SOURCE_DIR "/profiles");
    if (!p.ok() || !p->broken.empty()) std::abort();  // the bundled profiles must load
    return p->profiles;
  }();
  return profiles;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto policy = policies::loadPolicyText(text, "fuzz.yaml");
  if (!policy.ok()) {
    // Every refusal names the file (and, from the YAML, line and column).
    if (policy.error().message().rfind("fuzz.yaml", 0) != 0) std::abort();
    return 0;
  }
  if (policies::decodePolicy(policies::encodePolicy(*policy)) != *policy) std::abort();
  for (const auto& profile : bundledProfiles()) {
    for (auto mode : {policies::OffloadMode::kAuto, policies::OffloadMode::kSkipSw, policies::OffloadMode::kSkipHw}) {
      demux::PlanOptions options;
      options.all = mode;
      auto plan = demux::plan(*policy, profile, options);
      if (!plan.ok()) std::abort();  // only unknown chain names fail, and none are given
    }
  }
  return 0;
}
