// Questions the planner asks a profile, answered with the reason in words an
// operator understands ("stage 2 bpf: profile mlx5 has no BPF offload"), or
// nothing when the NIC can do it.
#pragma once

#include <optional>
#include <string>

#include "vfsteer/policies/policy.hpp"
#include "vfsteer/policies/profile.hpp"

namespace vfsteer::demux {

// Why the NIC cannot classify packets by this match.
std::optional<std::string> whyMatchNotInNic(const policies::Profile& profile,
                                            const policies::Match& match);

// Why the NIC cannot run stage `index` of `chain`.
std::optional<std::string> whyStageNotInNic(const policies::Profile& profile,
                                            const policies::Chain& chain, size_t index);

}  // namespace vfsteer::demux
