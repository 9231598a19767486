#include <linux/genetlink.h>

#include "vfsteer/netlink/netdev.hpp"

namespace vfsteer::netlink::netdev {

namespace {

// uapi linux/netdev.h is newer than Debian 12's headers: the values the
// kernel defines (enums, stable ABI).
constexpr uint8_t kCmdDevGet = 1;
constexpr uint16_t kAttrIfindex = 1;
constexpr uint16_t kAttrXdpFeatures = 3;
constexpr uint16_t kAttrMax = 4;
constexpr uint8_t kVersion = 1;

}  // namespace

Message encodeGetDevice(uint16_t family, int ifindex) {
  Message m(family, NLM_F_REQUEST | NLM_F_ACK);
  genlmsghdr g{};
  g.cmd = kCmdDevGet;
  g.version = kVersion;
  m.putHeader(g);
  m.putU32(kAttrIfindex, static_cast<uint32_t>(ifindex));
  return m;
}

Result<uint64_t> decodeXdpFeatures(const RawMessage& raw) {
  VFSTEER_ASSIGN_OR_RETURN(AttrTable t, AttrTable::ofMessage(raw, GENL_HDRLEN, kAttrMax));
  auto features = t.get(kAttrXdpFeatures);
  if (!features) return Error(ErrorCode::kInternal, "netdev reply without xdp-features");
  return features->u64();
}

}  // namespace vfsteer::netlink::netdev
