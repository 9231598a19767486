#include "vfsteer/policies/vocabulary.hpp"

#include <utility>

#include "vfsteer/policies/policy.hpp"
#include "vfsteer/policies/profile.hpp"

namespace vfsteer::policies {
namespace {

// One table per enum: the spelling used in YAML, JSON and messages.
template <class E, size_t N>
using NameTable = std::array<std::pair<E, std::string_view>, N>;

constexpr NameTable<StageKind, 10> kStageNames{{
    {StageKind::kVlanPop, "vlan_pop"},
    {StageKind::kVlanPush, "vlan_push"},
    {StageKind::kTunnelDecap, "tunnel_decap"},
    {StageKind::kQueue, "queue"},
    {StageKind::kPolice, "police"},
    {StageKind::kMark, "mark"},
    {StageKind::kMirror, "mirror"},
    {StageKind::kDrop, "drop"},
    {StageKind::kBpf, "bpf"},
    {StageKind::kDeliver, "deliver"},
}};

constexpr NameTable<MatchKey, 14> kMatchKeyNames{{
    {MatchKey::kFrom, "from"},
    {MatchKey::kSrcMac, "src_mac"},
    {MatchKey::kDstMac, "dst_mac"},
    {MatchKey::kEthertype, "ethertype"},
    {MatchKey::kVlan, "vlan"},
    {MatchKey::kCvlan, "cvlan"},
    {MatchKey::kSrcIp4, "src_ip4"},
    {MatchKey::kDstIp4, "dst_ip4"},
    {MatchKey::kSrcIp6, "src_ip6"},
    {MatchKey::kDstIp6, "dst_ip6"},
    {MatchKey::kIpProto, "ip_proto"},
    {MatchKey::kSrcPort, "src_port"},
    {MatchKey::kDstPort, "dst_port"},
    {MatchKey::kTunnel, "tunnel"},
}};

constexpr NameTable<TunnelType, 2> kTunnelNames{{
    {TunnelType::kVxlan, "vxlan"},
    {TunnelType::kGeneve, "geneve"},
}};

constexpr NameTable<TargetKind, 4> kTargetNames{{
    {TargetKind::kVf, "vf"},
    {TargetKind::kQueue, "queue"},
    {TargetKind::kHost, "host"},
    {TargetKind::kUplink, "uplink"},
}};

template <class E, size_t N>
std::string_view lookupName(const NameTable<E, N>& table, E value) {
  for (const auto& [e, text] : table)
    if (e == value) return text;
  return "?";
}

template <class E, size_t N>
std::optional<E> lookupValue(const NameTable<E, N>& table, std::string_view text) {
  for (const auto& [e, t] : table)
    if (t == text) return e;
  return std::nullopt;
}

}  // namespace

std::string_view name(StageKind kind) { return lookupName(kStageNames, kind); }
std::string_view name(MatchKey key) { return lookupName(kMatchKeyNames, key); }
std::string_view name(TunnelType type) { return lookupName(kTunnelNames, type); }
std::string_view name(TargetKind kind) { return lookupName(kTargetNames, kind); }
std::string_view name(VlanProto proto) {
  return proto == VlanProto::k8021Q ? "802.1q" : "802.1ad";
}

namespace {
template <class Number, size_t N>
std::optional<std::string_view> wordFor(const std::pair<const char*, Number> (&words)[N], Number number) {
  for (const auto& [word, value] : words)
    if (value == number) return word;
  return std::nullopt;
}
}  // namespace

std::optional<std::string_view> ipProtocolName(uint8_t number) { return wordFor(kIpProtocolNames, number); }
std::optional<std::string_view> ethertypeName(uint16_t number) { return wordFor(kEthertypeNames, number); }

std::optional<StageKind> parseStageKind(std::string_view text) {
  return lookupValue(kStageNames, text);
}
std::optional<MatchKey> parseMatchKey(std::string_view text) {
  return lookupValue(kMatchKeyNames, text);
}
std::optional<TunnelType> parseTunnelType(std::string_view text) {
  return lookupValue(kTunnelNames, text);
}
std::optional<TargetKind> parseTargetKind(std::string_view text) {
  return lookupValue(kTargetNames, text);
}

std::string_view name(EswitchMode mode) {
  return mode == EswitchMode::kLegacy ? "legacy" : "switchdev";
}

std::string_view name(OffloadMode mode) {
  switch (mode) {
    case OffloadMode::kAuto: return "auto";
    case OffloadMode::kSkipSw: return "skip-sw";
    case OffloadMode::kSkipHw: return "skip-hw";
  }
  return "?";
}

std::optional<OffloadMode> parseOffloadMode(std::string_view text) {
  if (text == "auto") return OffloadMode::kAuto;
  if (text == "skip-sw") return OffloadMode::kSkipSw;
  if (text == "skip-hw") return OffloadMode::kSkipHw;
  return std::nullopt;
}

std::string_view name(LinkState state) {
  switch (state) {
    case LinkState::kAuto: return "auto";
    case LinkState::kEnable: return "enable";
    case LinkState::kDisable: return "disable";
  }
  return "?";
}

std::string_view name(NicEngine engine) {
  switch (engine) {
    case NicEngine::kNone: return "none";
    case NicEngine::kFlower: return "flower";
    case NicEngine::kBpf: return "bpf";
    case NicEngine::kU32: return "u32";
    case NicEngine::kNtuple: return "ntuple";
  }
  return "?";
}

std::string_view name(ProvisionOrder order) {
  return order == ProvisionOrder::kVfsFirst ? "vfs_first" : "eswitch_first";
}

std::string_view name(HostXdp mode) {
  switch (mode) {
    case HostXdp::kNone: return "none";
    case HostXdp::kGeneric: return "generic";
    case HostXdp::kNative: return "native";
  }
  return "?";
}

std::string_view name(RateApi api) {
  switch (api) {
    case RateApi::kRtnetlink: return "rtnetlink";
    case RateApi::kDevlink: return "devlink";
    case RateApi::kNone: return "none";
  }
  return "?";
}

}  // namespace vfsteer::policies
