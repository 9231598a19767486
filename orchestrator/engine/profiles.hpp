// Finding the profile directory and choosing a policy's profile.
#pragma once

#include <optional>
#include <string>

#include "vfsteer/common/result.hpp"
#include "vfsteer/policies/policy.hpp"
#include "vfsteer/policies/profile.hpp"

namespace vfsteer::engine {

// The profile directory: `flag` if given, else $VFSTEER_PROFILES, else the
// installed share/vfsteer/profiles next to the binary, else the source tree's.
std::string profileDir(const std::optional<std::string>& flag);

// --profile wins over device.profile; "auto" asks the PF's driver (`driver`
// when the caller knows it already, else the kernel). An error names where
// the profile was asked for: --profile, or device.profile's
// file:line:column.
Result<policies::Profile> resolveProfile(const policies::Policy& policy,
                                         const std::optional<std::string>& flag,
                                         const std::string& dir,
                                         const std::optional<std::string>& driver = std::nullopt);

}  // namespace vfsteer::engine
