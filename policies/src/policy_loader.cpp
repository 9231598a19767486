// Policy v1: YAML → Policy. Structure is checked while reading (types, keys,
// ranges); meaning is checked after (cross-references between fields and
// chains). Both record every problem instead of stopping at the first.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <map>
#include <span>
#include <sstream>

#include <sys/stat.h>

#include "vfsteer/common/names.hpp"
#include "vfsteer/policies/loader.hpp"
#include "yaml_reader.hpp"

namespace vfsteer::policies {
namespace {

using detail::child;
using detail::element;
using detail::YamlNode;
using detail::YamlPath;
using detail::YamlReader;
using detail::YamlStream;

constexpr uint16_t kMaxVfs = 256;
// About 470,000 chains written one per line.
constexpr off_t kMaxPolicyBytes = off_t{64} << 20;

struct NamedNumber {
  std::string_view name;
  uint32_t value;
};

// A word list of vocabulary.hpp in the form readNamedNumber takes.
template <class Number, size_t N>
constexpr std::array<NamedNumber, N> namedNumbers(const std::pair<const char*, Number> (&words)[N]) {
  std::array<NamedNumber, N> out{};
  for (size_t i = 0; i < N; ++i) out[i] = {words[i].first, words[i].second};
  return out;
}

constexpr auto kIpProtocols = namedNumbers(kIpProtocolNames);
constexpr auto kEthertypes = namedNumbers(kEthertypeNames);

bool isValidChainName(const std::string& name) {
  if (name.empty() || name.size() > 32) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
      return false;
  return true;
}

class PolicyReader {
 public:
  explicit PolicyReader(const std::string& file) : r_(file) {}

  // Reads the document from `in`. The chains are read one by one as the
  // parser finishes each: the document is never in memory as a whole.
  Result<Policy> read(std::istream& in) {
    Policy policy;
    policy.file = r_.file();
    const YamlPath chainsPath = "chains";
    YamlStream chains{"chains", [&](const YamlNode& item, size_t i) {
                        Chain c;
                        if (readChain(item, element(chainsPath, i), c)) policy.chains.push_back(std::move(c));
                      }};
    auto doc = r_.parse(in, &chains);
    if (!doc) return r_.toError();
    const YamlNode root = doc->root();
    if (root.IsNull()) {
      r_.errorAt(SourcePos{r_.file(), 1, 1}, "", "the file is empty; a policy needs at least "
                                                  "\"version: 1\" and a \"device\"");
      return r_.toError();
    }
    if (!r_.expectMap(root, "", {"version", "device", "chains"})) return r_.toError();

    if (r_.require(root, "version", "")) {
      auto v = r_.unsignedInt(root["version"], "version", 0, 1000);
      if (v && *v != 1)
        r_.error(root["version"], "version",
                 "this vfsteer reads policy version 1, found version " + std::to_string(*v));
    }
    if (r_.require(root, "device", "")) readDevice(root["device"], policy.device);
    // A list of chains was read while parsing; anything else is reported here.
    if (const auto& c = root["chains"]; c && !c.IsNull()) r_.expectSequence(c, "chains");
    if (r_.failed()) return r_.toError();
    checkPolicy(policy);
    if (r_.failed()) return r_.toError();
    return policy;
  }

 private:
  // ---- device --------------------------------------------------------------

  void readDevice(const YamlNode& node, Device& dev) {
    dev.pos = r_.pos(node);
    if (!r_.expectMap(node, "device",
                      {"pf", "netns", "eswitch", "profile", "bpf_offload", "host_xdp", "host_classifier", "vfs"}))
      return;
    if (r_.require(node, "pf", "device")) {
      if (const auto& pf = r_.string(node["pf"], "device.pf")) {
        if (!names::isInterfaceName(*pf))
          r_.error(node["pf"], "device.pf",
                   names::quoted(*pf) + " is not a valid interface name (1-15 characters, no '/', ':' "
                   "or spaces)");
        dev.pf = *pf;
      }
    }
    if (const auto& n = node["netns"]) {
      if (const auto& ns = r_.string(n, "device.netns")) {
        if (!names::isNetnsName(*ns))
          r_.error(n, "device.netns",
                   names::quoted(*ns) + " is not a network namespace name (1-63 characters, no '/' or spaces)");
        dev.netns = *ns;
      }
    }
    if (const auto& n = node["eswitch"]) {
      if (const auto& m = r_.oneOf(n, "device.eswitch", {"switchdev", "legacy"})) {
        dev.eswitch = *m == "legacy" ? EswitchMode::kLegacy : EswitchMode::kSwitchdev;
        dev.eswitchDeclared = true;
        dev.eswitchPos = r_.pos(n);
      }
    }
    dev.profilePos = dev.pos;
    if (const auto& n = node["profile"]) {
      dev.profilePos = r_.pos(n);
      if (const auto& p = r_.string(n, "device.profile")) dev.profile = *p;
    }
    if (const auto& n = node["bpf_offload"]) {
      if (const auto& h = r_.oneOf(n, "device.bpf_offload", {"cls_bpf", "xdp"})) {
        dev.bpfOffload = *h == "xdp" ? Device::BpfHook::kXdp : Device::BpfHook::kClsBpf;
        dev.bpfOffloadPos = r_.pos(n);
      }
    }
    if (const auto& n = node["host_xdp"])
      if (const auto& v = r_.oneOf(n, "device.host_xdp", {"auto", "off"})) dev.hostXdp = *v == "auto";
    if (const auto& n = node["host_classifier"])
      if (const auto& v = r_.oneOf(n, "device.host_classifier", {"auto", "tables"})) dev.hostSpecialize = *v == "auto";
    if (const auto& vfs = node["vfs"]) {
      if (!r_.expectMap(vfs, "device.vfs", {"count", "settings"})) return;
      dev.vfsDeclared = true;
      if (r_.require(vfs, "count", "device.vfs")) {
        if (const auto& c = r_.unsignedInt(vfs["count"], "device.vfs.count", 0, kMaxVfs))
          dev.vfCount = static_cast<uint16_t>(*c);
      }
      if (const auto& settings = vfs["settings"]) {
        const YamlPath settingsPath = "device.vfs.settings";
        if (!r_.expectSequence(settings, settingsPath)) return;
        for (size_t i = 0; i < settings.size(); ++i) {
          VfSetting s;
          if (readVfSetting(settings[i], element(settingsPath, i), s))
            dev.vfSettings.push_back(std::move(s));
        }
      }
    }
  }

  bool readVfSetting(const YamlNode& node, const YamlPath& path, VfSetting& s) {
    s.pos = r_.pos(node);
    if (!r_.expectMap(node, path,
                      {"vf", "mac", "vlan", "qos", "vlan_proto", "trust", "spoofchk", "link_state",
                       "max_tx_rate_mbps", "min_tx_rate_mbps"}))
      return false;
    bool ok = true;
    if (r_.require(node, "vf", path)) {
      if (const auto& v = r_.unsignedInt(node["vf"], child(path, "vf"), 0, kMaxVfs - 1))
        s.vf = static_cast<uint16_t>(*v);
      else
        ok = false;
    } else {
      ok = false;
    }
    if (const auto& n = node["mac"]) {
      auto text = r_.string(n, child(path, "mac"));
      auto mac = text ? parseMac(*text) : std::nullopt;
      if (text && !mac)
        r_.error(n, child(path, "mac"),
                 names::quoted(*text) + " is not a MAC address; write it as \"02:00:00:00:00:10\"");
      else if (mac && mac->isMulticast())
        r_.error(n, child(path, "mac"), names::quoted(*text) + " is a multicast address; a VF needs a "
                                        "unicast MAC (first byte even)");
      s.mac = mac;
    }
    if (const auto& n = node["vlan"])
      if (const auto& v = r_.unsignedInt(n, child(path, "vlan"), 0, 4094)) s.vlan = static_cast<uint16_t>(*v);
    if (const auto& n = node["qos"])
      if (const auto& v = r_.unsignedInt(n, child(path, "qos"), 0, 7)) s.qos = static_cast<uint8_t>(*v);
    if (const auto& n = node["vlan_proto"])
      if (const auto& v = r_.oneOf(n, child(path, "vlan_proto"), {"802.1q", "802.1ad"}))
        s.vlanProto = *v == "802.1ad" ? VlanProto::k8021AD : VlanProto::k8021Q;
    if ((node["qos"] || node["vlan_proto"]) && !node["vlan"])
      r_.error(node, path, "qos and vlan_proto need a \"vlan\" in the same setting");
    if (const auto& n = node["trust"]) s.trust = r_.boolean(n, child(path, "trust"));
    if (const auto& n = node["spoofchk"]) s.spoofchk = r_.boolean(n, child(path, "spoofchk"));
    if (const auto& n = node["link_state"]) {
      if (const auto& v = r_.oneOf(n, child(path, "link_state"), {"auto", "enable", "disable"}))
        s.linkState = *v == "auto" ? LinkState::kAuto
                                   : (*v == "enable" ? LinkState::kEnable : LinkState::kDisable);
    }
    if (const auto& n = node["max_tx_rate_mbps"])
      if (const auto& v = r_.unsignedInt(n, child(path, "max_tx_rate_mbps"), 0, 400000))
        s.maxTxRateMbps = static_cast<uint32_t>(*v);
    if (const auto& n = node["min_tx_rate_mbps"])
      if (const auto& v = r_.unsignedInt(n, child(path, "min_tx_rate_mbps"), 0, 400000))
        s.minTxRateMbps = static_cast<uint32_t>(*v);
    if (s.maxTxRateMbps && s.minTxRateMbps && *s.maxTxRateMbps != 0 &&
        *s.minTxRateMbps > *s.maxTxRateMbps)
      r_.error(node, path,
               "min_tx_rate_mbps (" + std::to_string(*s.minTxRateMbps) +
                   ") is above max_tx_rate_mbps (" + std::to_string(*s.maxTxRateMbps) + ")");
    return ok;
  }

  // ---- chains --------------------------------------------------------------

  bool readChain(const YamlNode& node, const YamlPath& path, Chain& c) {
    c.pos = r_.pos(node);
    if (!r_.expectMap(node, path, {"name", "priority", "offload", "match", "stages"})) return false;
    bool ok = true;
    if (r_.require(node, "name", path)) {
      if (const auto& n = r_.string(node["name"], child(path, "name"))) {
        c.name = *n;
        if (!isValidChainName(c.name))
          r_.error(node["name"], child(path, "name"),
                   names::quoted(c.name) + " is not a valid chain name (1-32 letters, digits, '_', '-', "
                   "'.')");
      }
    } else {
      ok = false;
    }
    if (r_.require(node, "priority", path)) {
      if (const auto& p = r_.unsignedInt(node["priority"], child(path, "priority"), 1, kMaxChainPriority))
        c.priority = static_cast<uint32_t>(*p);
    }
    if (const auto& n = node["offload"]) {
      if (const auto& m = r_.oneOf(n, child(path, "offload"), {"auto", "skip-sw", "skip-hw"}))
        c.offload = *parseOffloadMode(*m);
    }
    if (const auto& n = node["match"]) {
      readMatch(n, child(path, "match"), c.match);
    } else {
      c.match.pos = c.pos;
    }
    if (r_.require(node, "stages", path)) {
      const YamlNode& stages = node["stages"];
      const YamlPath stagesPath = child(path, "stages");
      if (r_.expectSequence(stages, stagesPath)) {
        if (stages.size() == 0)
          r_.error(stages, stagesPath, "a chain needs at least one stage, ending with deliver or drop");
        for (size_t i = 0; i < stages.size(); ++i) {
          Stage s;
          if (readStage(stages[i], element(stagesPath, i), s))
            c.stages.push_back(std::move(s));
        }
      }
    }
    return ok;
  }

  std::optional<Port> readPort(const YamlNode& node, const YamlPath& path) {
    if (node.IsScalar() && node.Scalar() == "uplink") return Port{};
    if (node.IsMap()) {
      if (!r_.expectMap(node, path, {"vf"})) return std::nullopt;
      if (!r_.require(node, "vf", path)) return std::nullopt;
      if (const auto& v = r_.unsignedInt(node["vf"], child(path, "vf"), 0, kMaxVfs - 1))
        return Port{Port::Kind::kVf, static_cast<uint16_t>(*v)};
      return std::nullopt;
    }
    r_.error(node, path, "expected \"uplink\" or {vf: N}");
    return std::nullopt;
  }

  std::optional<VlanMatch> readVlanMatch(const YamlNode& node, const YamlPath& path,
                                         bool allowProto) {
    VlanMatch v;
    if (node.IsScalar()) {
      if (allowProto && !node.Scalar().empty() && !std::isdigit(static_cast<unsigned char>(node.Scalar()[0]))) {
        r_.error(node, path, names::quoted(node.Scalar()) + " is not a VLAN match; expected an id (1-4094), "
                             "none (untagged frames only) or {id, prio, proto}");
        return std::nullopt;
      }
      if (const auto& id = r_.unsignedInt(node, path, 1, 4094)) {
        v.id = static_cast<uint16_t>(*id);
        return v;
      }
      return std::nullopt;
    }
    bool mapOk = allowProto ? r_.expectMap(node, path, {"id", "prio", "proto"})
                            : r_.expectMap(node, path, {"id", "prio"});
    if (!mapOk) return std::nullopt;
    if (const auto& n = node["id"])
      if (const auto& id = r_.unsignedInt(n, child(path, "id"), 1, 4094)) v.id = static_cast<uint16_t>(*id);
    if (const auto& n = node["prio"])
      if (const auto& p = r_.unsignedInt(n, child(path, "prio"), 0, 7)) v.prio = static_cast<uint8_t>(*p);
    if (const auto& n = node["proto"])
      if (const auto& p = r_.oneOf(n, child(path, "proto"), {"802.1q", "802.1ad"}))
        v.proto = *p == "802.1ad" ? VlanProto::k8021AD : VlanProto::k8021Q;
    if (!v.id && !v.prio) {
      r_.error(node, path, "give at least \"id\" or \"prio\"");
      return std::nullopt;
    }
    return v;
  }

  std::optional<IpPrefix> readPrefix(const YamlNode& node, const YamlPath& path) {
    auto text = r_.string(node, path);
    if (!text) return std::nullopt;
    std::string why;
    auto p = parseIpPrefix(*text, &why);
    if (!p) r_.error(node, path, why + "; expected an address or prefix such as 10.0.0.0/24 or "
                                       "2001:db8::/64");
    return p;
  }

  std::optional<uint32_t> readNamedNumber(const YamlNode& node, const YamlPath& path,
                                          std::span<const NamedNumber> names, uint32_t max,
                                          std::string_view what) {
    if (node.IsScalar()) {
      for (const auto& n : names)
        if (n.name == node.Scalar()) return n.value;
      if (!node.Scalar().empty() && std::isdigit(static_cast<unsigned char>(node.Scalar()[0]))) {
        auto v = r_.unsignedInt(node, path, 0, max);
        return v ? std::optional<uint32_t>(static_cast<uint32_t>(*v)) : std::nullopt;
      }
    }
    std::vector<std::string_view> known;
    std::string list;
    for (const auto& n : names) {
      known.push_back(n.name);
      list += std::string(n.name) + ", ";
    }
    std::string msg = "expected " + std::string(what) + ": one of " + list + "or a number 0.." +
                      std::to_string(max);
    if (node.IsScalar())
      if (const auto& s = detail::suggest(node.Scalar(), known))
        msg = names::quoted(node.Scalar()) + " is unknown; did you mean \"" + *s + "\"? " + msg;
    r_.error(node, path, msg);
    return std::nullopt;
  }

  void readEthertype(const YamlNode& node, const YamlPath& path, Match& m) {
    auto v = readNamedNumber(node, path, kEthertypes, 0xffff, "an ethertype");
    if (!v) return;
    if (*v == 0x0800) {
      m.ipVersion = IpVersion::kV4;
    } else if (*v == 0x86dd) {
      m.ipVersion = IpVersion::kV6;
    } else if (*v == 0x8100 || *v == 0x88a8) {
      r_.error(node, path, "VLAN ethertypes are matched with \"vlan\" (and \"cvlan\"), not "
                           "\"ethertype\"");
    } else if (*v < 0x0600) {
      r_.error(node, path, "ethertype " + std::to_string(*v) +
                               " is an 802.3 length, not an ethertype; expected >= 0x0600");
    } else {
      m.ethertype = static_cast<uint16_t>(*v);
    }
  }

  void readTunnel(const YamlNode& node, const YamlPath& path, Match& m) {
    if (!r_.expectMap(node, path, {"type", "vni", "dst_port", "src_ip", "dst_ip"})) return;
    TunnelMatch t;
    if (!r_.require(node, "type", path)) return;
    auto type = r_.oneOf(node["type"], child(path, "type"), {"vxlan", "geneve"});
    if (!type) return;
    t.type = *parseTunnelType(*type);
    t.dstPort = defaultTunnelPort(t.type);
    if (const auto& n = node["vni"])
      if (const auto& v = r_.unsignedInt(n, child(path, "vni"), 0, 0xffffff)) t.vni = static_cast<uint32_t>(*v);
    if (const auto& n = node["dst_port"])
      if (const auto& v = r_.unsignedInt(n, child(path, "dst_port"), 1, 65535))
        t.dstPort = static_cast<uint16_t>(*v);
    if (const auto& n = node["src_ip"]) t.srcIp = readPrefix(n, child(path, "src_ip"));
    if (const auto& n = node["dst_ip"]) t.dstIp = readPrefix(n, child(path, "dst_ip"));
    if (t.srcIp && t.dstIp && t.srcIp->v6 != t.dstIp->v6)
      r_.error(node, path, "src_ip and dst_ip are of different IP versions");
    m.tunnel = t;
  }

  void readMatch(const YamlNode& node, const YamlPath& path, Match& m) {
    m.pos = r_.pos(node);
    if (node.IsNull()) return;  // "match:" with nothing: everything from the uplink
    if (!r_.expectMap(node, path,
                      {"from", "src_mac", "dst_mac", "ethertype", "vlan", "cvlan", "src_ip",
                       "dst_ip", "ip_proto", "src_port", "dst_port", "tunnel"}))
      return;
    if (const auto& n = node["from"])
      if (const auto& p = readPort(n, child(path, "from"))) m.from = *p;
    for (auto [key, field] : {std::pair{"src_mac", &m.srcMac}, std::pair{"dst_mac", &m.dstMac}}) {
      const auto& n = node[key];
      if (!n) continue;
      auto text = r_.string(n, child(path, key));
      if (!text) continue;
      *field = parseMacMatch(*text);
      if (!*field)
        r_.error(n, child(path, key),
                 names::quoted(*text) + " is not a MAC address; expected \"02:00:00:00:00:10\" or "
                 "\"02:00:00:00:00:00/ff:ff:ff:00:00:00\"");
    }
    if (const auto& n = node["ethertype"]) readEthertype(n, child(path, "ethertype"), m);
    if (const auto& n = node["vlan"]) {
      if (n.IsScalar() && n.Scalar() == "none") m.untagged = true;
      else m.vlan = readVlanMatch(n, child(path, "vlan"), true);
    }
    if (const auto& n = node["cvlan"]) {
      m.cvlan = readVlanMatch(n, child(path, "cvlan"), false);
      if (!node["vlan"] || m.untagged)
        r_.error(n, child(path, "cvlan"), "cvlan is the inner tag of QinQ; it needs \"vlan\" "
                                          "(the outer tag) too, not vlan: none");
    }
    if (const auto& n = node["src_ip"]) m.srcIp = readPrefix(n, child(path, "src_ip"));
    if (const auto& n = node["dst_ip"]) m.dstIp = readPrefix(n, child(path, "dst_ip"));
    if (const auto& n = node["ip_proto"]) {
      if (const auto& v = readNamedNumber(n, child(path, "ip_proto"), kIpProtocols, 255, "an IP protocol"))
        m.ipProto = static_cast<uint8_t>(*v);
    }
    for (auto [key, field] : {std::pair{"src_port", &m.srcPort}, std::pair{"dst_port", &m.dstPort}}) {
      const auto& n = node[key];
      if (!n) continue;
      if (const auto& v = r_.unsignedInt(n, child(path, key), 1, 65535)) *field = static_cast<uint16_t>(*v);
      if (!node["ip_proto"])
        r_.error(n, child(path, key), std::string(key) +
                                          " needs \"ip_proto\" (tcp, udp or sctp) in the same match");
    }
    if (m.ipProto && (m.srcPort || m.dstPort) && *m.ipProto != 6 && *m.ipProto != 17 &&
        *m.ipProto != 132)
      r_.error(node["ip_proto"], child(path, "ip_proto"),
               "ports can only be matched with ip_proto tcp, udp or sctp");
    if (const auto& n = node["tunnel"]) readTunnel(n, child(path, "tunnel"), m);
    resolveIpVersion(node, path, m);
    if (m.untagged && !m.ethertype && m.ipVersion == IpVersion::kNone)
      r_.error(node["vlan"], child(path, "vlan"),
               "vlan: none needs an ethertype or an IP key (src_ip, dst_ip, ip_proto) in the same match: "
               "NIC rules tell untagged frames apart by their ethertype");
  }

  // The IP version follows from the addresses and the ethertype; they must agree.
  void resolveIpVersion(const YamlNode& node, const YamlPath& path, Match& m) {
    IpVersion fromAddr = IpVersion::kNone;
    for (const auto& p : {m.srcIp, m.dstIp}) {
      if (!p) continue;
      IpVersion v = p->v6 ? IpVersion::kV6 : IpVersion::kV4;
      if (fromAddr != IpVersion::kNone && fromAddr != v)
        r_.error(node, path, "src_ip and dst_ip are of different IP versions");
      fromAddr = v;
    }
    if (fromAddr != IpVersion::kNone) {
      if (m.ipVersion != IpVersion::kNone && m.ipVersion != fromAddr)
        r_.error(node["ethertype"], child(path, "ethertype"),
                 "the ethertype says one IP version and the addresses another");
      m.ipVersion = fromAddr;
    }
    if (m.ethertype && (m.srcIp || m.dstIp || m.ipProto))
      r_.error(node["ethertype"], child(path, "ethertype"),
               "IP keys (src_ip, dst_ip, ip_proto) need ethertype ipv4 or ipv6");
    // icmp exists only in IPv4 and icmpv6 only in IPv6: a rule for the other
    // version would never match anything.
    if (m.ipProto && m.ipVersion == IpVersion::kNone)
      m.ipVersion = *m.ipProto == 1 ? IpVersion::kV4 : *m.ipProto == 58 ? IpVersion::kV6 : IpVersion::kAny;
    if (m.ipProto && ((*m.ipProto == 1 && m.ipVersion == IpVersion::kV6) ||
                      (*m.ipProto == 58 && m.ipVersion == IpVersion::kV4)))
      r_.error(node["ip_proto"], child(path, "ip_proto"),
               "icmp is for IPv4 and icmpv6 for IPv6; this match is for the other version");
  }

  // ---- stages --------------------------------------------------------------

  std::optional<Target> readTarget(const YamlNode& node, const YamlPath& path) {
    if (node.IsScalar()) {
      if (node.Scalar() == "host") return Target{TargetKind::kHost, 0};
      if (node.Scalar() == "uplink") return Target{TargetKind::kUplink, 0};
    } else if (node.IsMap() && node.size() == 1) {
      for (auto [key, kind] : {std::pair{"vf", TargetKind::kVf}, std::pair{"queue", TargetKind::kQueue}}) {
        if (const auto& n = node[key]) {
          uint64_t max = kind == TargetKind::kVf ? kMaxVfs - 1 : 65535;
          if (const auto& v = r_.unsignedInt(n, child(path, key), 0, max))
            return Target{kind, static_cast<uint16_t>(*v)};
          return std::nullopt;
        }
      }
      if (!r_.expectMap(node, path, {"vf", "queue"})) return std::nullopt;
    }
    r_.error(node, path, "expected a target: host, uplink, {vf: N} or {queue: N}");
    return std::nullopt;
  }

  bool readStage(const YamlNode& node, const YamlPath& path, Stage& s) {
    s.pos = r_.pos(node);
    static constexpr std::string_view kBare[] = {"vlan_pop", "tunnel_decap", "drop"};
    static const std::vector<std::string_view> kAllStages = {
        "vlan_pop", "vlan_push", "tunnel_decap", "queue", "police",
        "mark",     "mirror",    "drop",         "bpf",   "deliver"};
    std::string kindName;
    YamlNode arg;  // undefined: a bare stage name
    bool hasArg = false;
    if (node.IsScalar()) {
      kindName = node.Scalar();
    } else if (node.IsMap() && node.size() == 1 && node.key(0).IsScalar()) {
      kindName = node.key(0).Scalar();
      arg = node.value(0);
      hasArg = !arg.IsNull();
    } else {
      r_.error(node, path, "expected a stage: a name such as vlan_pop, or a one-key map such as "
                           "{deliver: {vf: 0}}");
      return false;
    }
    auto kind = parseStageKind(kindName);
    if (!kind) {
      std::string msg = "unknown stage " + names::quoted(kindName);
      if (const auto& sug = detail::suggest(kindName, kAllStages)) msg += "; did you mean \"" + *sug + "\"?";
      msg += " (stages: vlan_pop, vlan_push, tunnel_decap, queue, police, mark, mirror, drop, bpf, "
             "deliver)";
      r_.error(node, path, msg);
      return false;
    }
    bool bare = std::find(std::begin(kBare), std::end(kBare), kindName) != std::end(kBare);
    if (bare && hasArg) {
      r_.error(node, path, "stage " + kindName + " takes no arguments; write it as \"- " +
                               kindName + "\"");
      return false;
    }
    if (!bare && !hasArg) {
      r_.error(node, path, "stage " + kindName + " needs an argument, for example " +
                               (kindName == "deliver" ? "{deliver: {vf: 0}}"
                                                      : "{" + kindName + ": ...}"));
      return false;
    }
    const YamlPath argPath = child(path, kindName);
    switch (*kind) {
      case StageKind::kVlanPop: s.op = VlanPopStage{}; return true;
      case StageKind::kTunnelDecap: s.op = TunnelDecapStage{}; return true;
      case StageKind::kDrop: s.op = DropStage{}; return true;
      case StageKind::kVlanPush: {
        VlanPushStage p;
        if (arg.IsScalar()) {
          auto id = r_.unsignedInt(arg, argPath, 1, 4094);
          if (!id) return false;
          p.id = static_cast<uint16_t>(*id);
        } else {
          if (!r_.expectMap(arg, argPath, {"id", "prio", "proto"})) return false;
          if (!r_.require(arg, "id", argPath)) return false;
          auto id = r_.unsignedInt(arg["id"], child(argPath, "id"), 1, 4094);
          if (!id) return false;
          p.id = static_cast<uint16_t>(*id);
          if (const auto& n = arg["prio"])
            if (const auto& v = r_.unsignedInt(n, child(argPath, "prio"), 0, 7)) p.prio = static_cast<uint8_t>(*v);
          if (const auto& n = arg["proto"])
            if (const auto& v = r_.oneOf(n, child(argPath, "proto"), {"802.1q", "802.1ad"}))
              p.proto = *v == "802.1ad" ? VlanProto::k8021AD : VlanProto::k8021Q;
        }
        s.op = p;
        return true;
      }
      case StageKind::kQueue: {
        auto q = r_.unsignedInt(arg, argPath, 0, 65535);
        if (!q) return false;
        s.op = QueueStage{static_cast<uint16_t>(*q)};
        return true;
      }
      case StageKind::kMark: {
        auto m = r_.unsignedInt(arg, argPath, 0, 0xffffffff);
        if (!m) return false;
        s.op = MarkStage{static_cast<uint32_t>(*m)};
        return true;
      }
      case StageKind::kPolice: return readPolice(arg, argPath, s);
      case StageKind::kMirror: {
        auto t = readTarget(arg, argPath);
        if (!t) return false;
        if (t->kind == TargetKind::kQueue || t->kind == TargetKind::kHost) {
          r_.error(arg, argPath, "mirror copies to a port ({vf: N} or uplink), not to " +
                                     t->str());
          return false;
        }
        s.op = MirrorStage{*t};
        return true;
      }
      case StageKind::kDeliver: {
        auto t = readTarget(arg, argPath);
        if (!t) return false;
        s.op = DeliverStage{*t};
        return true;
      }
      case StageKind::kBpf: {
        if (!r_.expectMap(arg, argPath, {"object", "program"})) return false;
        BpfStage b;
        if (!r_.require(arg, "object", argPath) || !r_.require(arg, "program", argPath)) return false;
        auto obj = r_.string(arg["object"], child(argPath, "object"));
        auto prog = r_.string(arg["program"], child(argPath, "program"));
        if (!obj || !prog) return false;
        b.object = *obj;
        b.program = *prog;
        s.op = b;
        return true;
      }
    }
    return false;
  }

  bool readPolice(const YamlNode& arg, const YamlPath& path, Stage& s) {
    if (!r_.expectMap(arg, path, {"rate_mbps", "rate_kbps", "burst_kb"})) return false;
    PoliceStage p;
    bool haveMbps = static_cast<bool>(arg["rate_mbps"]), haveKbps = static_cast<bool>(arg["rate_kbps"]);
    if (haveMbps == haveKbps) {
      r_.error(arg, path, "give exactly one of rate_mbps or rate_kbps");
      return false;
    }
    if (haveMbps) {
      auto v = r_.unsignedInt(arg["rate_mbps"], child(path, "rate_mbps"), 1, 400000);
      if (!v) return false;
      p.rateBitsPerSec = *v * 1000000;
    } else {
      auto v = r_.unsignedInt(arg["rate_kbps"], child(path, "rate_kbps"), 8, 400000000);
      if (!v) return false;
      p.rateBitsPerSec = *v * 1000;
    }
    if (const auto& n = arg["burst_kb"]) {
      auto v = r_.unsignedInt(n, child(path, "burst_kb"), 2, 1048576);
      if (!v) return false;
      p.burstBytes = static_cast<uint32_t>(*v * 1024);
    } else {
      // 10 ms at the rate, but never less than ten full-size frames.
      p.burstBytes = static_cast<uint32_t>(std::max<uint64_t>(15140, p.rateBitsPerSec / 8 / 100));
    }
    s.op = p;
    return true;
  }

  // ---- meaning -------------------------------------------------------------

  void checkPolicy(const Policy& p) {
    std::map<uint16_t, const VfSetting*> vfSeen;
    for (const auto& s : p.device.vfSettings) {
      if (s.vf >= p.device.vfCount)
        r_.errorAt(s.pos, "device.vfs.settings",
                   "vf " + std::to_string(s.vf) + " is past the VF count (" +
                       std::to_string(p.device.vfCount) + "); VFs are numbered 0.." +
                       (p.device.vfCount ? std::to_string(p.device.vfCount - 1) : "(none)"));
      auto [it, fresh] = vfSeen.emplace(s.vf, &s);
      if (!fresh)
        r_.errorAt(s.pos, "device.vfs.settings",
                   "vf " + std::to_string(s.vf) + " already has settings at " + it->second->pos.str());
    }
    std::map<std::string, const Chain*> names;
    std::map<std::pair<Port, uint32_t>, const Chain*> priorities;
    std::map<uint16_t, const Chain*> tunnelPorts;
    for (const auto& c : p.chains) {
      // The datapath recognises a tunnel by its UDP port, so one port can
      // carry only one tunnel type.
      if (c.match.tunnel) {
        auto [tit, freshPort] = tunnelPorts.emplace(c.match.tunnel->dstPort, &c);
        const auto& other = *tit->second->match.tunnel;
        if (!freshPort && other.type != c.match.tunnel->type)
          r_.errorAt(c.match.pos, "chain " + names::quoted(c.name) + " match.tunnel",
                     "UDP port " + std::to_string(c.match.tunnel->dstPort) + " is " +
                         std::string(name(c.match.tunnel->type)) + " here but " +
                         std::string(name(other.type)) + " in chain " + names::quoted(tit->second->name) +
                         "\"; one port carries one tunnel type");
      }
      auto [nit, freshName] = names.emplace(c.name, &c);
      if (!freshName)
        r_.errorAt(c.pos, "chains", "duplicate chain name " + names::quoted(c.name) + " (first at " +
                                        nit->second->pos.str() + ")");
      auto [pit, freshPrio] = priorities.emplace(std::pair{c.match.from, c.priority}, &c);
      if (!freshPrio)
        r_.errorAt(c.pos, "chains",
                   "chain " + names::quoted(c.name) + " has priority " + std::to_string(c.priority) +
                       ", already used by chain " + names::quoted(pit->second->name) + " (" +
                       pit->second->pos.str() + ") for traffic from " + c.match.from.str() +
                       "; priorities decide which chain wins and must be unique per side");
      checkChain(p, c);
      // Legacy mode has no representors: nothing a VF sends passes the host.
      if (c.match.from.kind == Port::Kind::kVf && p.device.eswitchDeclared &&
          p.device.eswitch == EswitchMode::kLegacy)
        r_.errorAt(c.match.pos, "chain " + names::quoted(c.name) + " match.from",
                   "traffic from " + c.match.from.str() + " needs representors, which exist in switchdev mode "
                   "only; set device.eswitch: switchdev, or remove the chain");
    }
  }

  // Without device.vfs the VFs are left as they are, and apply checks the
  // index against the representors it finds.
  // `what` spells where, called only for an error.
  template <class Where>
  void checkVfIndex(const Policy& p, uint16_t vf, const SourcePos& at, const Where& what) {
    if (!p.device.vfsDeclared || vf < p.device.vfCount) return;
    r_.errorAt(at, what(),
               "vf " + std::to_string(vf) + " is past the VF count (device.vfs.count is " +
                   std::to_string(p.device.vfCount) + ")");
  }

  void checkChain(const Policy& p, const Chain& c) {
    // Spelled out only for an error: nearly every chain has none.
    auto where = [&] { return "chain " + names::quoted(c.name); };
    if (c.match.from.kind == Port::Kind::kVf)
      checkVfIndex(p, c.match.from.vf, c.match.pos, [&] { return where() + " match.from"; });
    // Track how many VLAN tags the packet carries at each stage so that no
    // stage pops a tag that is not there. Before tunnel_decap the chain acts
    // on the outer frame, whose tags this match does not describe.
    const bool tunnelled = c.match.tunnel.has_value();
    bool decapped = false;
    int tags = tunnelled ? 0 : c.match.vlanDepth();
    for (size_t i = 0; i < c.stages.size(); ++i) {
      const Stage& s = c.stages[i];
      auto stageWhere = [&] { return where() + " stage " + std::to_string(i) + " (" +
                                     std::string(name(s.kind())) + ")"; };
      const bool last = i + 1 == c.stages.size();
      const bool terminal = s.kind() == StageKind::kDeliver || s.kind() == StageKind::kDrop;
      if (terminal && !last)
        r_.errorAt(s.pos, stageWhere(), "deliver and drop end a chain; the stages after it would "
                                      "never run");
      if (last && !terminal)
        r_.errorAt(s.pos, stageWhere(), "the last stage must be deliver or drop, so that every "
                                      "packet has a destination");
      switch (s.kind()) {
        case StageKind::kVlanPop:
          if (tunnelled && !decapped)
            r_.errorAt(s.pos, stageWhere(), "vlan_pop before tunnel_decap would act on the outer "
                                          "frame, which this match does not describe; put "
                                          "tunnel_decap first");
          else if (tags == 0)
            r_.errorAt(s.pos, stageWhere(), "the packet has no VLAN tag here: add \"vlan\" to the "
                                          "match or a vlan_push before it");
          else
            --tags;
          break;
        case StageKind::kVlanPush:
          if (tunnelled && !decapped)
            r_.errorAt(s.pos, stageWhere(), "vlan_push before tunnel_decap would act on the outer "
                                          "frame; put tunnel_decap first");
          else if (tags >= 2)
            r_.errorAt(s.pos, stageWhere(), "the packet already carries two VLAN tags; vfsteer "
                                          "handles at most two");
          else
            ++tags;
          break;
        case StageKind::kTunnelDecap:
          if (!tunnelled)
            r_.errorAt(s.pos, stageWhere(), "tunnel_decap needs a \"tunnel\" in the match, so "
                                          "that only tunnelled packets reach it");
          else if (decapped)
            r_.errorAt(s.pos, stageWhere(), "the tunnel was already removed by an earlier stage");
          decapped = true;
          tags = c.match.vlanDepth();
          break;
        case StageKind::kDeliver:
        case StageKind::kMirror: {
          const Target& t = s.kind() == StageKind::kDeliver ? std::get<DeliverStage>(s.op).to
                                                             : std::get<MirrorStage>(s.op).to;
          if (t.kind == TargetKind::kVf) checkVfIndex(p, t.index, s.pos, stageWhere);
          if (t.kind == TargetKind::kVf && c.match.from.kind == Port::Kind::kVf &&
              c.match.from.vf == t.index)
            r_.errorAt(s.pos, stageWhere(), "sends traffic from vf" + std::to_string(t.index) +
                                              " back to the same VF; that is a loop");
          if (t.kind == TargetKind::kUplink && c.match.from.kind == Port::Kind::kUplink &&
              s.kind() == StageKind::kDeliver)
            r_.errorAt(s.pos, stageWhere(), "sends traffic from the uplink back out of the uplink; "
                                          "that is a loop");
          break;
        }
        case StageKind::kBpf: {
          const auto& b = std::get<BpfStage>(s.op);
          if (b.program.size() > 63)
            r_.errorAt(s.pos, stageWhere(), "program name is longer than 63 characters");
          break;
        }
        default: break;
      }
    }
  }

 public:
  const std::vector<LoadProblem>& problems() const { return r_.problems(); }

 private:
  YamlReader r_;
};

// Reads `in`, giving the problems one by one too when asked.
Result<Policy> readPolicy(std::istream& in, const std::string& file, std::vector<LoadProblem>* problems) {
  PolicyReader reader(file);
  auto policy = reader.read(in);
  if (!policy.ok() && problems) *problems = reader.problems();
  return policy;
}

}  // namespace

std::string LoadProblem::str() const {
  std::string line = pos.str() + ": ";
  if (!path.empty()) line += path + ": ";
  return line + message;
}

Result<Policy> loadPolicyText(std::string_view text, const std::string& file, std::vector<LoadProblem>* problems) {
  std::istringstream in{std::string(text)};
  return readPolicy(in, file, problems);
}

namespace {

// A policy is a regular file of bounded size: not a device, a pipe or a
// directory, which could be read forever or not at all.
Status checkPolicyFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Error(ErrorCode::kNotFound,
                 "cannot read policy file \"" + path + "\": " + std::strerror(errno) + "; check the path given with -f");
  if (!S_ISREG(st.st_mode))
    return Error(ErrorCode::kInvalidInput, "policy file \"" + path + "\" is not a regular file (" +
                                               (S_ISDIR(st.st_mode)    ? "a directory"
                                                : S_ISFIFO(st.st_mode) ? "a pipe"
                                                : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                                                              : "not a file") +
                                               "); give the path of a YAML file");
  if (st.st_size > kMaxPolicyBytes)
    return Error(ErrorCode::kInvalidInput, "policy file \"" + path + "\" is " + std::to_string(st.st_size >> 20) +
                                               " MiB; vfsteer reads policies of up to " +
                                               std::to_string(kMaxPolicyBytes >> 20) + " MiB");
  return okStatus();
}

Error cannotRead(const std::string& path) {
  return Error(ErrorCode::kNotFound,
               "cannot read policy file \"" + path + "\": " + std::strerror(errno) + "; check the path given with -f");
}

}  // namespace

Result<Policy> loadPolicyFile(const std::string& path, std::vector<LoadProblem>* problems) {
  // Problems with the file as a whole are one problem without a position.
  auto whole = [&](Error e) {
    if (problems) *problems = {LoadProblem{SourcePos{path, 0, 0}, "", e.message()}};
    return e;
  };
  if (Status s = checkPolicyFile(path); !s.ok()) return whole(s.error());
  std::ifstream in(path);
  if (!in) return whole(cannotRead(path));
  return readPolicy(in, path, problems);
}

Result<std::string> readPolicyFileText(const std::string& path) {
  VFSTEER_TRY(checkPolicyFile(path));
  std::ifstream in(path, std::ios::binary);
  if (!in) return cannotRead(path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return cannotRead(path);
  return text.str();
}

}  // namespace vfsteer::policies
