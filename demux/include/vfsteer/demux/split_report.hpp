// The split report: what `vfsteer plan` shows and what an apply records for
// `vfsteer report` — per chain, where each stage runs and why, the NIC rules
// and how the host takes over. Built from a Plan (pure); the engine adds what
// only applying decides (the device of each NIC rule, the host hook).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vfsteer/demux/plan.hpp"

namespace vfsteer::demux {

struct SplitReport {
  struct Stage {
    policies::StageKind kind = policies::StageKind::kDrop;
    std::string description;
    Placement where = Placement::kHost;
    std::string reason;
    bool operator==(const Stage&) const = default;
  };
  struct NicRuleView {
    uint16_t tcPriority = 0;
    uint32_t tcHandle = kSoleRuleHandle;
    uint32_t location = 0;  // engine ntuple: the flow rule's location
    policies::IpVersion l3 = policies::IpVersion::kNone;
    uint16_t tcProtocol = 0x0003;  // what tc shows as the rule's protocol
    size_t stages = 0;
    NicExit exit = NicExit::kTerminal;
    uint32_t gotoTcChain = 0;  // for kGotoChain
    std::string device;        // known once applied
    bool operator==(const NicRuleView&) const = default;
  };
  struct HostView {
    HostEntry entry = HostEntry::kClassify;
    size_t startStage = 0;
    uint32_t tcChain = 0;  // for kContinuation
    bool operator==(const HostView&) const = default;
  };
  struct Chain {
    std::string name;
    uint32_t priority = 0;
    std::string from;
    policies::OffloadMode mode = policies::OffloadMode::kAuto;
    std::string match;  // in words
    std::vector<policies::MatchField> matchFields;
    bool demuxInNic = false;
    size_t split = 0;
    Handover handover = Handover::kHostOnly;
    std::string reason;
    std::vector<std::string> conditions;  // ChainPlan::conditions
    std::vector<Stage> stages;
    std::vector<NicRuleView> nicRules;
    std::optional<HostView> host;
    // Known once applied: where the host runs the chain ("xdp" or "tc") and,
    // for tc, why not XDP.
    std::string hostHook;
    std::string hostHookReason;
    // For a chain whose bpf stages read vfsteer's XDP metadata: who
    // supplies it ("supplied by ..."), or why nobody does ("not supplied: ...").
    std::string rxMetadata;
    bool operator==(const Chain&) const = default;
  };

  std::string policy;  // the policy file
  std::string profile;
  policies::NicEngine engine = policies::NicEngine::kNone;
  std::vector<Diagnostic> errors;
  std::vector<Chain> chains;  // in policy order

  bool ok() const { return errors.empty(); }
  bool operator==(const SplitReport&) const = default;
};

SplitReport splitReport(const policies::Policy& policy, const Plan& plan);

}  // namespace vfsteer::demux
