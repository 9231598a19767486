// The reference interpreter: what a policy does to a packet, in two ways.
//  - runWhole: every chain in software, in priority order (the meaning).
//  - runSplit: as the plan deploys it — NIC rules first (executing only what
//    the profile claims), then the host per each chain's handover.
// The golden rule is runSplit(...) == runWhole(...) for every packet.
#pragma once

#include <array>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "vfsteer/demux/plan.hpp"
#include "vfsteer/policies/policy.hpp"
#include "vfsteer/policies/profile.hpp"

namespace vfsteer::demux {

struct VlanTag {
  policies::VlanProto proto = policies::VlanProto::k8021Q;
  uint16_t id = 0;
  uint8_t prio = 0;
  auto operator<=>(const VlanTag&) const = default;
};

// One Ethernet frame as the matcher sees it.
struct Frame {
  policies::MacAddress src;
  policies::MacAddress dst;
  std::vector<VlanTag> tags;  // outermost first
  uint16_t ethertype = 0x0800;  // after the tags
  std::array<uint8_t, 16> srcIp{};  // IPv4 in the first 4 bytes
  std::array<uint8_t, 16> dstIp{};
  uint8_t ipProto = 0;
  uint16_t srcPort = 0;
  uint16_t dstPort = 0;
  bool isIp4() const { return ethertype == 0x0800; }
  bool isIp6() const { return ethertype == 0x86dd; }
  auto operator<=>(const Frame&) const = default;
};

struct TunnelHeader {
  policies::TunnelType type = policies::TunnelType::kVxlan;
  uint32_t vni = 0;
  auto operator<=>(const TunnelHeader&) const = default;
};

struct Packet {
  policies::Port in;
  Frame frame;                         // the outermost frame
  std::optional<TunnelHeader> tunnel;  // set when `frame` is UDP carrying `inner`
  std::optional<Frame> inner;
  uint32_t mark = 0;
  std::optional<uint16_t> queue;
  std::vector<std::string> trace;  // user bpf stages that ran ("chain/stage")
  auto operator<=>(const Packet&) const = default;
};

// What the world decides that the policy does not: which policers find this
// packet over their rate, by (chain index, stage index).
struct Environment {
  std::set<std::pair<size_t, size_t>> policeExceeds;
};

struct Delivery {
  policies::Target to;
  Packet packet;
  bool mirror = false;
  auto operator<=>(const Delivery&) const = default;
};

struct Outcome {
  std::optional<size_t> chain;  // the chain that handled the packet; none = default path
  std::vector<Delivery> deliveries;
  bool dropped = false;
  // Set by runSplit when the plan made the NIC do something the profile
  // does not claim: a planner bug, never a valid outcome.
  std::string violation;
  bool operator==(const Outcome&) const = default;
  std::string describe() const;
};

bool matches(const policies::Match& match, const Packet& packet);

// The NIC rule that takes `packet`: of the plan's rules for its side that
// match, the one at the lowest tc priority, as the NIC orders them; none: a
// NIC miss. `tie` is another matching rule at that same priority, whose
// order against `rule` no NIC defines: a layout error.
struct NicLookup {
  const NicRule* rule = nullptr;
  const NicRule* tie = nullptr;
};
NicLookup nicLookup(const policies::Policy& policy, const Plan& plan, const Packet& packet);
inline const NicRule* nicRuleFor(const policies::Policy& policy, const Plan& plan, const Packet& packet) {
  return nicLookup(policy, plan, packet).rule;
}

Outcome runWhole(const policies::Policy& policy, const Packet& packet, const Environment& env);
Outcome runSplit(const policies::Policy& policy, const Plan& plan,
                 const policies::Profile& profile, const Packet& packet, const Environment& env);

}  // namespace vfsteer::demux
