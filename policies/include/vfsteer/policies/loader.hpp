// YAML → validated Policy / Profile. Every error names file:line:column, the
// field, what was expected and what was found.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "vfsteer/common/result.hpp"
#include "vfsteer/policies/policy.hpp"
#include "vfsteer/policies/profile.hpp"

namespace vfsteer::policies {

// Reads and validates a policy file. The error message lists every problem
// found (one per line), each starting with "file:line:column: ".
Result<Policy> loadPolicyFile(const std::string& path);
// Same, from text already in memory; `file` only names it in messages.
Result<Policy> loadPolicyText(std::string_view text, const std::string& file);

Result<Profile> loadProfileFile(const std::string& path);
Result<Profile> loadProfileText(std::string_view text, const std::string& file);

// All profiles in a directory (files ending in .yaml), sorted by name.
Result<std::vector<Profile>> loadProfileDir(const std::string& dir);

// The profile named `name`, or the one that lists `driver` when name is "auto".
Result<Profile> selectProfile(const std::vector<Profile>& profiles, std::string_view name,
                              std::string_view driver);

}  // namespace vfsteer::policies
