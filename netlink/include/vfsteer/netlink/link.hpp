// Links and their VFs: VF settings through IFLA_VFINFO_LIST (encoded with
// libmnl, byte-compatible with "ip link set ... vf N ...") and link/VF state
// decoded with libnl, which models VF info with all its kernel variants.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vfsteer/common/result.hpp"
#include "vfsteer/netlink/message.hpp"

namespace vfsteer::netlink::link {

enum class VfLinkState : uint32_t { kAuto = 0, kEnable = 1, kDisable = 2 };

struct VfVlan {
  uint16_t id = 0;       // 0 clears the port VLAN
  uint8_t qos = 0;
  uint16_t protocol = 0x8100;  // host order: 0x8100 or 0x88a8
  bool operator==(const VfVlan&) const = default;
};

struct VfRate {
  uint32_t minMbps = 0;
  uint32_t maxMbps = 0;
  bool operator==(const VfRate&) const = default;
};

// The settings of one VF; unset fields are not sent (the kernel keeps them).
struct VfConfig {
  uint32_t vf = 0;
  std::optional<std::array<uint8_t, 6>> mac;
  std::optional<VfVlan> vlan;
  std::optional<VfRate> rate;
  std::optional<bool> spoofchk;
  std::optional<bool> trust;
  std::optional<VfLinkState> linkState;
  bool operator==(const VfConfig&) const = default;
};

// What the kernel reports for one VF (every field present).
struct VfInfo {
  uint32_t vf = 0;
  std::array<uint8_t, 6> mac{};
  VfVlan vlan;
  VfRate rate;
  bool spoofchk = false;
  bool trust = false;
  VfLinkState linkState = VfLinkState::kAuto;
  bool operator==(const VfInfo&) const = default;
};

struct LinkInfo {
  int ifindex = 0;
  std::string name;
  std::string kind;               // "veth", "vxlan"...; empty for hardware netdevs
  std::string physPortName;       // "p0", "pf0vf3" (switchdev representors)
  std::vector<uint8_t> physSwitchId;
  bool up = false;
  uint32_t mtu = 0;
  std::vector<VfInfo> vfs;
  // XDP programs attached, by mode (0 = none); from IFLA_XDP.
  uint32_t xdpDriverProgId = 0;
  uint32_t xdpGenericProgId = 0;
  uint32_t xdpOffloadProgId = 0;
};

// ip link set dev DEV vf N [mac M] [vlan V [qos Q] [proto 802.1ad]]
//   [spoofchk on|off] [trust on|off] [state S] [max_tx_rate X min_tx_rate Y]
Message encodeSetVf(int ifindex, const VfConfig& vf);
// ip link show dev DEV (with VF info, without statistics); by name, as ip does
Message encodeGetLink(const std::string& name);
// The same by ifindex.
Message encodeGetLink(int ifindex);
// ip link show (all links, with VF info)
Message encodeDumpLinks();

Result<LinkInfo> decodeLink(const RawMessage& msg);

// The attribute space of link messages, for naming the attribute an
// extended ack points at.
const AttrPolicy& attrPolicy();

// ip link set dev DEV xdpoffload|xdpdrv|xdpgeneric fd FD   (fd -1: off)
// With `expectedFd` the kernel replaces (or removes) only that program
// (IFLA_XDP_EXPECTED_FD); without it, it attaches only where that mode has
// no program (XDP_FLAGS_UPDATE_IF_NOEXIST). Either way a program someone
// else attached is never overwritten.
enum class XdpMode { kGeneric, kDriver, kOffload };
Message encodeSetXdp(int ifindex, int fd, XdpMode mode, std::optional<int> expectedFd = std::nullopt);

// ip link add NAME [address MAC] type veth peer name PEER [address MAC] [netns NS]
// `peerNetnsFd` >= 0 creates the peer directly in that namespace.
struct VethSpec {
  std::string name;
  std::string peer;
  std::optional<std::array<uint8_t, 6>> mac;
  std::optional<std::array<uint8_t, 6>> peerMac;
  int peerNetnsFd = -1;
};
Message encodeCreateVeth(const VethSpec& spec);
// ip link add NAME type vxlan dstport PORT external
// ip link add NAME type geneve dstport PORT external
// A tunnel device in metadata ("external") mode: decapsulated packets
// arrive on it with the tunnel keys that flower's enc_* keys match.
enum class TunnelKind { kVxlan, kGeneve };
Message encodeCreateTunnel(TunnelKind kind, const std::string& name, uint16_t port);

// ip link set dev DEV up|down
Message encodeSetUp(int ifindex, bool up);
// ip link set dev DEV netns NS
Message encodeSetNetns(int ifindex, int netnsFd);
// ip link del dev DEV
Message encodeDeleteLink(int ifindex);

}  // namespace vfsteer::netlink::link
