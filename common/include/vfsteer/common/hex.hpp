// Bytes as lowercase hex digits ("7666737467b19724"), as tc and sysfs show
// cookies and switch ids.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vfsteer {

inline std::string hexBytes(const std::vector<uint8_t>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

}  // namespace vfsteer
