// MAC addresses and IP prefixes as policies write them.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vfsteer::policies {

struct MacAddress {
  std::array<uint8_t, 6> bytes{};
  bool isMulticast() const { return (bytes[0] & 0x01) != 0; }
  bool isZero() const { return bytes == std::array<uint8_t, 6>{}; }
  std::string str() const;
  auto operator<=>(const MacAddress&) const = default;
};

// An address with a mask. A plain MAC in a policy has an all-ones mask.
struct MacMatch {
  MacAddress addr;
  MacAddress mask;
  auto operator<=>(const MacMatch&) const = default;
};

// An IPv4 or IPv6 prefix. IPv4 uses the first 4 bytes. Host bits beyond the
// prefix length are always zero (the parser rejects them so that two
// spellings of one prefix compare equal).
struct IpPrefix {
  bool v6 = false;
  std::array<uint8_t, 16> addr{};
  uint8_t length = 0;

  int width() const { return v6 ? 128 : 32; }
  bool contains(const IpPrefix& other) const;  // other is inside this prefix
  bool overlaps(const IpPrefix& other) const;
  std::string str() const;
  auto operator<=>(const IpPrefix&) const = default;
};

std::optional<MacAddress> parseMac(std::string_view text);
// "aa:bb:cc:dd:ee:ff" or "aa:bb:cc:dd:ee:ff/ff:ff:ff:00:00:00".
std::optional<MacMatch> parseMacMatch(std::string_view text);
// "10.0.0.0/24", "10.0.0.1" (a /32), "2001:db8::/64". Sets `error` on failure.
std::optional<IpPrefix> parseIpPrefix(std::string_view text, std::string* error);

}  // namespace vfsteer::policies
