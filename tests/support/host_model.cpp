#include "host_model.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <map>
#include <string>

namespace vfsteer::testing {

using demux::Frame;
using demux::Packet;
using policies::Port;
using policies::TunnelType;
using policies::VlanProto;

namespace {

// What vfs_parse_frame() writes for one frame.
void fillFrame(vfs_key& k, const Frame& f) {
  std::memcpy(k.dmac, f.dst.bytes.data(), 6);
  std::memcpy(k.smac, f.src.bytes.data(), 6);
  auto tag = [](const demux::VlanTag& t, uint16_t& tpid, uint16_t& tci) {
    tpid = htons(t.proto == VlanProto::k8021AD ? 0x88a8 : 0x8100);
    tci = htons(static_cast<uint16_t>(t.prio << 13 | t.id));
  };
  if (!f.tags.empty()) tag(f.tags[0], k.tpid0, k.tci0);
  if (f.tags.size() > 1) tag(f.tags[1], k.tpid1, k.tci1);
  // Past two tags the datapath sees a VLAN ethertype, not the payload's.
  k.ethertype = htons(f.tags.size() > 2 ? 0x8100 : f.ethertype);
  if (f.tags.size() > 2 || !(f.isIp4() || f.isIp6())) return;
  if (f.isIp4()) {
    std::memcpy(&k.src4, f.srcIp.data(), 4);
    std::memcpy(&k.dst4, f.dstIp.data(), 4);
  } else {
    std::memcpy(k.src6, f.srcIp.data(), 16);
    std::memcpy(k.dst6, f.dstIp.data(), 16);
  }
  k.ip_proto = f.ipProto;
  if (f.ipProto == 6 || f.ipProto == 17 || f.ipProto == 132) {
    k.sport = htons(f.srcPort);
    k.dport = htons(f.dstPort);
  }
}

}  // namespace

Keys keysOf(const Packet& p, const representors::HostTables& t, IfIndex uplink,
            const std::function<IfIndex(uint16_t)>& repIfindex) {
  Keys k;
  const int ifindex = (p.in.kind == Port::Kind::kUplink ? uplink : repIfindex(p.in.vf)).value;
  k.outer.ifindex = static_cast<uint32_t>(ifindex);
  fillFrame(k.outer, p.frame);
  if (!p.tunnel || !p.inner || p.frame.ipProto != 17) return k;
  // The datapath recognises a tunnel by a UDP port the tables list.
  uint8_t type = VFS_TUN_NONE;
  for (const auto& tp : t.tunnelPorts)
    if (tp.port == htons(p.frame.dstPort)) type = tp.type;
  const uint8_t packetType = p.tunnel->type == TunnelType::kVxlan ? VFS_TUN_VXLAN : VFS_TUN_GENEVE;
  if (type == VFS_TUN_NONE || type != packetType) return k;
  k.inner.ifindex = k.outer.ifindex;
  fillFrame(k.inner, *p.inner);
  k.inner.tun_type = type;
  k.inner.vni = htonl(p.tunnel->vni);
  k.inner.tun_port = htons(p.frame.dstPort);
  if (p.frame.isIp4()) {
    k.inner.tun_l3 = 4;
    std::memcpy(&k.inner.tun_src4, p.frame.srcIp.data(), 4);
    std::memcpy(&k.inner.tun_dst4, p.frame.dstIp.data(), 4);
  } else {
    k.inner.tun_l3 = 6;
    std::memcpy(k.inner.tun_src6, p.frame.srcIp.data(), 16);
    std::memcpy(k.inner.tun_dst6, p.frame.dstIp.data(), 16);
  }
  k.hasInner = true;
  return k;
}

// classify() of datapath.bpf.c over the tables.
std::optional<uint32_t> lookup(const representors::HostTables& t, const Keys& keys) {
  std::map<std::pair<uint8_t, std::string>, vfs_rule> rules;
  for (const auto& r : t.rules)
    rules[{r.tuple, std::string(reinterpret_cast<const char*>(&r.masked), sizeof r.masked)}] = r.rule;
  std::optional<vfs_rule> best;
  for (size_t i = 0; i < t.tuples.size(); ++i) {
    const vfs_tuple& tuple = t.tuples[i];
    if (tuple.inner && !keys.hasInner) continue;
    const vfs_key& src = tuple.inner ? keys.inner : keys.outer;
    vfs_key masked{};
    const auto* a = reinterpret_cast<const uint8_t*>(&src);
    const auto* m = reinterpret_cast<const uint8_t*>(&tuple.mask);
    auto* o = reinterpret_cast<uint8_t*>(&masked);
    for (size_t b = 0; b < sizeof(vfs_key); ++b) o[b] = a[b] & m[b];
    auto it = rules.find({static_cast<uint8_t>(i), std::string(reinterpret_cast<const char*>(&masked), sizeof masked)});
    if (it != rules.end() && (!best || it->second.priority < best->priority)) best = it->second;
  }
  if (!best) return std::nullopt;
  return best->chain;
}

}  // namespace vfsteer::testing
