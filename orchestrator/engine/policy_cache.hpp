// The policy an instance was last applied from, kept loaded beside its state
// (policy.cache in the instance's directory): a re-apply of an unchanged
// file decodes it instead of scanning the YAML again, which is most of what
// a no-op apply of a large policy costs.
//
// An entry serves only the same text under the same path, read by the same
// vfsteer binary (its device, inode, size and modification time): a new
// build, or an edit of one byte, loads the file again. It goes with the
// instance's state (teardown removes both). Nothing else reads it; a missing,
// stale or unreadable entry is a miss, never an error.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "engine/state.hpp"
#include "vfsteer/common/result.hpp"
#include "vfsteer/policies/policy.hpp"

namespace vfsteer::engine {

struct CachedPolicy {
  policies::Policy policy;
  std::string instance;  // whose entry it was
};

// The policy `text` (read from `file`, the path as given) loads to, from the
// entry of any instance that holds one for it.
std::optional<CachedPolicy> findCachedPolicy(const StateStore& store, const std::string& file, std::string_view text);

// Makes `policy`, loaded from `text` at `file`, the instance's entry.
Status cachePolicy(const StateStore& store, const std::string& instance, const std::string& file,
                   std::string_view text, const policies::Policy& policy);

}  // namespace vfsteer::engine
