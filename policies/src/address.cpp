#include "vfsteer/policies/address.hpp"

#include "vfsteer/common/names.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstdio>
#include <cstring>

namespace vfsteer::policies {
namespace {

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Number of leading bits the two prefixes share, up to `limit`.
bool samePrefixBits(const IpPrefix& a, const IpPrefix& b, int bits) {
  for (int i = 0; i < bits; ++i) {
    int byte = i / 8, bit = 7 - i % 8;
    if (((a.addr[byte] >> bit) & 1) != ((b.addr[byte] >> bit) & 1)) return false;
  }
  return true;
}

}  // namespace

std::string MacAddress::str() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2],
                bytes[3], bytes[4], bytes[5]);
  return buf;
}

std::optional<MacAddress> parseMac(std::string_view text) {
  // Exactly "xx:xx:xx:xx:xx:xx"; other spellings are rejected rather than guessed.
  if (text.size() != 17) return std::nullopt;
  MacAddress mac;
  for (size_t i = 0; i < 6; ++i) {
    int hi = hexDigit(text[i * 3]), lo = hexDigit(text[i * 3 + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    if (i < 5 && text[i * 3 + 2] != ':') return std::nullopt;
    mac.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return mac;
}

std::optional<MacMatch> parseMacMatch(std::string_view text) {
  MacMatch m;
  auto slash = text.find('/');
  auto addr = parseMac(text.substr(0, slash));
  if (!addr) return std::nullopt;
  m.addr = *addr;
  if (slash == std::string_view::npos) {
    m.mask.bytes.fill(0xff);
    return m;
  }
  auto mask = parseMac(text.substr(slash + 1));
  if (!mask) return std::nullopt;
  m.mask = *mask;
  for (size_t i = 0; i < 6; ++i) m.addr.bytes[i] &= m.mask.bytes[i];
  return m;
}

std::optional<IpPrefix> parseIpPrefix(std::string_view text, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<IpPrefix> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  IpPrefix p;
  auto slash = text.find('/');
  std::string addr(text.substr(0, slash));
  p.v6 = addr.find(':') != std::string::npos;
  if (inet_pton(p.v6 ? AF_INET6 : AF_INET, addr.c_str(), p.addr.data()) != 1)
    return fail(names::quoted(addr) + " is not an IPv" + (p.v6 ? "6" : "4") + " address");
  int length = p.width();
  if (slash != std::string_view::npos) {
    auto lenText = text.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(lenText.data(), lenText.data() + lenText.size(), length);
    if (ec != std::errc() || ptr != lenText.data() + lenText.size() || lenText.empty() ||
        length < 0 || length > p.width())
      return fail("prefix length " + names::quoted(lenText) + " is not 0.." +
                  std::to_string(p.width()));
  }
  p.length = static_cast<uint8_t>(length);
  for (int i = length; i < p.width(); ++i) {
    if (p.addr[i / 8] & (1 << (7 - i % 8))) {
      IpPrefix masked = p;
      for (int j = length; j < p.width(); ++j) masked.addr[j / 8] &= ~(1 << (7 - j % 8));
      return fail(names::quoted(text) + " has host bits set; did you mean " + masked.str() +
                  "?");
    }
  }
  return p;
}

bool IpPrefix::contains(const IpPrefix& other) const {
  return v6 == other.v6 && length <= other.length && samePrefixBits(*this, other, length);
}

bool IpPrefix::overlaps(const IpPrefix& other) const {
  if (v6 != other.v6) return false;
  return samePrefixBits(*this, other, std::min(length, other.length));
}

std::string IpPrefix::str() const {
  char buf[INET6_ADDRSTRLEN + 4];
  char* end = buf + sizeof buf;
  char* p = buf;
  if (v6) {
    inet_ntop(AF_INET6, addr.data(), buf, INET6_ADDRSTRLEN);
    p += std::strlen(buf);
  } else {
    // By hand: glibc's inet_ntop formats IPv4 through sprintf, and every
    // split report spells each chain's prefixes (twice).
    for (int i = 0; i < 4; ++i) {
      if (i) *p++ = '.';
      p = std::to_chars(p, end, addr[i]).ptr;
    }
  }
  *p++ = '/';
  p = std::to_chars(p, end, length).ptr;
  return std::string(buf, p);
}

}  // namespace vfsteer::policies
