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

// A u32 table, link or rule (engine u32), keys as "match u32 VALUE MASK at
// [nexthdr+]OFFSET": the words by which tc sends exactly these bytes.
std::string tcU32Command(const std::string& device, const netlink::tc::Filter& f,
                         const std::map<int, std::string>& devices);

}  // namespace vfsteer::cli
