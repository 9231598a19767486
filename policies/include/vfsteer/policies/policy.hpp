// The validated steering policy (format v1). docs/policy.md documents every
// field. A Policy that exists has passed validation: code downstream may rely
// on the invariants listed at each field. A field added here goes into
// src/policy_codec.cpp too (the bytes apply keeps of a loaded policy).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "vfsteer/policies/address.hpp"
#include "vfsteer/policies/source.hpp"
#include "vfsteer/policies/vocabulary.hpp"

namespace vfsteer::policies {

enum class EswitchMode { kLegacy, kSwitchdev };
enum class OffloadMode { kAuto, kSkipSw, kSkipHw };
enum class LinkState { kAuto, kEnable, kDisable };

std::string_view name(EswitchMode mode);
std::string_view name(OffloadMode mode);
std::string_view name(LinkState state);
std::optional<OffloadMode> parseOffloadMode(std::string_view text);

struct VfSetting {
  uint16_t vf = 0;
  std::optional<MacAddress> mac;
  std::optional<uint16_t> vlan;  // 0 clears the VF's port VLAN
  uint8_t qos = 0;
  VlanProto vlanProto = VlanProto::k8021Q;
  std::optional<bool> trust;
  std::optional<bool> spoofchk;
  std::optional<LinkState> linkState;
  std::optional<uint32_t> maxTxRateMbps;
  std::optional<uint32_t> minTxRateMbps;
  SourcePos pos;
  bool operator==(const VfSetting&) const = default;
};

struct Device {
  std::string pf;                            // netdev name of the PF / uplink
  // The network namespace the PF lives in, when the policy names one (it
  // picks among topology files of PFs of one name, e.g. several labs).
  std::optional<std::string> netns;
  EswitchMode eswitch = EswitchMode::kSwitchdev;
  bool eswitchDeclared = false;              // absent: vfsteer leaves the mode as it is
  SourcePos eswitchPos;
  std::string profile = "auto";              // "auto" or a profile name
  SourcePos profilePos;                      // where it was written (the device's position when absent)
  uint16_t vfCount = 0;
  bool vfsDeclared = false;                  // absent: vfsteer leaves sriov_numvfs alone
  std::vector<VfSetting> vfSettings;         // unique vf, each < vfCount
  // For NICs that offload BPF: where the demux program goes. Absent: the
  // profile's choice (cls_bpf when it has it).
  enum class BpfHook { kClsBpf, kXdp };
  std::optional<BpfHook> bpfOffload;
  SourcePos bpfOffloadPos;
  // false (host_xdp: off): the host datapath runs in tc only, whatever the
  // profile allows (e.g. to watch every packet with tcpdump on a representor).
  bool hostXdp = true;
  // true (host_classifier: auto): a small policy's host tables run as code
  // made for them (a specialized classifier); false (tables): always the
  // tuple-space tables, e.g. to compare the two.
  bool hostSpecialize = true;
  SourcePos pos;
  bool operator==(const Device&) const = default;
};

// The side a packet enters from: the uplink (the wire) or one VF.
struct Port {
  enum class Kind { kUplink, kVf } kind = Kind::kUplink;
  uint16_t vf = 0;  // meaningful when kind == kVf
  std::string str() const { return kind == Kind::kUplink ? "uplink" : "vf" + std::to_string(vf); }
  auto operator<=>(const Port&) const = default;
};

struct VlanMatch {
  std::optional<uint16_t> id;    // 1..4094
  std::optional<uint8_t> prio;   // 0..7
  VlanProto proto = VlanProto::k8021Q;
  auto operator<=>(const VlanMatch&) const = default;
};

struct TunnelMatch {
  TunnelType type = TunnelType::kVxlan;
  std::optional<uint32_t> vni;   // 24 bits
  uint16_t dstPort = 4789;       // UDP port, defaults per type
  std::optional<IpPrefix> srcIp; // outer addresses
  std::optional<IpPrefix> dstIp;
  auto operator<=>(const TunnelMatch&) const = default;
};

// Which IP versions a match applies to. A chain that names an L4 key but no
// address or ethertype matches both (and needs one NIC rule per version).
enum class IpVersion { kNone, kV4, kV6, kAny };

// One key of a match as the policy writes it: "dst_port" 80, "vlan.id"
// 100, "ip_proto" "tcp" (nested keys joined by '.').
struct MatchField {
  std::string key;
  std::variant<uint64_t, std::string> value;
  bool operator==(const MatchField&) const = default;
};

// Match keys. When `tunnel` is set, the L2..L4 keys describe the packet
// inside the tunnel; otherwise the packet as it arrives.
struct Match {
  Port from;
  std::optional<MacMatch> srcMac;
  std::optional<MacMatch> dstMac;
  std::optional<uint16_t> ethertype;  // only for non-IP ethertypes; IP is implied by IpVersion
  std::optional<VlanMatch> vlan;      // outer tag
  std::optional<VlanMatch> cvlan;     // inner tag (QinQ); requires vlan
  // vlan: none — untagged frames only (never with vlan or cvlan; needs an
  // ethertype or IP key, by which flower tells untagged frames apart).
  bool untagged = false;
  IpVersion ipVersion = IpVersion::kNone;
  std::optional<IpPrefix> srcIp;
  std::optional<IpPrefix> dstIp;
  std::optional<uint8_t> ipProto;
  std::optional<uint16_t> srcPort;
  std::optional<uint16_t> dstPort;
  std::optional<TunnelMatch> tunnel;
  SourcePos pos;
  bool operator==(const Match&) const = default;

  // The keys this match uses, in the profile vocabulary.
  std::vector<MatchKey> keys() const;
  // "vlan 100, tcp, dst 10.0.0.0/24, dport 80"; "any" when it has no keys.
  std::string describe() const;
  // The same keys as fields, sorted by key (without `from`, which reports
  // carry on its own).
  std::vector<MatchField> fields() const;
  // The ethertype a classifier's rule for version `l3` (kV4, kV6 or kNone)
  // keys first, as tc's "protocol": the outer tag's TPID, else the IP
  // version's, else the non-IP ethertype, else ETH_P_ALL. The flower
  // encoder derives the same from its encoded match (a test holds them equal).
  uint16_t tcProtocol(IpVersion l3) const;
  int vlanDepth() const { return (vlan ? 1 : 0) + (cvlan ? 1 : 0); }
};

struct Target {
  TargetKind kind = TargetKind::kHost;
  uint16_t index = 0;  // VF index or queue number
  std::string str() const;
  auto operator<=>(const Target&) const = default;
};

struct VlanPopStage {
  bool operator==(const VlanPopStage&) const = default;
};
struct VlanPushStage {
  uint16_t id = 0;
  uint8_t prio = 0;
  VlanProto proto = VlanProto::k8021Q;
  bool operator==(const VlanPushStage&) const = default;
};
struct TunnelDecapStage {
  bool operator==(const TunnelDecapStage&) const = default;
};
struct QueueStage {
  uint16_t queue = 0;
  bool operator==(const QueueStage&) const = default;
};
struct PoliceStage {
  uint64_t rateBitsPerSec = 0;
  uint32_t burstBytes = 0;
  bool operator==(const PoliceStage&) const = default;
};
struct MarkStage {
  uint32_t mark = 0;
  bool operator==(const MarkStage&) const = default;
};
struct MirrorStage {
  Target to;
  bool operator==(const MirrorStage&) const = default;
};
struct DropStage {
  bool operator==(const DropStage&) const = default;
};
struct BpfStage {
  std::string object;   // path to an ELF object, as written in the policy
  std::string program;  // program (function) name inside it
  bool operator==(const BpfStage&) const = default;
};
struct DeliverStage {
  Target to;
  bool operator==(const DeliverStage&) const = default;
};

using StageOp = std::variant<VlanPopStage, VlanPushStage, TunnelDecapStage, QueueStage,
                             PoliceStage, MarkStage, MirrorStage, DropStage, BpfStage,
                             DeliverStage>;

struct Stage {
  StageOp op;
  SourcePos pos;
  StageKind kind() const;
  std::string describe() const;  // "vlan_push 100", "deliver vf1", ...
  bool operator==(const Stage&) const = default;
};

// Invariants: stages is non-empty, the last stage is deliver or drop and
// only the last one is; vlan_pop never pops a tag that is not there;
// tunnel_decap appears at most once and only when the match has a tunnel.
struct Chain {
  std::string name;
  uint32_t priority = 0;  // 1..9999, unique per ingress side
  OffloadMode offload = OffloadMode::kAuto;
  Match match;
  std::vector<Stage> stages;
  SourcePos pos;
  bool operator==(const Chain&) const = default;
};

struct Policy {
  int version = 1;
  std::string file;  // where it was loaded from
  Device device;
  std::vector<Chain> chains;

  const Chain* findChain(std::string_view name) const;
  bool operator==(const Policy&) const = default;
};

inline constexpr uint32_t kMaxChainPriority = 9999;

}  // namespace vfsteer::policies
