// Policies that are valid but almost certainly not what their author meant:
// warnings, never errors. `plan` and `apply` print them; they change nothing.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "vfsteer/demux/plan.hpp"
#include "vfsteer/policies/policy.hpp"

namespace vfsteer::demux {

struct Warning {
  std::string chain;  // empty for a warning about the whole policy
  policies::SourcePos pos;
  std::string message;
};

// True only when every packet `b` selects is selected by `a` too (a proof;
// "false" may also mean "cannot tell").
bool covers(const policies::Match& a, const policies::Match& b);

struct LintOptions {
  // Whether a bpf stage's object file exists (the check is the caller's, so
  // that linting stays pure); unset: not checked.
  std::function<bool(const std::string& path)> fileExists;
  // Shadowed chains are looked for pairwise among chains of one dst_port
  // (and those without one) until this many comparisons are made (about
  // 0.3 s); past it, one warning says which chains were not checked.
  size_t maxShadowComparisons = 10'000'000;
};

// In policy order of the chains they are about.
std::vector<Warning> lint(const policies::Policy& policy, const Plan& plan, const LintOptions& options = {});

}  // namespace vfsteer::demux
