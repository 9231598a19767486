// The NIC's RX flow classification rules, as `ethtool -n` lists them.
// ethtool's RXNFC interface is an ioctl (SIOCETHTOOL): up to Linux 6.12 no
// ethtool netlink command lists or writes flow rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vfsteer/common/result.hpp"

namespace vfsteer::netlink::rxnfc {

// One IPv4 flow rule as ethtool carries it (struct ethtool_rx_flow_spec):
// `ethtool -N DEV flow-type tcp4|udp4|ip4 ... action|vf ... loc L`.
struct FlowRule {
  enum class Type : uint8_t { kTcp4, kUdp4, kIp4 };  // TCP_V4_FLOW, UDP_V4_FLOW, IP_USER_FLOW
  Type type = Type::kIp4;
  // Values and masks in network byte order; a set mask bit compares that
  // bit (ethtool's "m" option names the bits to ignore instead).
  uint32_t srcIp = 0, srcIpMask = 0, dstIp = 0, dstIpMask = 0;
  uint16_t srcPort = 0, srcPortMask = 0, dstPort = 0, dstPortMask = 0;  // kTcp4, kUdp4
  uint8_t proto = 0, protoMask = 0;                                     // kIp4
  // A match is dropped, or goes to queue `queue` of the PF or of VF `vf`.
  bool drop = false;
  std::optional<uint16_t> vf;
  uint32_t queue = 0;
  uint32_t location = 0;
  bool operator==(const FlowRule&) const = default;
};

// The ETHTOOL_SRXCLSRLINS / ETHTOOL_SRXCLSRLDEL requests (struct
// ethtool_rxnfc), as `ethtool -N` sends them; what the kernel does not read
// (the `data` word, padding) is zero.
std::vector<uint8_t> encodeInsert(const FlowRule& rule);
std::vector<uint8_t> encodeDelete(uint32_t location);
// An ETHTOOL_GRXCLSRULE answer; flow types other than those above are an
// error naming the type.
Result<FlowRule> decodeRule(const std::vector<uint8_t>& rxnfc);

// The rule as `ethtool -N DEV` takes it: "flow-type tcp4 dst-ip 10.0.0.0 m
// 0.0.0.255 dst-port 80 action -1 loc 5" (ethtool's masks name the bits
// to ignore; fields not matched are left out).
std::string ethtoolArgs(const FlowRule& rule);

// The rule at `location` of `ifname` (ETHTOOL_GRXCLSRULE): nothing when
// no rule is there (ENOENT).
Result<std::optional<FlowRule>> readRule(int fd, const std::string& ifname, uint32_t location);
// ETHTOOL_SRXCLSRLINS: drivers write a rule at its location, replacing the
// one there (ixgbe, i40e). ETHTOOL_SRXCLSRLDEL: a rule not there is
// kNotFound. Errors carry the driver's errno: ethtool's ioctl has no words.
Status insertRule(int fd, const std::string& ifname, const FlowRule& rule);
Status deleteRule(int fd, const std::string& ifname, uint32_t location);

// The locations of the flow rules the driver of `ifname` reports
// (ETHTOOL_GRXCLSRLCNT, then ETHTOOL_GRXCLSRLALL), asked through `fd`: a
// socket of the network namespace the device is in. Empty when the driver
// keeps no flow rules (EOPNOTSUPP). On ixgbe the list holds every flow
// director filter, tc u32's included.
Result<std::vector<uint32_t>> ruleLocations(int fd, const std::string& ifname);

}  // namespace vfsteer::netlink::rxnfc
