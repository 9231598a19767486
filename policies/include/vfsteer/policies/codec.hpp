// A validated Policy as bytes and back, for apply's cache of policies it has
// loaded (orchestrator/engine/policy_cache.hpp): a re-apply of an unchanged
// file decodes these instead of scanning its YAML again. The bytes are not a
// file format: only the build that wrote them reads them (the cache keys its
// entries by the vfsteer binary), so nothing here is versioned.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "vfsteer/policies/policy.hpp"

namespace vfsteer::policies {

std::string encodePolicy(const Policy& policy);
// The policy encodePolicy was given; nullopt for bytes it did not write
// (truncated, trailing bytes, a variant or enum out of range).
std::optional<Policy> decodePolicy(std::string_view bytes);

}  // namespace vfsteer::policies
