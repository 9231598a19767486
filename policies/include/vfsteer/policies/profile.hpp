// A NIC capability profile: what one NIC family can do in hardware, stated as
// data (profiles/*.yaml) in the policy vocabulary. The planner reads it; a
// probe of the live device may narrow it (never widen it).
#pragma once

#include <array>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "vfsteer/policies/source.hpp"
#include "vfsteer/policies/vocabulary.hpp"

namespace vfsteer::policies {

// What an engine u32 filter (u32_layout.hpp) or ntuple flow rule
// (ntuple_layout.hpp) checks: such a profile claims no other match key.
inline constexpr std::array kU32MatchKeys = {MatchKey::kSrcIp4, MatchKey::kDstIp4, MatchKey::kIpProto,
                                             MatchKey::kSrcPort, MatchKey::kDstPort};

// How hardware rules are expressed to the kernel.
enum class NicEngine {
  kNone,    // no hardware classification (software-only devices such as veth)
  kFlower,  // tc flower filters with skip_sw
  kBpf,     // one offloaded BPF program (cls_bpf skip_sw or XDP offload)
  kU32,     // tc u32 filters with skip_sw on the PF (ixgbe's flow director)
  kNtuple,  // ethtool flow rules (RXNFC) on the PF, at locations vfsteer owns
};
std::string_view name(NicEngine engine);

// The order in which the eswitch mode and the VFs must be set up.
enum class ProvisionOrder {
  kVfsFirst,      // create VFs, then change the eswitch mode
  kEswitchFirst,  // change the eswitch mode, then create VFs
};
std::string_view name(ProvisionOrder order);

// Which kernel interface sets VF rate limits in each eswitch mode.
enum class RateApi { kRtnetlink, kDevlink, kNone };
std::string_view name(RateApi api);

// How the host datapath may run in XDP on this device's representors:
// kNative in the driver (before an skb exists; redirect targets must take
// XDP frames), kGeneric after the skb is built, kNone not at all (tc only).
enum class HostXdp { kNone, kGeneric, kNative };
std::string_view name(HostXdp mode);

struct Profile {
  std::string name;
  std::string description;
  std::vector<std::string> drivers;  // kernel driver names that map to this profile

  NicEngine engine = NicEngine::kNone;
  std::set<MatchKey> matchKeys;      // keys the engine can match in hardware
  std::set<StageKind> stages;        // stages it can execute in hardware
  std::set<TargetKind> targets;      // deliver/mirror targets of traffic from the wire
  // The targets of traffic VFs send (rules on VF representors), when they
  // differ (ice sends a VF's traffic to the uplink only); unset: `targets`.
  std::optional<std::set<TargetKind>> vfSideTargets;
  std::set<TunnelType> tunnels;      // tunnel types it can match and decap
  int vlanDepth = 0;                 // tags it can match per packet, and pop or push per rule
  // IP protocols whose L4 ports it matches (empty: every protocol with ports).
  std::set<uint8_t> l4PortProtocols;
  // IP versions it classifies (empty: 4 and 6); ixgbe's u32 offload takes
  // IPv4 only.
  std::set<int> ipVersions;
  // IP protocols it matches at all, with or without ports (empty: any);
  // ixgbe's parse graph knows TCP and UDP only.
  std::set<uint8_t> ipProtocols;
  // Every hardware rule must match the same fields with the same masks: a
  // flow director keeps one input mask for all its perfect filters (ixgbe
  // refuses a rule of another mask).
  bool sharedMask = false;
  // One mask per IP protocol instead (i40e: one input set per flow type,
  // TCP4, UDP4, ...).
  bool maskPerProtocol = false;
  // Each field is matched whole or not at all: an address as /32, no
  // prefixes (i40e_check_fdir_input_set()).
  bool wholeFields = false;
  // Every hardware rule names its IP protocol (i40e: a rule without one is
  // of flow type "IPv4 other" and takes no TCP, UDP or SCTP packet).
  bool ruleNeedsProtocol = false;
  // u32: hash tables a rule may link to (ixgbe: 9, IXGBE_MAX_LINK_HANDLE
  // - 1); each distinct IP match of port rules takes one. 0 = not stated.
  int u32LinkTables = 0;
  // ntuple: flow rule locations 0..flowRuleLocations-1 (ixgbe: 2046,
  // (1024 << fdir_pballoc) - 2 with the default buffer). 0 = not stated.
  int flowRuleLocations = 0;
  // Tunnel matches need the outer destination IP, exactly (nfp).
  bool tunnelNeedsOuterDst = false;
  // What a claim needs that vfsteer cannot see (hardware generation,
  // firmware, kernel version), by the claim's word: a stage kind, a match
  // key or a tunnel type. `plan` names it for chains that use the claim
  // (looked up by the vocabulary's string_views, for every chain).
  std::map<std::string, std::string, std::less<>> conditions;
  // After a hardware prefix, a hardware miss resumes in a software tc chain
  // with the packet as the prefix left it (mlx5 "chain restore").
  bool missToSoftware = false;
  // A hardware rule can hand a matched, unmodified packet to the host.
  bool trapToHost = false;
  // Hardware rules can match traffic sent by VFs (rules on VF representors).
  bool vfSideRules = false;
  int ruleBudget = 0;                // hardware rules, 0 = not stated
  // The driver reports each rule's packets and bytes (tc's stats); ice
  // does not, and `report` must not show its zeros as counts.
  bool ruleCounters = true;
  // The tc priorities it accepts per chain: 1..tcPriorities (mlx5 without
  // firmware ignore_flow_level: 16). vfsteer then packs its NIC rules into
  // that range, chains that cannot overlap sharing a priority; 0 = any
  // priority (vfsteer's usual layout, one priority per chain). At most
  // 9999, below the priorities of that layout.
  int tcPriorities = 0;

  bool xdpOffload = false;           // XDP programs in offload mode
  bool clsBpfOffload = false;        // cls_bpf filters with skip_sw

  HostXdp hostXdp = HostXdp::kNone;  // the host datapath's XDP entry on representors

  // The NIC has a switchdev mode (representors); ixgbe has not.
  bool switchdev = true;
  ProvisionOrder provisionOrder = ProvisionOrder::kVfsFirst;
  bool eswitchChangeWithVfs = true;  // the mode can change while VFs exist
  RateApi rateApiLegacy = RateApi::kRtnetlink;
  RateApi rateApiSwitchdev = RateApi::kRtnetlink;

  // Packet metadata the driver hands to XDP programs through the XDP RX
  // metadata kfuncs (its xdp_metadata_ops), on the PF's own netdev. What
  // the kernel really offers is probed (`vfsteer metadata show`).
  bool rxHash = false;
  bool rxTimestamp = false;
  bool rxVlanTag = false;
  // No kfunc reads the checksum status (Linux 6.12): described, never probed.
  bool rxChecksum = false;

  std::string file;  // where it was loaded from
  SourcePos pos;

  bool canMatch(MatchKey key) const { return matchKeys.contains(key); }
  bool canRun(StageKind kind) const { return stages.contains(kind); }
  bool canReach(TargetKind kind) const { return targets.contains(kind); }
  bool canReachFromVf(TargetKind kind) const { return vfSideTargets ? vfSideTargets->contains(kind) : canReach(kind); }
  bool canMatchPortsOf(uint8_t ipProto) const { return l4PortProtocols.empty() || l4PortProtocols.contains(ipProto); }
  bool canMatchProtocol(uint8_t ipProto) const { return ipProtocols.empty() || ipProtocols.contains(ipProto); }
  bool canMatchIpVersion(int version) const { return ipVersions.empty() || ipVersions.contains(version); }
  bool canTunnel(TunnelType type) const { return tunnels.contains(type); }
};

}  // namespace vfsteer::policies
