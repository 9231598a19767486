#include <linux/genetlink.h>

#include "vfsteer/netlink/netdev.hpp"

namespace vfsteer::netlink::netdev {

namespace {

// uapi linux/netdev.h is newer than Debian 12's headers: the values the
// kernel defines (enums, stable ABI).
constexpr uint8_t kCmdDevGet = 1;
constexpr uint16_t kAttrIfindex = 1;
constexpr uint16_t kAttrXdpFeatures = 3;
constexpr uint16_t kAttrXdpRxMetadataFeatures = 5;
constexpr uint8_t kVersion = 1;

constexpr AttrSpec kDevSpecs[] = {
    {kAttrIfindex, "NETDEV_A_DEV_IFINDEX", AttrType::kU32},
    {kAttrXdpFeatures, "NETDEV_A_DEV_XDP_FEATURES", AttrType::kU64},
    {kAttrXdpRxMetadataFeatures, "NETDEV_A_DEV_XDP_RX_METADATA_FEATURES", AttrType::kU64}};
constexpr AttrPolicy kDevPolicy{"netdev", kDevSpecs};

}  // namespace

Message encodeDumpDevices(uint16_t family) {
  Message m = genlMessage(family, kCmdDevGet, kVersion, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP);
  m.setPolicy(&kDevPolicy);
  return m;
}

Result<Device> decodeDevice(const RawMessage& raw) {
  VFSTEER_ASSIGN_OR_RETURN(AttrTable t, AttrTable::ofMessage(raw, GENL_HDRLEN, kDevPolicy));
  auto ifindex = t.get(kAttrIfindex);
  auto features = t.get(kAttrXdpFeatures);
  if (!ifindex || !features) return Error(ErrorCode::kInternal, "netdev reply without ifindex or xdp-features");
  Device d{static_cast<int>(ifindex->u32()), features->u64(), std::nullopt};
  if (auto rxMetadata = t.get(kAttrXdpRxMetadataFeatures)) d.xdpRxMetadata = rxMetadata->u64();
  return d;
}

}  // namespace vfsteer::netlink::netdev
