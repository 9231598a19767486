#include "engine/objects.hpp"

#include <linux/if_ether.h>

#include <cstdio>

#include "datapath_abi.h"
#include "vfsteer/demux/tc_layout.hpp"

namespace vfsteer::engine {

namespace tc = netlink::tc;

std::string_view name(Kind kind) {
  switch (kind) {
    case Kind::kDatapath: return "datapath";
    case Kind::kUserProgram: return "bpf stage program";
    case Kind::kTunnelDevice: return "tunnel device";
    case Kind::kClsact: return "clsact";
    case Kind::kU32Table: return "u32 table";
    case Kind::kU32Link: return "u32 link";
    case Kind::kHostTables: return "host tables";
    case Kind::kNicRule: return "NIC rule";
    case Kind::kFlowRule: return "flow rule";
    case Kind::kDemuxProgram: return "NIC demux program";
    case Kind::kHostEntry: return "host entry";
    case Kind::kContinuation: return "continuation entry";
    case Kind::kXdpEntry: return "XDP entry";
  }
  return "?";
}

std::string Key::str() const {
  std::string s(name(kind));
  if (!device.empty()) s += " on " + device;
  switch (kind) {
    case Kind::kNicRule: {
      char proto[8];
      std::snprintf(proto, sizeof proto, "0x%04x", protocol);
      s += " (tc priority " + std::to_string(index) + ", protocol " + proto;
      if (handle != demux::kSoleRuleHandle) s += ", handle " + std::to_string(handle);
      s += ")";
      break;
    }
    case Kind::kU32Table:
    case Kind::kU32Link: {
      char h[16];
      std::snprintf(h, sizeof h, "%x", handle);
      s += " (tc priority " + std::to_string(index) + ", handle 0x" + h + ")";
      break;
    }
    case Kind::kFlowRule: s += " (location " + std::to_string(index) + ")"; break;
    case Kind::kContinuation: s += " (tc chain " + std::to_string(index) + ")"; break;
    case Kind::kUserProgram: s += " (slot " + std::to_string(index) + ")"; break;
    case Kind::kDemuxProgram: s += std::string(" (") + std::string(hookName(static_cast<representors::DemuxHook>(index))) + ")"; break;
    default: break;
  }
  return s;
}

namespace {

struct KeyOf {
  Key operator()(const Datapath&) const { return {Kind::kDatapath}; }
  Key operator()(const UserProgram& p) const { return {Kind::kUserProgram, "", p.slot}; }
  Key operator()(const TunnelDevice& t) const { return {Kind::kTunnelDevice, t.name}; }
  Key operator()(const Clsact& c) const { return {Kind::kClsact, c.device}; }
  Key operator()(const U32Table& t) const { return filterKey(Kind::kU32Table, t.device, t.filter); }
  Key operator()(const U32Link& l) const { return filterKey(Kind::kU32Link, l.device, l.filter); }
  Key operator()(const HostTables&) const { return {Kind::kHostTables}; }
  Key operator()(const NicRule& r) const { return filterKey(Kind::kNicRule, r.device, r.filter); }
  Key operator()(const FlowRule& r) const { return {Kind::kFlowRule, r.device, r.rule.location}; }
  static Key filterKey(Kind kind, const std::string& device, const tc::Filter& f) {
    Key k{kind, device, f.priority, f.protocol};
    k.handle = f.handle;
    return k;
  }
  Key operator()(const DemuxProgram& d) const {
    return {Kind::kDemuxProgram, d.device, static_cast<uint32_t>(d.hook)};
  }
  Key operator()(const HostEntry& e) const { return {Kind::kHostEntry, e.device}; }
  Key operator()(const Continuation& c) const { return {Kind::kContinuation, c.device, c.tcChain}; }
  Key operator()(const XdpEntry& x) const { return {Kind::kXdpEntry, x.device}; }
};

tc::Filter ingressBpf(int ifindex, uint16_t priority, uint32_t handle, int progFd, std::string name,
                      uint32_t flags) {
  tc::Filter f;
  f.ifindex = ifindex;
  f.parent = tc::kIngress;
  f.priority = priority;
  f.protocol = ETH_P_ALL;
  f.handle = handle;
  tc::Bpf b;
  b.fd = progFd;
  b.name = std::move(name);
  b.flags = flags;
  f.spec = b;
  return f;
}

}  // namespace

Key keyOf(const Object& object) { return std::visit(KeyOf{}, object); }
Kind kindOf(const Object& object) { return static_cast<Kind>(object.index()); }

std::string hostFilterName(const std::string& instance) { return "vfsteer:" + instance; }
std::string demuxFilterName(const std::string& instance) { return "vfsteer-nic:" + instance; }

tc::Filter hostEntryFilter(int ifindex, int progFd, const std::string& instance) {
  // The host datapath is software by definition.
  return ingressBpf(ifindex, demux::kHostPriority, kHostFilterHandle, progFd, hostFilterName(instance), tc::kSkipHw);
}

tc::Filter continuationFilter(int ifindex, const Continuation& c, int progFd, const std::string& instance) {
  tc::Filter f = hostEntryFilter(ifindex, progFd, instance);
  f.chain = c.tcChain;
  std::get<tc::Bpf>(f.spec).classid = VFS_CONT_CLASSID(c.chainId, c.startStage);
  return f;
}

tc::Filter demuxFilter(int ifindex, int progFd, const std::string& instance, bool emulated) {
  // The NIC runs it or nobody does (unless emulated).
  return ingressBpf(ifindex, demux::kNicProgramPriority, kDemuxFilterHandle, progFd, demuxFilterName(instance),
                    emulated ? tc::kSkipHw : tc::kSkipSw);
}

std::vector<uint8_t> ownerCookie(const std::string& instance) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char c : instance) {
    h ^= c;
    h *= 16777619u;
  }
  return {'v', 'f', 's', 't', static_cast<uint8_t>(h >> 24), static_cast<uint8_t>(h >> 16),
          static_cast<uint8_t>(h >> 8), static_cast<uint8_t>(h)};
}

tc::Action ownedAction(tc::ActionOp op, int32_t verdict, const std::vector<uint8_t>& cookie) {
  tc::Action a;
  a.op = std::move(op);
  a.verdict = verdict;
  a.cookie = cookie;
  return a;
}

std::string_view hookName(representors::DemuxHook hook) {
  return hook == representors::DemuxHook::kTc ? "cls_bpf" : "xdp";
}

std::optional<representors::DemuxHook> parseHookName(std::string_view name) {
  if (name == "cls_bpf") return representors::DemuxHook::kTc;
  if (name == "xdp") return representors::DemuxHook::kXdp;
  return std::nullopt;
}

void DesiredState::add(Object o) {
  Key k = keyOf(o);
  objects.insert_or_assign(std::move(k), std::move(o));
}

}  // namespace vfsteer::engine
