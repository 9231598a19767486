// The Plan: the planner's only output and the single input of everything that
// programs the kernel. It says, per chain, which stages run in the NIC and
// which on the host, how the NIC hands the packet over, and why.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vfsteer/demux/ntuple_layout.hpp"
#include "vfsteer/demux/u32_layout.hpp"
#include "vfsteer/policies/policy.hpp"
#include "vfsteer/policies/profile.hpp"

namespace vfsteer::demux {

using policies::IpVersion;
using policies::OffloadMode;
using policies::Port;

enum class Placement { kNic, kHost };
std::string_view name(Placement placement);

// How a chain's packets get from the NIC to the host.
enum class Handover {
  kNone,      // the whole chain runs in the NIC; the host never sees these packets
  kContinue,  // NIC runs [0, k) then "goto chain"; the host resumes at stage k in that tc chain
  kTrap,      // NIC only demuxes and traps the unmodified packet; the host runs every stage
  kHostOnly,  // no NIC rule at all; the host classifies and runs every stage
};
std::string_view name(Handover handover);

struct StagePlan {
  policies::StageKind kind;
  std::string description;  // "vlan_pop", "deliver vf0"
  Placement where = Placement::kHost;
  // For a NIC stage: empty. For a host stage: why it is not in the NIC.
  std::string reason;
};

struct ChainPlan {
  std::string name;
  uint32_t priority = 0;
  Port from;
  OffloadMode mode = OffloadMode::kAuto;
  size_t split = 0;  // stages [0, split) run in the NIC, [split, n) on the host
  Handover handover = Handover::kHostOnly;
  bool demuxInNic = false;  // a NIC rule matches this chain's packets
  // Why the NIC stopped at `split` (empty when the whole chain is in the NIC).
  std::string reason;
  std::vector<StagePlan> stages;
  uint32_t continueTcChain = 0;  // meaningful for kContinue
  // The profile's conditions for the claims the NIC part uses ("police:
  // ConnectX-6 Dx or later ..."): what must hold for the plan to be true.
  std::vector<std::string> conditions;
};

// How a NIC rule ends.
enum class NicExit {
  kTerminal,  // its last action is the chain's deliver or drop
  kGotoChain, // "goto chain N": continue in software (kContinue)
  kTrap,      // hand the packet to the host unchanged (kTrap)
};

// The handle of a rule alone at its tc priority: the one the kernel gives
// the first filter of a priority, so that rules installed before handles
// were chosen are the same objects.
inline constexpr uint32_t kSoleRuleHandle = 1;

// One hardware rule. A chain that matches both IPv4 and IPv6 gets two rules,
// because tc keys a filter's priority to one protocol.
struct NicRule {
  size_t chain = 0;       // index into Plan::chains and Policy::chains
  Port from;              // attached to the uplink or to that VF's representor
  IpVersion l3 = IpVersion::kNone;  // kV4, kV6 or kNone (not IP-specific)
  uint16_t tcPriority = 0;
  // The flower handle: rules that share a tc priority (a profile priority
  // range) differ by it. Engine u32: the rule's u32 handle (u32_layout.hpp).
  uint32_t tcHandle = kSoleRuleHandle;
  uint32_t location = 0;  // engine ntuple: the flow rule's location (ntuple_layout.hpp)
  size_t stageCount = 0;  // stages [0, stageCount) are this rule's actions
  NicExit exit = NicExit::kTerminal;
  uint32_t gotoTcChain = 0;  // for kGotoChain
};

// How a packet reaches a host rule.
enum class HostEntry {
  kClassify,      // the host datapath classifies it (after a NIC miss or trap)
  kContinuation,  // it arrives in a dedicated tc chain after the NIC prefix
};

struct HostRule {
  size_t chain = 0;
  Port from;
  uint32_t priority = 0;
  size_t startStage = 0;
  HostEntry entry = HostEntry::kClassify;
  uint32_t tcChain = 0;  // for kContinuation
};

struct Diagnostic {
  std::string chain;  // empty for policy-wide problems
  std::string message;
  policies::SourcePos pos;
  bool operator==(const Diagnostic&) const = default;
};

struct Plan {
  std::string profile;
  policies::NicEngine engine = policies::NicEngine::kNone;
  std::vector<ChainPlan> chains;  // same order as Policy::chains
  std::vector<NicRule> nicRules;  // in match order per side (priority, then IPv4 before IPv6)
  std::vector<HostRule> hostRules;
  std::vector<U32Link> u32Links;  // engine u32: the tables port rules link into
  std::vector<Diagnostic> errors;  // non-empty: the plan must not be applied

  bool ok() const { return errors.empty(); }
};

}  // namespace vfsteer::demux
