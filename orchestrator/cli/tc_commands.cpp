#include "cli/tc_commands.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>

#include <cstdio>
#include <sstream>

#include "vfsteer/common/hex.hpp"
#include "vfsteer/demux/plan.hpp"
#include "vfsteer/policies/vocabulary.hpp"

namespace vfsteer::cli {

namespace tc = netlink::tc;

namespace {

std::string mac(const tc::MacKey& k) {
  char buf[64];
  auto& v = k.value;
  auto& m = k.mask;
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", v[0], v[1], v[2], v[3], v[4], v[5]);
  std::string out = buf;
  if (m != std::array<uint8_t, 6>{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) {
    std::snprintf(buf, sizeof buf, "/%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    out += buf;
  }
  return out;
}

// "10.0.0.0/24" (or "/255.0.255.0" for a mask that is not a prefix).
template <size_t N>
std::string address(const tc::Masked<N>& k) {
  char text[INET6_ADDRSTRLEN];
  ::inet_ntop(N == 4 ? AF_INET : AF_INET6, k.value.data(), text, sizeof text);
  int length = 0;
  bool contiguous = true, ended = false;
  for (uint8_t byte : k.mask) {
    for (int bit = 7; bit >= 0; --bit) {
      const bool set = byte & (1 << bit);
      if (set && ended) contiguous = false;
      if (set && !ended) ++length;
      if (!set) ended = true;
    }
  }
  if (length == static_cast<int>(N * 8)) return text;
  if (contiguous) return std::string(text) + "/" + std::to_string(length);
  char mask[INET6_ADDRSTRLEN];
  ::inet_ntop(N == 4 ? AF_INET : AF_INET6, k.mask.data(), mask, sizeof mask);
  return std::string(text) + "/" + mask;
}

std::string ipProtoName(uint8_t p) {
  if (auto word = policies::ipProtocolName(p)) return std::string(*word);  // tc knows the same words
  return std::to_string(p);
}

std::string verdictName(int32_t verdict) {
  if ((verdict & TC_ACT_EXT_OPCODE_MAX) == TC_ACT_GOTO_CHAIN)
    return "goto chain " + std::to_string(verdict & TC_ACT_EXT_VAL_MASK);
  switch (verdict) {
    case TC_ACT_OK: return "pass";
    case TC_ACT_SHOT: return "drop";
    case TC_ACT_STOLEN: return "stolen";
    case TC_ACT_TRAP: return "trap";
    case TC_ACT_PIPE: return "pipe";
    default: return std::to_string(verdict);
  }
}

std::string deviceName(const std::map<int, std::string>& devices, uint32_t ifindex) {
  auto it = devices.find(static_cast<int>(ifindex));
  return it == devices.end() ? "ifindex" + std::to_string(ifindex) : it->second;
}

// An action's words, with its verdict where tc takes one.
std::string actionWords(const tc::Action& a, const std::map<int, std::string>& devices) {
  if (const auto* m = std::get_if<tc::Mirred>(&a.op)) {
    const bool redirect = m->op == tc::Mirred::Op::kEgressRedirect || m->op == tc::Mirred::Op::kIngressRedirect;
    const bool ingress = m->op == tc::Mirred::Op::kIngressRedirect || m->op == tc::Mirred::Op::kIngressMirror;
    const std::string words = std::string("mirred ") + (ingress ? "ingress " : "egress ") +
                              (redirect ? "redirect" : "mirror") + " dev " + deviceName(devices, m->ifindex);
    // tc has no word for "stolen", a redirect's own verdict: it is left out.
    if (redirect && a.verdict == TC_ACT_STOLEN) return words;
    return words + " " + verdictName(a.verdict);
  }
  if (const auto* v = std::get_if<tc::Vlan>(&a.op)) {
    std::string words = "vlan pop";
    if (v->op != tc::Vlan::Op::kPop) {
      words = std::string("vlan ") + (v->op == tc::Vlan::Op::kPush ? "push" : "modify") + " id " + std::to_string(v->id);
      if (v->protocol) words += " protocol " + tc::protocolName(*v->protocol);
      if (v->prio) words += " priority " + std::to_string(*v->prio);
    }
    return words + " " + verdictName(a.verdict);
  }
  if (std::holds_alternative<tc::TunnelKeyUnset>(a.op)) return "tunnel_key unset " + verdictName(a.verdict);
  if (std::holds_alternative<tc::Gact>(a.op)) return verdictName(a.verdict);  // gact is only its verdict
  if (const auto* s = std::get_if<tc::Skbedit>(&a.op)) {
    std::string words = "skbedit";
    if (s->queueMapping) words += " queue_mapping " + std::to_string(*s->queueMapping);
    if (s->mark) words += " mark " + std::to_string(*s->mark);
    return words + " " + verdictName(a.verdict);
  }
  const auto& p = std::get<tc::Police>(a.op);
  std::string words = "police rate " + std::to_string(p.rateBytesPerSec * 8) + "bit burst " + std::to_string(p.burstBytes);
  if (p.mtu) words += " mtu " + std::to_string(p.mtu);
  return words + " conform-exceed " + verdictName(a.verdict) + "/pipe";  // the verdict is the exceed action
}

std::string actionText(const tc::Action& a, const std::map<int, std::string>& devices) {
  return "action " + actionWords(a, devices) + (a.cookie.empty() ? "" : " cookie " + hexBytes(a.cookie));
}

}  // namespace

std::string tcCommand(const engine::NicRule& rule, const std::map<int, std::string>& devices) {
  const tc::Filter& f = rule.filter;
  std::ostringstream out;
  out << "tc filter add dev " << rule.device << " ingress protocol " << tc::protocolName(f.protocol) << " chain "
      << f.chain.value_or(0) << " prio " << f.priority;
  // Rules sharing a priority (a profile's priority range) differ by handle.
  if (f.handle != demux::kSoleRuleHandle) out << " handle " << f.handle;
  const auto* flower = std::get_if<tc::Flower>(&f.spec);
  if (!flower) return out.str() + " " + f.kind();
  out << " flower";
  if (flower->flags & tc::kSkipSw) out << " skip_sw";
  if (flower->flags & tc::kSkipHw) out << " skip_hw";
  const tc::FlowerKey& k = flower->key;
  if (k.dstMac) out << " dst_mac " << mac(*k.dstMac);
  if (k.srcMac) out << " src_mac " << mac(*k.srcMac);
  if (k.vlanId) out << " vlan_id " << *k.vlanId;
  if (k.vlanPrio) out << " vlan_prio " << static_cast<int>(*k.vlanPrio);
  if (k.vlanEthType) out << " vlan_ethtype " << tc::protocolName(*k.vlanEthType);
  if (k.cvlanId) out << " cvlan_id " << *k.cvlanId;
  if (k.cvlanPrio) out << " cvlan_prio " << static_cast<int>(*k.cvlanPrio);
  if (k.cvlanEthType) out << " cvlan_ethtype " << tc::protocolName(*k.cvlanEthType);
  if (k.ipProto) out << " ip_proto " << ipProtoName(*k.ipProto);
  if (k.src4) out << " src_ip " << address(*k.src4);
  if (k.dst4) out << " dst_ip " << address(*k.dst4);
  if (k.src6) out << " src_ip " << address(*k.src6);
  if (k.dst6) out << " dst_ip " << address(*k.dst6);
  if (k.srcPort) out << " src_port " << *k.srcPort;
  if (k.dstPort) out << " dst_port " << *k.dstPort;
  if (k.encKeyId) out << " enc_key_id " << *k.encKeyId;
  if (k.encSrc4) out << " enc_src_ip " << address(*k.encSrc4);
  if (k.encDst4) out << " enc_dst_ip " << address(*k.encDst4);
  if (k.encSrc6) out << " enc_src_ip " << address(*k.encSrc6);
  if (k.encDst6) out << " enc_dst_ip " << address(*k.encDst6);
  if (k.encDstPort) out << " enc_dst_port " << *k.encDstPort;
  for (const auto& a : flower->actions) out << " " << actionText(a, devices);
  return out.str();
}

std::string tcU32Command(const std::string& device, const tc::Filter& f, const std::map<int, std::string>& devices) {
  std::ostringstream out;
  out << "tc filter add dev " << device << " ingress prio " << f.priority << " protocol "
      << tc::protocolName(f.protocol) << " handle " << tc::u32HandleName(f.handle) << " u32";
  const auto* u = std::get_if<tc::U32>(&f.spec);
  if (!u) return out.str() + " # not a u32 filter";
  if (u->divisor) return out.str() + " divisor " + std::to_string(*u->divisor);
  if (u->table) out << " ht " << tc::u32HandleName(*u->table);
  if (u->link) out << " link " << tc::u32HandleName(*u->link);
  if (const auto& n = u->nextHeader) {
    char buf[96];
    std::snprintf(buf, sizeof buf, " offset at %d mask %04x shift %u plus %d%s", n->at, n->mask, n->shift, n->plus,
                  n->eat ? " eat" : "");
    out << buf;
  }
  if (u->flags & tc::kSkipSw) out << " skip_sw";
  if (u->flags & tc::kSkipHw) out << " skip_hw";
  // Keys word by word, exactly as u32 compares them.
  for (const auto& k : u->keys) {
    char buf[96];
    std::snprintf(buf, sizeof buf, " match u32 0x%08x 0x%08x at %s%d", ntohl(k.value), ntohl(k.mask),
                  k.offmask ? "nexthdr+" : "", k.offset);
    out << buf;
  }
  for (const auto& a : u->actions) out << " " << actionText(a, devices);
  return out.str();
}

}  // namespace vfsteer::cli
