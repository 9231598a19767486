#include "generators.hpp"

#include <algorithm>
#include <numeric>

namespace vfsteer::testing {

using namespace policies;
using demux::Frame;
using demux::Packet;
using demux::VlanTag;

namespace {

const char* kMacs[] = {"02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:01:01"};
const uint16_t kVlanIds[] = {10, 20};
const uint16_t kPorts[] = {53, 80};
const uint8_t kProtos[] = {6, 17, 1};
const char* kIp4[] = {"10.0.0.1", "10.0.0.2", "10.0.1.1", "10.1.0.1"};
const char* kIp6[] = {"2001:db8::1", "2001:db8::2", "2001:db8:1::1", "2001:db9::1"};
struct TunnelKind {
  const char* type;
  uint16_t port;
};
const TunnelKind kTunnels[] = {{"vxlan", 4789}, {"geneve", 6081}, {"vxlan", 8472}};

std::string q(const std::string& s) { return "\"" + s + "\""; }

std::array<uint8_t, 16> addrBytes(const char* text, bool v6) {
  std::string err;
  auto p = parseIpPrefix(text, &err);
  (void)v6;
  return p->addr;
}

// A prefix of `addr` with `len` bits, written with host bits cleared.
std::string prefixOf(const char* addr, int len) {
  std::string err;
  IpPrefix p = *parseIpPrefix(addr, &err);
  for (int i = len; i < p.width(); ++i) p.addr[i / 8] &= static_cast<uint8_t>(~(1 << (7 - i % 8)));
  p.length = static_cast<uint8_t>(len);
  return p.str();
}

}  // namespace

std::string Generator::matchYaml(int vfCount, std::string& fromOut, bool& tunnelOut, int& tagsOut) {
  std::vector<std::string> keys;
  fromOut = "uplink";
  if (vfCount > 0 && chance(0.25)) {
    int vf = pick(std::min(vfCount, 2));
    fromOut = "vf" + std::to_string(vf);
    keys.push_back("from: {vf: " + std::to_string(vf) + "}");
  }
  tunnelOut = chance(0.2);
  if (tunnelOut) {
    const TunnelKind& t = kTunnels[pick(3)];
    std::string tk = "tunnel: {type: " + std::string(t.type) + ", dst_port: " + std::to_string(t.port);
    if (chance(0.6)) tk += ", vni: " + std::to_string(1 + pick(2));
    if (chance(0.3)) tk += ", dst_ip: " + q(prefixOf(kIp4[pick(4)], chance(0.5) ? 32 : 16));
    keys.push_back(tk + "}");
  }
  if (chance(0.2)) keys.push_back(std::string(chance(0.5) ? "src_mac: " : "dst_mac: ") +
                                  q(std::string(kMacs[pick(3)]) +
                                    (chance(0.3) ? "/ff:ff:ff:ff:00:00" : "")));
  tagsOut = 0;
  if (chance(0.35)) {
    bool qinq = chance(0.3);
    std::string v = "vlan: {id: " + std::to_string(kVlanIds[pick(2)]);
    if (chance(0.2)) v += ", prio: 3";
    if (qinq && chance(0.6)) v += ", proto: 802.1ad";
    keys.push_back(v + "}");
    tagsOut = 1;
    if (qinq) {
      keys.push_back("cvlan: " + std::to_string(kVlanIds[pick(2)]));
      tagsOut = 2;
    }
  }
  int l3 = pick(10);  // 0-3 v4 keys, 4-5 v6 keys, 6 arp, 7-9 none
  if (l3 <= 3) {
    if (chance(0.7)) keys.push_back("dst_ip: " + q(prefixOf(kIp4[pick(4)], std::array{32, 24, 16}[pick(3)])));
    else keys.push_back("src_ip: " + q(prefixOf(kIp4[pick(4)], std::array{32, 24}[pick(2)])));
  } else if (l3 <= 5) {
    keys.push_back("dst_ip: " + q(prefixOf(kIp6[pick(4)], std::array{128, 64, 32}[pick(3)])));
  } else if (l3 == 6) {
    keys.push_back("ethertype: arp");
  }
  if (l3 != 6 && chance(0.45)) {
    uint8_t proto = kProtos[pick(l3 <= 5 ? 2 : 3)];  // icmp only when the version is open
    if (proto == 1 && l3 <= 5) proto = 6;
    keys.push_back("ip_proto: " + std::to_string(proto));
    if (proto != 1 && chance(0.6))
      keys.push_back(std::string(chance(0.7) ? "dst_port: " : "src_port: ") +
                     std::to_string(kPorts[pick(2)]));
  }
  // Untagged frames only: needs an ethertype or an IP key with it.
  const bool hasL3 = l3 <= 6 || std::any_of(keys.begin(), keys.end(),
                                            [](const std::string& k) { return k.rfind("ip_proto", 0) == 0; });
  if (tagsOut == 0 && hasL3 && chance(0.2)) keys.push_back("vlan: none");
  std::string out = "{";
  for (size_t i = 0; i < keys.size(); ++i) out += (i ? ", " : "") + keys[i];
  return out + "}";
}

std::string Generator::stagesYaml(const std::string& from, bool tunnel, int tags, int vfCount) {
  std::vector<std::string> stages;
  bool decapped = false;
  int live = tunnel ? 0 : tags;
  auto vfTarget = [&]() -> std::optional<std::string> {
    for (int tries = 0; tries < 4; ++tries) {
      int vf = pick(vfCount);
      if (from != "vf" + std::to_string(vf)) return "{vf: " + std::to_string(vf) + "}";
    }
    return std::nullopt;
  };
  int extra = pick(4);
  for (int i = 0; i < extra; ++i) {
    bool framed = !tunnel || decapped;  // may touch VLAN tags
    switch (pick(9)) {
      case 0:
        if (framed && live > 0) { stages.push_back("vlan_pop"); --live; }
        break;
      case 1:
        if (framed && live < 2) {
          stages.push_back("{vlan_push: {id: " + std::to_string(kVlanIds[pick(2)]) +
                           (chance(0.3) ? ", proto: 802.1ad" : "") + "}}");
          ++live;
        }
        break;
      case 2:
        if (tunnel && !decapped) { stages.push_back("tunnel_decap"); decapped = true; live = tags; }
        break;
      case 3: stages.push_back("{queue: " + std::to_string(pick(4)) + "}"); break;
      case 4: stages.push_back("{police: {rate_mbps: 10}}"); break;
      case 5: stages.push_back("{mark: " + std::to_string(1 + pick(5)) + "}"); break;
      case 6:
        if (auto t = vfTarget(); t && chance(0.7)) stages.push_back("{mirror: " + *t + "}");
        else stages.push_back("{mirror: uplink}");
        break;
      case 7: stages.push_back("{bpf: {object: x.o, program: p}}"); break;
      case 8:
        if (tunnel && !decapped && chance(0.5)) { stages.push_back("tunnel_decap"); decapped = true; live = tags; }
        break;
    }
  }
  switch (pick(5)) {
    case 0: stages.push_back("drop"); break;
    case 1: stages.push_back("{deliver: host}"); break;
    case 2: stages.push_back("{deliver: {queue: 1}}"); break;
    case 3:
      if (from != "uplink") { stages.push_back("{deliver: uplink}"); break; }
      [[fallthrough]];
    default:
      if (auto t = vfTarget()) stages.push_back("{deliver: " + *t + "}");
      else stages.push_back("drop");
  }
  std::string out = "[";
  for (size_t i = 0; i < stages.size(); ++i) out += (i ? ", " : "") + stages[i];
  return out + "]";
}

std::string Generator::policyYaml(int maxChains, int vfCount) {
  int n = 1 + pick(maxChains);
  std::vector<int> prios(n * 3);
  std::iota(prios.begin(), prios.end(), 1);
  std::shuffle(prios.begin(), prios.end(), rng_);
  std::string y = "version: 1\ndevice: {pf: eth0, vfs: {count: " + std::to_string(vfCount) +
                  "}}\nchains:\n";
  for (int i = 0; i < n; ++i) {
    std::string from;
    bool tunnel = false;
    int tags = 0;
    std::string match = matchYaml(vfCount, from, tunnel, tags);
    const char* mode = chance(0.7) ? "auto" : (chance(0.7) ? "skip-hw" : "skip-sw");
    y += "  - {name: c" + std::to_string(i) + ", priority: " + std::to_string(prios[i]) +
         ", offload: " + mode + ", match: " + match + ", stages: " +
         stagesYaml(from, tunnel, tags, vfCount) + "}\n";
  }
  return y;
}

Profile Generator::profile() {
  Profile p;
  p.name = "random";
  int e = pick(10);
  p.engine = e == 0   ? NicEngine::kNone
             : e <= 5 ? NicEngine::kFlower
             : e <= 7 ? NicEngine::kBpf
             : e == 8 ? NicEngine::kU32
                      : NicEngine::kNtuple;
  if (p.engine == NicEngine::kNone) return p;
  if (p.engine == NicEngine::kU32 || p.engine == NicEngine::kNtuple) {
    // What a u32 filter or a flow rule can check (the loader refuses
    // more), with the flow director's conditions drawn at random.
    for (MatchKey k : kU32MatchKeys)
      if (chance(0.85)) p.matchKeys.insert(k);
    if (p.matchKeys.empty()) p.matchKeys.insert(MatchKey::kDstIp4);
    for (StageKind k : {StageKind::kDrop, StageKind::kDeliver})
      if (chance(0.8)) p.stages.insert(k);
    p.targets = {TargetKind::kVf};
    p.ipVersions = {4};
    p.sharedMask = chance(0.5);
    if (p.engine == NicEngine::kU32) p.u32LinkTables = chance(0.5) ? 1 + pick(3) : 9;
    if (p.engine == NicEngine::kNtuple) {
      p.flowRuleLocations = chance(0.5) ? 1 + pick(4) : 2046;
      // i40e's kind of flow director: whole fields, a mask per protocol,
      // no rule without a protocol.
      p.maskPerProtocol = !p.sharedMask && chance(0.5);
      p.wholeFields = chance(0.4);
      p.ruleNeedsProtocol = chance(0.4);
    }
    p.ruleBudget = chance(0.3) ? 1 + pick(6) : 0;
    return p;
  }
  for (MatchKey k : kAllMatchKeys)
    if (chance(0.8)) p.matchKeys.insert(k);
  for (StageKind k : kAllStageKinds)
    if (chance(0.6)) p.stages.insert(k);
  for (TargetKind t : kAllTargetKinds)
    if (chance(0.7)) p.targets.insert(t);
  for (TunnelType t : kAllTunnelTypes)
    if (chance(0.7)) p.tunnels.insert(t);
  p.vlanDepth = pick(3);
  p.missToSoftware = chance(0.5);
  p.trapToHost = chance(0.5);
  p.vfSideRules = chance(0.5);
  p.ruleBudget = chance(0.3) ? 1 + pick(6) : 0;
  p.tcPriorities = chance(0.3) ? 1 + pick(4) : 0;
  return p;
}

Frame Generator::randomFrame() {
  Frame f;
  f.src = *parseMac(kMacs[pick(3)]);
  f.dst = *parseMac(kMacs[pick(3)]);
  int tags = pick(4) == 0 ? 2 : pick(2);
  for (int i = 0; i < tags; ++i)
    f.tags.push_back(VlanTag{(i == 0 && tags == 2 && chance(0.5)) ? VlanProto::k8021AD
                                                                  : VlanProto::k8021Q,
                             kVlanIds[pick(2)], static_cast<uint8_t>(chance(0.2) ? 3 : 0)});
  int l3 = pick(10);
  if (l3 < 5) {
    f.ethertype = 0x0800;
    f.srcIp = addrBytes(kIp4[pick(4)], false);
    f.dstIp = addrBytes(kIp4[pick(4)], false);
  } else if (l3 < 8) {
    f.ethertype = 0x86dd;
    f.srcIp = addrBytes(kIp6[pick(4)], true);
    f.dstIp = addrBytes(kIp6[pick(4)], true);
  } else {
    f.ethertype = 0x0806;
    return f;
  }
  f.ipProto = kProtos[pick(3)];
  if (f.ipProto != 1) {
    f.srcPort = kPorts[pick(2)];
    f.dstPort = kPorts[pick(2)];
  }
  return f;
}

void Generator::satisfyFrame(const Match& m, Frame& f) {
  auto fillMac = [&](const std::optional<MacMatch>& mm, MacAddress& a) {
    if (!mm) return;
    for (size_t i = 0; i < 6; ++i)
      a.bytes[i] = static_cast<uint8_t>(mm->addr.bytes[i] | (a.bytes[i] & ~mm->mask.bytes[i]));
  };
  fillMac(m.srcMac, f.src);
  fillMac(m.dstMac, f.dst);
  auto fillTag = [&](const std::optional<VlanMatch>& vm, size_t i) {
    if (!vm) return;
    while (f.tags.size() <= i) f.tags.push_back(VlanTag{VlanProto::k8021Q, kVlanIds[pick(2)], 0});
    f.tags[i].proto = vm->proto;
    if (vm->id) f.tags[i].id = *vm->id;
    if (vm->prio) f.tags[i].prio = *vm->prio;
  };
  fillTag(m.vlan, 0);
  fillTag(m.cvlan, 1);
  if (m.untagged) f.tags.clear();
  if (m.ethertype) {
    f.ethertype = *m.ethertype;
    return;
  }
  bool wantV6 = m.ipVersion == IpVersion::kV6 ||
                (m.ipVersion == IpVersion::kAny && chance(0.4));
  bool wantV4 = m.ipVersion == IpVersion::kV4 || (m.ipVersion == IpVersion::kAny && !wantV6);
  if (wantV4 && !f.isIp4()) {
    f.ethertype = 0x0800;
    f.srcIp = addrBytes(kIp4[pick(4)], false);
    f.dstIp = addrBytes(kIp4[pick(4)], false);
    f.ipProto = 17;
  } else if (wantV6 && !f.isIp6()) {
    f.ethertype = 0x86dd;
    f.srcIp = addrBytes(kIp6[pick(4)], true);
    f.dstIp = addrBytes(kIp6[pick(4)], true);
    f.ipProto = 17;
  }
  auto fillIp = [&](const std::optional<IpPrefix>& p, std::array<uint8_t, 16>& a) {
    if (!p) return;
    for (int i = 0; i < p->length; ++i) {
      uint8_t bit = static_cast<uint8_t>(1 << (7 - i % 8));
      a[i / 8] = static_cast<uint8_t>((a[i / 8] & ~bit) | (p->addr[i / 8] & bit));
    }
  };
  fillIp(m.srcIp, f.srcIp);
  fillIp(m.dstIp, f.dstIp);
  if (m.ipProto) f.ipProto = *m.ipProto;
  if (m.srcPort) f.srcPort = *m.srcPort;
  if (m.dstPort) f.dstPort = *m.dstPort;
}

void Generator::satisfy(const Match& m, Packet& p) {
  p.in = m.from;
  if (!m.tunnel) {
    satisfyFrame(m, p.frame);
    return;
  }
  // An outer IPv4/IPv6 UDP frame to the tunnel port, carrying an inner frame.
  const TunnelMatch& t = *m.tunnel;
  Match outer;
  const auto& outerAddr = t.dstIp ? t.dstIp : t.srcIp;
  outer.ipVersion = outerAddr ? (outerAddr->v6 ? IpVersion::kV6 : IpVersion::kV4) : IpVersion::kV4;
  outer.srcIp = t.srcIp;
  outer.dstIp = t.dstIp;
  outer.ipProto = 17;
  outer.dstPort = t.dstPort;
  p.frame.tags.clear();
  satisfyFrame(outer, p.frame);
  p.tunnel = demux::TunnelHeader{t.type, t.vni ? *t.vni : static_cast<uint32_t>(1 + pick(2))};
  Frame inner = randomFrame();
  satisfyFrame(m, inner);
  p.inner = inner;
}

void Generator::mutate(Packet& p) {
  Frame& f = (p.inner && chance(0.5)) ? *p.inner : p.frame;
  switch (pick(8)) {
    case 0: if (!f.tags.empty()) f.tags[0].id = kVlanIds[pick(2)]; break;
    case 1: if (!f.tags.empty()) f.tags.erase(f.tags.begin()); break;
    case 2: f.dstPort = kPorts[pick(2)]; break;
    case 3: f.ipProto = kProtos[pick(3)]; break;
    case 4: f.dstIp[3] ^= 1; break;
    case 5: if (p.tunnel) p.tunnel->vni = 1 + pick(2); break;
    case 6: p.in = chance(0.5) ? Port{} : Port{Port::Kind::kVf, static_cast<uint16_t>(pick(2))}; break;
    case 7: f.src.bytes[5] ^= 3; break;
  }
}

Packet Generator::packet(const Policy& policy) {
  Packet p;
  p.frame = randomFrame();
  if (chance(0.15)) {
    // A random tunnel packet, matching no chain in particular.
    const TunnelKind& t = kTunnels[pick(3)];
    p.frame.tags.clear();
    p.frame.ethertype = 0x0800;
    p.frame.ipProto = 17;
    p.frame.dstPort = t.port;
    p.tunnel = demux::TunnelHeader{*parseTunnelType(t.type), static_cast<uint32_t>(1 + pick(2))};
    p.inner = randomFrame();
  }
  if (!policy.chains.empty() && chance(0.75)) satisfy(policy.chains[pick(static_cast<int>(policy.chains.size()))].match, p);
  if (chance(0.3)) mutate(p);
  return p;
}

demux::Environment Generator::environment(const Policy& policy) {
  demux::Environment env;
  for (size_t c = 0; c < policy.chains.size(); ++c)
    for (size_t s = 0; s < policy.chains[c].stages.size(); ++s)
      if (policy.chains[c].stages[s].kind() == StageKind::kPolice && chance(0.3))
        env.policeExceeds.insert({c, s});
  return env;
}

}  // namespace vfsteer::testing
