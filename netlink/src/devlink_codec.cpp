#include <linux/devlink.h>
#include <linux/genetlink.h>

#include <cstring>

#include "vfsteer/netlink/devlink.hpp"

namespace vfsteer::netlink::devlink {

namespace {

// iproute2's devlink sends genl version 0 (the kernel does not check it) and
// asks for acks on dumps too; the controller request uses version 1.
constexpr uint8_t kDevlinkVersion = 0;

// What vfsteer writes and reads of devlink's attributes.
#define VFS_ATTR(type, kind) AttrSpec { type, #type, AttrType::kind }
constexpr AttrSpec kDevlinkSpecs[] = {
    VFS_ATTR(DEVLINK_ATTR_BUS_NAME, kString),
    VFS_ATTR(DEVLINK_ATTR_DEV_NAME, kString),
    VFS_ATTR(DEVLINK_ATTR_ESWITCH_MODE, kU16),
    VFS_ATTR(DEVLINK_ATTR_PORT_INDEX, kU32),
    VFS_ATTR(DEVLINK_ATTR_PORT_FLAVOUR, kU16),
    VFS_ATTR(DEVLINK_ATTR_PORT_PCI_PF_NUMBER, kU16),
    VFS_ATTR(DEVLINK_ATTR_PORT_PCI_VF_NUMBER, kU16),
    VFS_ATTR(DEVLINK_ATTR_PORT_CONTROLLER_NUMBER, kU32),
    VFS_ATTR(DEVLINK_ATTR_PORT_NETDEV_IFINDEX, kU32),
    VFS_ATTR(DEVLINK_ATTR_PORT_NETDEV_NAME, kString),
    VFS_ATTR(DEVLINK_ATTR_RATE_TYPE, kU16),
    VFS_ATTR(DEVLINK_ATTR_RATE_NODE_NAME, kString),
    VFS_ATTR(DEVLINK_ATTR_RATE_TX_SHARE, kU64),
    VFS_ATTR(DEVLINK_ATTR_RATE_TX_MAX, kU64),
};
#undef VFS_ATTR
constexpr AttrPolicy kDevlinkPolicy{"devlink", kDevlinkSpecs};

void putHandle(Message& m, const Handle& h) {
  m.setPolicy(&kDevlinkPolicy);
  m.putStrz(DEVLINK_ATTR_BUS_NAME, h.bus);
  m.putStrz(DEVLINK_ATTR_DEV_NAME, h.dev);
}

Result<AttrTable> genlAttrs(const RawMessage& raw) {
  return AttrTable::ofMessage(raw, GENL_HDRLEN, kDevlinkPolicy);
}

Result<Handle> handleOf(const AttrTable& t) {
  auto bus = t.get(DEVLINK_ATTR_BUS_NAME);
  auto dev = t.get(DEVLINK_ATTR_DEV_NAME);
  if (!bus || !dev) return Error(ErrorCode::kInternal, "devlink message without a device handle");
  return Handle{bus->str(), dev->str()};
}

}  // namespace

Result<Handle> parseHandle(const std::string& text) {
  auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size() ||
      text.find('/', slash + 1) != std::string::npos)
    return Error(ErrorCode::kInvalidInput,
                 "\"" + text + "\" is not a devlink device; expected BUS/DEVICE such as "
                               "pci/0000:03:00.0");
  return Handle{text.substr(0, slash), text.substr(slash + 1)};
}

std::string_view name(PortFlavour flavour) {
  switch (flavour) {
    case PortFlavour::kPhysical: return "physical";
    case PortFlavour::kCpu: return "cpu";
    case PortFlavour::kDsa: return "dsa";
    case PortFlavour::kPciPf: return "pcipf";
    case PortFlavour::kPciVf: return "pcivf";
    case PortFlavour::kVirtual: return "virtual";
    case PortFlavour::kUnused: return "unused";
    case PortFlavour::kPciSf: return "pcisf";
  }
  return "unknown";
}

Message encodeDumpDevices(uint16_t family) {
  return genlMessage(family, DEVLINK_CMD_GET, kDevlinkVersion, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP);
}

Result<Handle> decodeDevice(const RawMessage& raw) {
  VFSTEER_ASSIGN_OR_RETURN(AttrTable t, genlAttrs(raw));
  return handleOf(t);
}

Message encodeGetEswitch(uint16_t family, const Handle& dev) {
  Message m = genlMessage(family, DEVLINK_CMD_ESWITCH_GET, kDevlinkVersion, NLM_F_REQUEST | NLM_F_ACK);
  putHandle(m, dev);
  return m;
}

Message encodeSetEswitch(uint16_t family, const Handle& dev, EswitchMode mode) {
  Message m = genlMessage(family, DEVLINK_CMD_ESWITCH_SET, kDevlinkVersion, NLM_F_REQUEST | NLM_F_ACK);
  putHandle(m, dev);
  m.putU16(DEVLINK_ATTR_ESWITCH_MODE, static_cast<uint16_t>(mode));
  return m;
}

Result<EswitchMode> decodeEswitch(const RawMessage& raw) {
  VFSTEER_ASSIGN_OR_RETURN(AttrTable t, genlAttrs(raw));
  auto mode = t.get(DEVLINK_ATTR_ESWITCH_MODE);
  if (!mode) return Error(ErrorCode::kInternal, "eswitch reply without a mode");
  return static_cast<EswitchMode>(mode->u16());
}

Message encodeDumpPorts(uint16_t family) {
  return genlMessage(family, DEVLINK_CMD_PORT_GET, kDevlinkVersion, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP);
}

Result<Port> decodePort(const RawMessage& raw) {
  VFSTEER_ASSIGN_OR_RETURN(AttrTable t, genlAttrs(raw));
  Port p;
  VFSTEER_ASSIGN_OR_RETURN(p.device, handleOf(t));
  auto index = t.get(DEVLINK_ATTR_PORT_INDEX);
  if (!index) return Error(ErrorCode::kInternal, "devlink port without an index");
  p.index = index->u32();
  if (auto a = t.get(DEVLINK_ATTR_PORT_FLAVOUR)) p.flavour = static_cast<PortFlavour>(a->u16());
  if (auto a = t.get(DEVLINK_ATTR_PORT_PCI_PF_NUMBER)) p.pfNumber = a->u16();
  if (auto a = t.get(DEVLINK_ATTR_PORT_PCI_VF_NUMBER)) p.vfNumber = a->u16();
  if (auto a = t.get(DEVLINK_ATTR_PORT_CONTROLLER_NUMBER)) p.controller = a->u32();
  if (auto a = t.get(DEVLINK_ATTR_PORT_NETDEV_IFINDEX)) p.netdevIfindex = static_cast<int>(a->u32());
  if (auto a = t.get(DEVLINK_ATTR_PORT_NETDEV_NAME)) p.netdevName = a->str();
  return p;
}

Message encodeDumpRates(uint16_t family) {
  return genlMessage(family, DEVLINK_CMD_RATE_GET, kDevlinkVersion, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP);
}

Result<Rate> decodeRate(const RawMessage& raw) {
  VFSTEER_ASSIGN_OR_RETURN(AttrTable t, genlAttrs(raw));
  Rate r;
  VFSTEER_ASSIGN_OR_RETURN(r.device, handleOf(t));
  if (auto a = t.get(DEVLINK_ATTR_RATE_TYPE)) r.leaf = a->u16() == DEVLINK_RATE_TYPE_LEAF;
  if (auto a = t.get(DEVLINK_ATTR_PORT_INDEX)) r.port = a->u32();
  if (auto a = t.get(DEVLINK_ATTR_RATE_NODE_NAME)) r.node = a->str();
  if (auto a = t.get(DEVLINK_ATTR_RATE_TX_SHARE)) r.txShare = a->u64();
  if (auto a = t.get(DEVLINK_ATTR_RATE_TX_MAX)) r.txMax = a->u64();
  return r;
}

Message encodeSetPortRate(uint16_t family, const Handle& dev, uint32_t port,
                          std::optional<uint64_t> txShare, std::optional<uint64_t> txMax) {
  Message m = genlMessage(family, DEVLINK_CMD_RATE_SET, kDevlinkVersion, NLM_F_REQUEST | NLM_F_ACK);
  putHandle(m, dev);
  m.putU32(DEVLINK_ATTR_PORT_INDEX, port);
  if (txShare) m.putU64(DEVLINK_ATTR_RATE_TX_SHARE, *txShare);
  if (txMax) m.putU64(DEVLINK_ATTR_RATE_TX_MAX, *txMax);
  return m;
}

}  // namespace vfsteer::netlink::devlink
