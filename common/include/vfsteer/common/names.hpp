// The names vfsteer passes on to the kernel or turns into paths, checked in
// one place: interface names (a policy's device.pf, --pf), network namespace
// names (topology files, the lab), and instance names ("pf" or "pf:netns",
// given with --instance), which become directory names under the state and
// pin roots and so must never be able to leave them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "vfsteer/common/result.hpp"

namespace vfsteer::names {

inline constexpr size_t kMaxInterfaceName = 15;  // IFNAMSIZ - 1
inline constexpr size_t kMaxNetnsName = 63;
inline constexpr size_t kMaxQuoted = 64;  // longest value an error message quotes whole

// Whitespace and control characters: never part of a name vfsteer accepts
// (they hide in logs and split shell words).
inline bool isBlankOrControl(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u <= ' ' || u == 0x7f;
}

// The kernel's dev_valid_name(): 1..15 bytes, not "." or "..", no '/', ':'
// or whitespace.
inline bool isInterfaceName(std::string_view name) {
  if (name.empty() || name.size() > kMaxInterfaceName || name == "." || name == "..") return false;
  for (char c : name)
    if (c == '/' || c == ':' || isBlankOrControl(c)) return false;
  return true;
}

// A file name under /run/netns, as iproute2 makes them, without whitespace
// or control characters: 1..63 bytes, not "." or "..", no '/'.
inline bool isNetnsName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNetnsName || name == "." || name == "..") return false;
  for (char c : name)
    if (c == '/' || isBlankOrControl(c)) return false;
  return true;
}

// `value` in double quotes for an error message, cut short when long, so a
// 5 MB value does not make a 5 MB message.
inline std::string quoted(std::string_view value) {
  if (value.size() <= kMaxQuoted) return "\"" + std::string(value) + "\"";
  return "\"" + std::string(value.substr(0, kMaxQuoted)) + "…\" (" + std::to_string(value.size()) + " bytes)";
}

// An instance name: an interface name, optionally ':' and a namespace name.
// Interface names cannot hold ':', so the split is unambiguous.
inline Status checkInstanceName(std::string_view name) {
  const auto colon = name.find(':');
  const std::string_view pf = name.substr(0, colon);
  const bool pfOk = isInterfaceName(pf);
  const bool netnsOk = colon == std::string_view::npos || isNetnsName(name.substr(colon + 1));
  if (pfOk && netnsOk) return okStatus();
  return Error(ErrorCode::kInvalidInput,
               "instance " + quoted(name) + " is not PF or PF:NETNS (" +
                   (pfOk ? "the namespace part must be 1-63 characters without '/', spaces or control "
                           "characters, and not \".\" or \"..\""
                         : "the PF part must be an interface name: 1-15 characters without '/', ':' or "
                           "spaces, and not \".\" or \"..\"") +
                   "), e.g. eth0 or uplink0:vfs-host");
}

}  // namespace vfsteer::names
