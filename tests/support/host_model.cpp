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

Keys keysOf(const Packet& p, const representors::HostTables& t) {
  Keys k;
  const int ifindex = (p.in.kind == Port::Kind::kUplink ? kModelUplink : modelRepIfindex(p.in.vf)).value;
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

IfIndex modelRepIfindex(uint16_t vf) { return IfIndex{10 + static_cast<int>(vf)}; }

engine::HostBindings modelBindings(int vfs) {
  engine::HostBindings b;
  b.uplinkIfindex = kModelUplink;
  b.uplinkName = "uplink0";
  for (uint16_t i = 0; i < vfs; ++i) {
    b.repIfindex[VfIndex{i}] = modelRepIfindex(i);
    b.repName[VfIndex{i}] = "pf0vf" + std::to_string(i);
  }
  return b;
}

std::vector<uint8_t> udpFrame(int i) {
  std::vector<uint8_t> f(64, 0);
  std::memcpy(f.data(), "\x02\x00\x00\x00\x00\x10\x02\x00\x00\x00\x00\xfe\x08\x00", 14);
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  ip[3] = 50;
  ip[8] = 64;
  ip[9] = 17;
  uint32_t src = htonl(0x0a090001), dst = htonl(udpRuleAddress(i));
  std::memcpy(ip + 12, &src, 4);
  std::memcpy(ip + 16, &dst, 4);
  uint8_t* udp = ip + 20;
  udp[0] = 0x9c;
  udp[1] = 0x40;
  udp[2] = 0x13;
  udp[3] = 0x88;  // 5000
  return f;
}

representors::HostTables udpTables(int rules, uint32_t ingress, uint32_t target, bool tcOnly) {
  representors::HostTables t;
  vfs_tuple tuple{};
  tuple.mask.ifindex = 0xffffffff;
  tuple.mask.ethertype = 0xffff;
  tuple.mask.ip_proto = 0xff;
  tuple.mask.dport = 0xffff;
  tuple.mask.dst4 = 0xffffffff;
  tuple.compact = 1;
  t.tuples.push_back(tuple);
  vfs_chain c{};
  c.id = 0;
  c.nstages = 1;
  c.flags = tcOnly ? 0 : VFS_CHAIN_XDP;
  c.stages[0].kind = target == 0 ? VFS_ST_DROP : VFS_ST_REDIRECT;
  c.stages[0].u32 = target;
  t.chains.push_back(c);
  for (int i = 0; i < rules; ++i) {
    representors::HostRule r;
    r.tuple = 0;
    r.masked.ifindex = ingress;
    r.masked.ethertype = htons(0x0800);
    r.masked.ip_proto = 17;
    r.masked.dport = htons(5000);
    r.masked.dst4 = htonl(udpRuleAddress(i));
    r.rule.priority = 1;
    r.rule.chain = 0;
    t.rules.push_back(r);
  }
  return t;
}

}  // namespace vfsteer::testing
