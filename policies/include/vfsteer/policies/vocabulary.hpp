// Names shared by policies and profiles: stage kinds, match keys, tunnel
// types, delivery targets. A profile states capabilities in this vocabulary
// and a policy is written in it, so the planner can compare the two.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

namespace vfsteer::policies {

enum class StageKind {
  kVlanPop,
  kVlanPush,
  kTunnelDecap,
  kQueue,
  kPolice,
  kMark,
  kMirror,
  kDrop,
  kBpf,
  kDeliver,
};
inline constexpr std::array kAllStageKinds = {
    StageKind::kVlanPop, StageKind::kVlanPush, StageKind::kTunnelDecap, StageKind::kQueue,
    StageKind::kPolice,  StageKind::kMark,     StageKind::kMirror,      StageKind::kDrop,
    StageKind::kBpf,     StageKind::kDeliver};

// Keys a chain can match on. `from` is the side the packet enters from.
enum class MatchKey {
  kFrom,
  kSrcMac,
  kDstMac,
  kEthertype,
  kVlan,
  kCvlan,
  kSrcIp4,
  kDstIp4,
  kSrcIp6,
  kDstIp6,
  kIpProto,
  kSrcPort,
  kDstPort,
  kTunnel,
};
inline constexpr std::array kAllMatchKeys = {
    MatchKey::kFrom,   MatchKey::kSrcMac,  MatchKey::kDstMac, MatchKey::kEthertype,
    MatchKey::kVlan,   MatchKey::kCvlan,   MatchKey::kSrcIp4, MatchKey::kDstIp4,
    MatchKey::kSrcIp6, MatchKey::kDstIp6,  MatchKey::kIpProto, MatchKey::kSrcPort,
    MatchKey::kDstPort, MatchKey::kTunnel};

enum class TunnelType { kVxlan, kGeneve };
inline constexpr std::array kAllTunnelTypes = {TunnelType::kVxlan, TunnelType::kGeneve};

// Where a deliver or mirror stage sends the packet.
enum class TargetKind { kVf, kQueue, kHost, kUplink };
inline constexpr std::array kAllTargetKinds = {TargetKind::kVf, TargetKind::kQueue,
                                               TargetKind::kHost, TargetKind::kUplink};

enum class VlanProto { k8021Q, k8021AD };

std::string_view name(StageKind kind);
std::string_view name(MatchKey key);
std::string_view name(TunnelType type);
std::string_view name(TargetKind kind);
std::string_view name(VlanProto proto);

std::optional<StageKind> parseStageKind(std::string_view text);
std::optional<MatchKey> parseMatchKey(std::string_view text);
std::optional<TunnelType> parseTunnelType(std::string_view text);
std::optional<TargetKind> parseTargetKind(std::string_view text);

// The words a policy may use for an IP protocol (ip_proto: tcp), and the
// word for a number that has one (reports, tc commands).
inline constexpr std::pair<const char*, uint8_t> kIpProtocolNames[] = {
    {"icmp", 1}, {"tcp", 6}, {"udp", 17}, {"gre", 47}, {"icmpv6", 58}, {"sctp", 132}};
std::optional<std::string_view> ipProtocolName(uint8_t number);

// The same for ethertypes (ethertype: arp).
inline constexpr std::pair<const char*, uint16_t> kEthertypeNames[] = {
    {"ipv4", 0x0800}, {"ipv6", 0x86dd}, {"arp", 0x0806}, {"lldp", 0x88cc}};
std::optional<std::string_view> ethertypeName(uint16_t number);

// The UDP port each tunnel type uses unless the policy says otherwise (IANA).
inline constexpr uint16_t defaultTunnelPort(TunnelType type) {
  return type == TunnelType::kVxlan ? 4789 : 6081;
}

}  // namespace vfsteer::policies
