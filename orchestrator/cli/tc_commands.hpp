// NIC rules as `tc filter add` command lines, for `plan -o tc`: what an
// operator holds against `tc -s filter show` (device, chain and priority in
// decimal, protocol, flags, keys and actions in tc's own words).
#pragma once

#include <map>
#include <string>

#include "engine/objects.hpp"

namespace vfsteer::cli {

// One line, without a trailing newline. `devices` names the ifindexes the
// rule's mirred actions use.
std::string tcCommand(const engine::NicRule& rule, const std::map<int, std::string>& devices);

}  // namespace vfsteer::cli
