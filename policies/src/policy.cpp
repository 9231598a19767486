#include "vfsteer/policies/policy.hpp"

#include <algorithm>
#include <cstdio>

namespace vfsteer::policies {

namespace {

// "02:00:00:00:00:10", with "/mask" unless the mask is all ones.
std::string macText(const MacMatch& m) {
  std::string s = m.addr.str();
  if (m.mask.bytes != std::array<uint8_t, 6>{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) s += "/" + m.mask.str();
  return s;
}

// Whether the keys already say the IP version: an address, or icmp/icmpv6.
bool versionImplied(const Match& m) {
  return m.srcIp || m.dstIp || (m.ipProto && (*m.ipProto == 1 || *m.ipProto == 58));
}

}  // namespace

std::vector<MatchKey> Match::keys() const {
  std::vector<MatchKey> out;
  if (from.kind != Port::Kind::kUplink) out.push_back(MatchKey::kFrom);
  if (srcMac) out.push_back(MatchKey::kSrcMac);
  if (dstMac) out.push_back(MatchKey::kDstMac);
  if (ethertype) out.push_back(MatchKey::kEthertype);
  if (vlan) out.push_back(MatchKey::kVlan);
  if (cvlan) out.push_back(MatchKey::kCvlan);
  if (srcIp) out.push_back(srcIp->v6 ? MatchKey::kSrcIp6 : MatchKey::kSrcIp4);
  if (dstIp) out.push_back(dstIp->v6 ? MatchKey::kDstIp6 : MatchKey::kDstIp4);
  if (ipProto) out.push_back(MatchKey::kIpProto);
  if (srcPort) out.push_back(MatchKey::kSrcPort);
  if (dstPort) out.push_back(MatchKey::kDstPort);
  if (tunnel) out.push_back(MatchKey::kTunnel);
  return out;
}

std::string Match::describe() const {
  // Parts are appended in place: the split report describes every chain.
  std::string out;
  auto part = [&out](std::string_view first, std::string_view rest = {}) {
    if (!out.empty()) out += ", ";
    out += first;
    out += rest;
  };
  if (from.kind != Port::Kind::kUplink) part("from ", from.str());
  if (tunnel) {
    std::string t = std::string(name(tunnel->type)) + ":" + std::to_string(tunnel->dstPort);
    if (tunnel->vni) t += " vni " + std::to_string(*tunnel->vni);
    if (tunnel->srcIp) t += " outer src " + tunnel->srcIp->str();
    if (tunnel->dstIp) t += " outer dst " + tunnel->dstIp->str();
    part(t);
  }
  if (srcMac) part("src ", macText(*srcMac));
  if (dstMac) part("dst ", macText(*dstMac));
  auto tag = [](const char* what, const VlanMatch& v) {
    std::string s = what;
    if (v.id) s += " " + std::to_string(*v.id);
    if (v.prio) s += " prio " + std::to_string(*v.prio);
    if (v.proto == VlanProto::k8021AD) s += " (802.1ad)";
    return s;
  };
  if (untagged) part("untagged");
  if (vlan) part(tag("vlan", *vlan));
  if (cvlan) part(tag("cvlan", *cvlan));
  if (ethertype) {
    // The policy's words for the ethertypes it names.
    if (auto word = ethertypeName(*ethertype)) {
      part(*word);
    } else {
      char buf[24];
      std::snprintf(buf, sizeof buf, "ethertype 0x%04x", static_cast<unsigned>(*ethertype));
      part(buf);
    }
  }
  // The version in words unless the keys already say it.
  if (ipVersion == IpVersion::kV4 && !versionImplied(*this)) part("ipv4");
  if (ipVersion == IpVersion::kV6 && !versionImplied(*this)) part("ipv6");
  if (srcIp) part("src ", srcIp->str());
  if (dstIp) part("dst ", dstIp->str());
  if (ipProto) {
    if (auto word = ipProtocolName(*ipProto)) part(*word);
    else part("ip_proto ", std::to_string(*ipProto));
  }
  if (srcPort) part("sport ", std::to_string(*srcPort));
  if (dstPort) part("dport ", std::to_string(*dstPort));
  return out.empty() ? "any" : out;
}

std::vector<MatchField> Match::fields() const {
  std::vector<MatchField> out;
  auto num = [&](std::string key, uint64_t v) { out.push_back({std::move(key), v}); };
  auto text = [&](std::string key, std::string v) { out.push_back({std::move(key), std::move(v)}); };
  if (tunnel) {
    text("tunnel.type", std::string(name(tunnel->type)));
    num("tunnel.dst_port", tunnel->dstPort);
    if (tunnel->vni) num("tunnel.vni", *tunnel->vni);
    if (tunnel->srcIp) text("tunnel.src_ip", tunnel->srcIp->str());
    if (tunnel->dstIp) text("tunnel.dst_ip", tunnel->dstIp->str());
  }
  if (srcMac) text("src_mac", macText(*srcMac));
  if (dstMac) text("dst_mac", macText(*dstMac));
  if (untagged) text("vlan", "none");
  for (const auto& [key, tag] : {std::pair{"vlan", &vlan}, std::pair{"cvlan", &cvlan}}) {
    if (!*tag) continue;
    if ((*tag)->id) num(std::string(key) + ".id", *(*tag)->id);
    if ((*tag)->prio) num(std::string(key) + ".prio", *(*tag)->prio);
    text(std::string(key) + ".proto", std::string(name((*tag)->proto)));
  }
  if (ethertype) {
    if (auto word = ethertypeName(*ethertype)) text("ethertype", std::string(*word));
    else num("ethertype", *ethertype);
  }
  if (ipVersion == IpVersion::kV4 && !versionImplied(*this)) text("ethertype", "ipv4");
  if (ipVersion == IpVersion::kV6 && !versionImplied(*this)) text("ethertype", "ipv6");
  if (srcIp) text("src_ip", srcIp->str());
  if (dstIp) text("dst_ip", dstIp->str());
  if (ipProto) {
    if (auto word = ipProtocolName(*ipProto)) text("ip_proto", std::string(*word));
    else num("ip_proto", *ipProto);
  }
  if (srcPort) num("src_port", *srcPort);
  if (dstPort) num("dst_port", *dstPort);
  // By key: the order a JSON object read back gives them, so that reports
  // round-trip.
  std::sort(out.begin(), out.end(), [](const MatchField& a, const MatchField& b) { return a.key < b.key; });
  return out;
}

uint16_t Match::tcProtocol(IpVersion l3) const {
  if (vlan) return vlan->proto == VlanProto::k8021AD ? 0x88a8 : 0x8100;
  if (l3 == IpVersion::kV4) return 0x0800;
  if (l3 == IpVersion::kV6) return 0x86dd;
  return ethertype.value_or(0x0003);  // ETH_P_ALL
}

std::string Target::str() const {
  switch (kind) {
    case TargetKind::kVf: return "vf" + std::to_string(index);
    case TargetKind::kQueue: return "queue " + std::to_string(index);
    case TargetKind::kHost: return "host";
    case TargetKind::kUplink: return "uplink";
  }
  return "?";
}

StageKind Stage::kind() const {
  struct Visitor {
    StageKind operator()(const VlanPopStage&) const { return StageKind::kVlanPop; }
    StageKind operator()(const VlanPushStage&) const { return StageKind::kVlanPush; }
    StageKind operator()(const TunnelDecapStage&) const { return StageKind::kTunnelDecap; }
    StageKind operator()(const QueueStage&) const { return StageKind::kQueue; }
    StageKind operator()(const PoliceStage&) const { return StageKind::kPolice; }
    StageKind operator()(const MarkStage&) const { return StageKind::kMark; }
    StageKind operator()(const MirrorStage&) const { return StageKind::kMirror; }
    StageKind operator()(const DropStage&) const { return StageKind::kDrop; }
    StageKind operator()(const BpfStage&) const { return StageKind::kBpf; }
    StageKind operator()(const DeliverStage&) const { return StageKind::kDeliver; }
  };
  return std::visit(Visitor{}, op);
}

std::string Stage::describe() const {
  struct Visitor {
    std::string operator()(const VlanPopStage&) const { return "vlan_pop"; }
    std::string operator()(const VlanPushStage& s) const {
      return "vlan_push " + std::to_string(s.id) + (s.prio ? " prio " + std::to_string(s.prio) : "") +
             (s.proto == VlanProto::k8021AD ? " (802.1ad)" : "");
    }
    std::string operator()(const TunnelDecapStage&) const { return "tunnel_decap"; }
    std::string operator()(const QueueStage& s) const { return "queue " + std::to_string(s.queue); }
    // In the units the policy is written in (rate_mbps / rate_kbps, burst_kb).
    std::string operator()(const PoliceStage& s) const {
      const std::string rate = s.rateBitsPerSec % 1000000 == 0
                                   ? std::to_string(s.rateBitsPerSec / 1000000) + " Mbit/s"
                                   : std::to_string(s.rateBitsPerSec / 1000) + " kbit/s";
      const std::string burst = s.burstBytes % 1024 == 0 ? std::to_string(s.burstBytes / 1024) + " KiB"
                                                         : std::to_string(s.burstBytes) + " B";
      return "police " + rate + " burst " + burst;
    }
    std::string operator()(const MarkStage& s) const { return "mark " + std::to_string(s.mark); }
    std::string operator()(const MirrorStage& s) const { return "mirror " + s.to.str(); }
    std::string operator()(const DropStage&) const { return "drop"; }
    std::string operator()(const BpfStage& s) const { return "bpf " + s.program; }
    std::string operator()(const DeliverStage& s) const { return "deliver " + s.to.str(); }
  };
  return std::visit(Visitor{}, op);
}

const Chain* Policy::findChain(std::string_view chainName) const {
  for (const auto& c : chains)
    if (c.name == chainName) return &c;
  return nullptr;
}

}  // namespace vfsteer::policies
