// What vfsteer puts in the kernel, as typed values. Each object has an
// ownership key: the identity by which vfsteer finds it again in a dump and
// by which a desired object is paired with the one the kernel holds.
//
// The same types describe both sides: `lower` builds the desired objects
// from a plan, `observe` decodes the ones the kernel holds (and decides
// there, and only there, which are vfsteer's), `reconcile` compares them.
#pragma once

#include <linux/bpf.h>

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "vfsteer/common/strong_types.hpp"
#include "vfsteer/demux/plan.hpp"
#include "vfsteer/netlink/ethtool_rxnfc.hpp"
#include "vfsteer/netlink/link.hpp"
#include "vfsteer/netlink/tc.hpp"
#include "vfsteer/policies/profile.hpp"
#include "vfsteer/representors/bpf_demux.hpp"
#include "vfsteer/representors/host_tables.hpp"

namespace vfsteer::engine {

// In the order a change set creates them (removals run the other way).
enum class Kind : uint8_t {
  kDatapath,      // the host datapath's programs and maps, pinned
  kUserProgram,   // a bpf stage's program in a slot of the datapath
  kTunnelDevice,  // vfs-vxPORT / vfs-gnPORT in external mode, for tunnel NIC rules
  kClsact,        // the clsact qdisc of a device vfsteer puts filters on
  kU32Table,      // engine u32: a table port rules go in (before the links into it)
  kU32Link,       // engine u32: a link from the root table into one (before the rules)
  kHostTables,    // the host datapath's active table generation
  kNicRule,       // a flower filter the NIC runs (skip_sw; skip_hw when emulated)
  kFlowRule,      // engine ntuple: an ethtool flow rule at a location of the PF
  kDemuxProgram,  // the NIC demux as one offloaded BPF program
  kHostEntry,     // the host datapath's cls_bpf on a port's tc ingress
  kContinuation,  // vfs_continue in the tc chain a NIC rule hands a chain over in
  kXdpEntry,      // vfs_xdp (or the port's own vfs_xdp_rx) in a port's XDP slot
};
std::string_view name(Kind kind);

struct Key {
  Key() = default;
  Key(Kind k, std::string dev = {}, uint32_t i = 0, uint16_t proto = 0)
      : kind(k), device(std::move(dev)), index(i), protocol(proto) {}
  Kind kind = Kind::kDatapath;
  std::string device;       // interface name; empty for the datapath, its tables and programs
  uint32_t index = 0;       // kNicRule, kU32*: tc priority; kFlowRule: location; kContinuation: tc chain; kUserProgram: slot
  uint16_t protocol = 0;    // kNicRule, kU32*: tc protocol (host order)
  uint32_t handle = 0;      // kNicRule: flower handle (rules may share a priority) or u32 handle; kU32*: u32 handle
  auto operator<=>(const Key&) const = default;
  std::string str() const;  // for messages
};

// ---- the objects ------------------------------------------------------------

struct Datapath {
  bool operator==(const Datapath&) const = default;
};

struct UserProgram {
  uint32_t slot = 0;
  std::string object;       // absolute path
  std::string program;
  std::string fingerprint;  // of the object file
  bool operator==(const UserProgram&) const = default;
};

struct TunnelDevice {
  std::string name;
  netlink::link::TunnelKind kind = netlink::link::TunnelKind::kVxlan;
  uint16_t port = 0;
  bool operator==(const TunnelDevice&) const = default;
};

struct Clsact {
  std::string device;
  bool operator==(const Clsact&) const = default;
};

// Engine u32's tables and the links into them (u32_rules.hpp): filters
// without actions, so without a cookie; vfsteer's by their priority and
// shape (observe).
struct U32Table {
  std::string device;
  netlink::tc::Filter filter;
};
struct U32Link {
  std::string device;
  netlink::tc::Filter filter;
};

struct HostTables {
  representors::HostTables tables;
  // Desired only: counter ids that are new to their chain (zeroed first).
  std::vector<uint32_t> freshChainIds;
};

// A flower filter (engine u32: a u32 rule) with vfsteer's cookie on every
// action. `filter.ifindex` is filled in when it is sent (a tunnel device
// may not exist before).
struct NicRule {
  std::string device;
  std::string chain;  // the policy chain it belongs to
  demux::NicExit exit = demux::NicExit::kTerminal;
  uint32_t gotoTcChain = 0;  // for kGotoChain: where the host takes over
  bool skipSw = false;  // the chain is skip-sw: a refusal fails the apply
  netlink::tc::Filter filter;
};

// Engine ntuple (ntuple_rules.hpp): an ethtool flow rule. It carries no
// mark; vfsteer's are the locations its records hold (observe).
struct FlowRule {
  std::string device;
  std::string chain;    // desired only: the policy chain it belongs to
  bool skipSw = false;  // desired only: a refusal fails the apply
  netlink::rxnfc::FlowRule rule;
};

struct DemuxProgram {
  representors::DemuxHook hook = representors::DemuxHook::kTc;
  std::string device;
  bool emulated = false;  // cls_bpf skip_hw, run in software
  std::string fingerprint;
  std::vector<std::string> chains;
  std::string skipSwChain;  // a chain it carries that is skip-sw: a refusal fails the apply
  // Desired only.
  std::vector<bpf_insn> insns;
  size_t rules = 0;
  // Observed only.
  uint32_t progId = 0;
  bool inHw = false;
};

// The entries of the host datapath: `progId` is the program the kernel
// holds there (observed); a desired entry holds the datapath's current one.
struct HostEntry {
  std::string device;
  uint32_t progId = 0;
};

struct Continuation {
  std::string device;
  uint32_t tcChain = 0;
  uint32_t chainId = 0;
  uint32_t startStage = 0;
  uint32_t progId = 0;
};

struct XdpEntry {
  std::string device;
  policies::HostXdp mode = policies::HostXdp::kGeneric;  // kGeneric or kNative
  uint32_t progId = 0;
  // vfs_xdp_rx, loaded for this port alone, instead of the shared vfs_xdp:
  // it also reads what the driver knows about each frame (RX metadata
  // kfuncs). Native mode only: the kernel binds such a program to a device.
  bool rxMetadata = false;
};

using Object = std::variant<Datapath, UserProgram, TunnelDevice, Clsact, U32Table, U32Link, HostTables, NicRule,
                            FlowRule, DemuxProgram, HostEntry, Continuation, XdpEntry>;

Key keyOf(const Object& object);
Kind kindOf(const Object& object);

// vfsteer's names for things that carry no other mark of their owner.
std::string hostFilterName(const std::string& instance);    // "vfsteer:INSTANCE"
std::string demuxFilterName(const std::string& instance);   // "vfsteer-nic:INSTANCE"
inline constexpr uint32_t kHostFilterHandle = 0x7666;       // "vf"
inline constexpr uint32_t kDemuxFilterHandle = 0x7667;

// The tc filters behind those objects (`progFd` -1 for a delete).
netlink::tc::Filter hostEntryFilter(int ifindex, int progFd, const std::string& instance);
netlink::tc::Filter continuationFilter(int ifindex, const Continuation& c, int progFd, const std::string& instance);
netlink::tc::Filter demuxFilter(int ifindex, int progFd, const std::string& instance, bool emulated);

// The 8-byte cookie on every action of vfsteer's flower rules: "vfst" and
// a hash of the instance name.
std::vector<uint8_t> ownerCookie(const std::string& instance);
// An action of a NIC rule, with that cookie.
netlink::tc::Action ownedAction(netlink::tc::ActionOp op, int32_t verdict, const std::vector<uint8_t>& cookie);

std::string_view hookName(representors::DemuxHook hook);  // "cls_bpf" / "xdp"
std::optional<representors::DemuxHook> parseHookName(std::string_view name);

// ---- the two sides ------------------------------------------------------------

// What the plan wants in the kernel.
struct DesiredState {
  std::map<Key, Object> objects;
  void add(Object o);
};

// The datapath's identity as the kernel reports it.
struct DatapathFacts {
  bool present = false;
  uint32_t ingressProgId = 0;
  uint32_t continueProgId = 0;
  uint32_t xdpProgId = 0;
  uint32_t activeGeneration = 0;
};

// What a port's XDP slots hold (program ids, 0: empty) and what the driver
// says it can do (xdp-features; nothing when the kernel does not say).
struct XdpPortFacts {
  uint32_t driverProg = 0;
  uint32_t genericProg = 0;
  uint32_t offloadProg = 0;
  std::optional<uint64_t> features;
  std::optional<uint64_t> rxMetadata;  // xdp-rx-metadata-features (Linux 6.8+)
  uint32_t vfsteerProg = 0;            // the slot's program when observe found it is vfsteer's
};

// What the kernel holds: vfsteer's objects (decided by observe), and what
// reconcile must know about everything else to leave it alone.
struct ObservedState {
  std::map<Key, Object> owned;
  std::map<std::string, IfIndex> ifindex;  // every link, by name
  DatapathFacts datapath;
  std::map<std::string, XdpPortFacts> xdp;  // ports vfsteer may put its XDP entry on
  // Per device: ingress filters (all tc chains) that are not vfsteer's, and
  // the chain-0 priorities they hold.
  std::map<std::string, size_t> foreignFilters;
  std::map<std::string, std::set<uint16_t>> foreignPriorities;
  // Per device: priorities of u32 filters that are not vfsteer's. u32's
  // tables are shared by all its priorities on a device, and ixgbe offloads
  // only the first u32 priority (root table 800:).
  std::map<std::string, std::set<uint16_t>> foreignU32;
  // Per device asked (engine u32's and ntuple's PF): the locations
  // `ethtool -n` lists, vfsteer's included. On ixgbe they are the flow
  // director's, tc u32's filters included.
  std::map<std::string, std::set<uint32_t>> flowRuleLocations;
  std::set<std::string> foreignClsact;         // a clsact vfsteer did not add
  std::set<std::string> foreignTunnelDevices;  // named like vfsteer's, not made by it
  std::set<uint32_t> userProgramSlots;         // datapath slots that hold a program
  // Program ids applyToModel makes up for what a change would load.
  uint32_t lastModelId = 0xf0000000;
};

}  // namespace vfsteer::engine
