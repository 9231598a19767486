#include <arpa/inet.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <netlink/msg.h>
#include <netlink/route/link.h>

#include <cstring>
#include <memory>

#include "vfsteer/netlink/link.hpp"

namespace vfsteer::netlink::link {

namespace {

// ---- attribute policies ------------------------------------------------------------
// What vfsteer writes and reads in each link attribute space.

#define VFS_ATTR(type, kind) AttrSpec { type, #type, AttrType::kind }
#define VFS_STRUCT(type, size) AttrSpec { type, #type, AttrType::kBinary, static_cast<uint16_t>(size) }

constexpr AttrSpec kXdpSpecs[] = {
    VFS_ATTR(IFLA_XDP_FD, kU32),          VFS_ATTR(IFLA_XDP_ATTACHED, kU8),
    VFS_ATTR(IFLA_XDP_FLAGS, kU32),       VFS_ATTR(IFLA_XDP_PROG_ID, kU32),
    VFS_ATTR(IFLA_XDP_DRV_PROG_ID, kU32), VFS_ATTR(IFLA_XDP_SKB_PROG_ID, kU32),
    VFS_ATTR(IFLA_XDP_HW_PROG_ID, kU32),  VFS_ATTR(IFLA_XDP_EXPECTED_FD, kU32),
};
constexpr AttrPolicy kXdpPolicy{"XDP", kXdpSpecs};
constexpr AttrSpec kVfVlanListSpecs[] = {VFS_STRUCT(IFLA_VF_VLAN_INFO, sizeof(ifla_vf_vlan_info))};
constexpr AttrPolicy kVfVlanListPolicy{"VF VLAN list", kVfVlanListSpecs};
constexpr AttrSpec kVfSpecs[] = {
    VFS_STRUCT(IFLA_VF_MAC, sizeof(ifla_vf_mac)),
    VFS_STRUCT(IFLA_VF_VLAN, sizeof(ifla_vf_vlan)),
    {IFLA_VF_VLAN_LIST, "IFLA_VF_VLAN_LIST", AttrType::kNested, 0, &kVfVlanListPolicy},
    VFS_STRUCT(IFLA_VF_RATE, sizeof(ifla_vf_rate)),
    VFS_STRUCT(IFLA_VF_SPOOFCHK, sizeof(ifla_vf_spoofchk)),
    VFS_STRUCT(IFLA_VF_TRUST, sizeof(ifla_vf_trust)),
    VFS_STRUCT(IFLA_VF_LINK_STATE, sizeof(ifla_vf_link_state)),
};
constexpr AttrPolicy kVfPolicy{"VF", kVfSpecs};
constexpr AttrSpec kVfListSpecs[] = {{IFLA_VF_INFO, "IFLA_VF_INFO", AttrType::kNested, 0, &kVfPolicy}};
constexpr AttrPolicy kVfListPolicy{"VF list", kVfListSpecs};
constexpr AttrSpec kVxlanSpecs[] = {VFS_ATTR(IFLA_VXLAN_COLLECT_METADATA, kU8), VFS_ATTR(IFLA_VXLAN_LEARNING, kU8),
                                    VFS_ATTR(IFLA_VXLAN_PORT, kU16)};
constexpr AttrSpec kGeneveSpecs[] = {VFS_ATTR(IFLA_GENEVE_ID, kU32), VFS_ATTR(IFLA_GENEVE_LABEL, kU32),
                                     VFS_ATTR(IFLA_GENEVE_TTL, kU8),  VFS_ATTR(IFLA_GENEVE_TOS, kU8),
                                     VFS_ATTR(IFLA_GENEVE_PORT, kU16), VFS_ATTR(IFLA_GENEVE_COLLECT_METADATA, kFlag)};
constexpr AttrSpec kVethSpecs[] = {VFS_STRUCT(VETH_INFO_PEER, sizeof(ifinfomsg))};
constexpr AttrPolicy kVxlanPolicy{"vxlan", kVxlanSpecs};
constexpr AttrPolicy kGenevePolicy{"geneve", kGeneveSpecs};
constexpr AttrPolicy kVethPolicy{"veth", kVethSpecs};
constexpr KindChoice kLinkKinds[] = {{"vxlan", &kVxlanPolicy}, {"geneve", &kGenevePolicy}, {"veth", &kVethPolicy}};
// ip sends the kind without its NUL: a binary here.
constexpr AttrSpec kLinkInfoSpecs[] = {
    VFS_STRUCT(IFLA_INFO_KIND, 0),
    {IFLA_INFO_DATA, "IFLA_INFO_DATA", AttrType::kNested, 0, nullptr, IFLA_INFO_KIND, kLinkKinds},
};
constexpr AttrPolicy kLinkInfoPolicy{"link info", kLinkInfoSpecs};
constexpr AttrSpec kLinkSpecs[] = {
    VFS_ATTR(IFLA_IFNAME, kString),
    VFS_STRUCT(IFLA_ADDRESS, 0),  // 6 bytes on Ethernet, other lengths elsewhere
    VFS_ATTR(IFLA_EXT_MASK, kU32),
    VFS_ATTR(IFLA_NET_NS_FD, kU32),
    {IFLA_LINKINFO, "IFLA_LINKINFO", AttrType::kNested, 0, &kLinkInfoPolicy},
    {IFLA_VFINFO_LIST, "IFLA_VFINFO_LIST", AttrType::kNested, 0, &kVfListPolicy},
    {IFLA_XDP, "IFLA_XDP", AttrType::kNested, 0, &kXdpPolicy},
};
constexpr AttrPolicy kLinkPolicy{"link", kLinkSpecs};

#undef VFS_ATTR
#undef VFS_STRUCT


ifinfomsg linkHeader(int ifindex) {
  ifinfomsg h{};
  h.ifi_family = AF_UNSPEC;
  h.ifi_index = ifindex;
  return h;
}

template <class T>
T vfStruct(uint32_t vf) {
  T s{};
  s.vf = vf;
  return s;
}

}  // namespace

Message encodeSetVf(int ifindex, const VfConfig& c) {
  Message m(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK);
  m.setPolicy(&kLinkPolicy);
  m.putHeader(linkHeader(ifindex));
  auto list = m.nest(IFLA_VFINFO_LIST);
  auto info = m.nest(IFLA_VF_INFO);
  if (c.mac) {
    auto mac = vfStruct<ifla_vf_mac>(c.vf);
    std::memcpy(mac.mac, c.mac->data(), 6);
    m.putStruct(IFLA_VF_MAC, mac);
  }
  if (c.vlan) {
    // iproute2 uses the older single-VLAN attribute unless a protocol other
    // than 802.1Q is asked for.
    if (c.vlan->protocol == 0x8100) {
      auto v = vfStruct<ifla_vf_vlan>(c.vf);
      v.vlan = c.vlan->id;
      v.qos = c.vlan->qos;
      m.putStruct(IFLA_VF_VLAN, v);
    } else {
      auto vlans = m.nest(IFLA_VF_VLAN_LIST);
      auto v = vfStruct<ifla_vf_vlan_info>(c.vf);
      v.vlan = c.vlan->id;
      v.qos = c.vlan->qos;
      v.vlan_proto = htons(c.vlan->protocol);
      m.putStruct(IFLA_VF_VLAN_INFO, v);
    }
  }
  if (c.spoofchk) {
    auto s = vfStruct<ifla_vf_spoofchk>(c.vf);
    s.setting = *c.spoofchk ? 1 : 0;
    m.putStruct(IFLA_VF_SPOOFCHK, s);
  }
  if (c.trust) {
    auto t = vfStruct<ifla_vf_trust>(c.vf);
    t.setting = *c.trust ? 1 : 0;
    m.putStruct(IFLA_VF_TRUST, t);
  }
  if (c.linkState) {
    auto s = vfStruct<ifla_vf_link_state>(c.vf);
    s.link_state = static_cast<uint32_t>(*c.linkState);
    m.putStruct(IFLA_VF_LINK_STATE, s);
  }
  // iproute2 adds the rates last: it may have to read the VF's current rate
  // first when only one of min/max is given.
  if (c.rate) {
    auto r = vfStruct<ifla_vf_rate>(c.vf);
    r.min_tx_rate = c.rate->minMbps;
    r.max_tx_rate = c.rate->maxMbps;
    m.putStruct(IFLA_VF_RATE, r);
  }
  return m;
}

Message encodeGetLink(const std::string& name) {
  Message m(RTM_GETLINK, NLM_F_REQUEST);
  m.setPolicy(&kLinkPolicy);
  m.putHeader(linkHeader(0));
  m.putU32(IFLA_EXT_MASK, RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS);
  m.putStrz(IFLA_IFNAME, name);
  return m;
}

Message encodeGetLink(int ifindex) {
  // Like "ip link show", no ack: the reply itself ends the request.
  Message m(RTM_GETLINK, NLM_F_REQUEST);
  m.setPolicy(&kLinkPolicy);
  m.putHeader(linkHeader(ifindex));
  m.putU32(IFLA_EXT_MASK, RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS);
  return m;
}

Message encodeDumpLinks() {
  Message m(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP);
  m.setPolicy(&kLinkPolicy);
  m.putHeader(linkHeader(0));
  m.putU32(IFLA_EXT_MASK, RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS);
  return m;
}

Message encodeCreateVeth(const VethSpec& spec) {
  Message m(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  m.setPolicy(&kLinkPolicy);
  m.putHeader(linkHeader(0));
  if (spec.mac) m.put(IFLA_ADDRESS, spec.mac->data(), 6);
  m.putStrz(IFLA_IFNAME, spec.name);
  auto info = m.nest(IFLA_LINKINFO);
  m.put(IFLA_INFO_KIND, "veth", 4);  // ip sends the kind without its NUL
  auto data = m.nest(IFLA_INFO_DATA);
  // VETH_INFO_PEER carries a whole ifinfomsg followed by the peer's attributes.
  auto peer = m.nest(VETH_INFO_PEER);
  ifinfomsg peerHeader = linkHeader(0);
  m.putRaw(&peerHeader, sizeof peerHeader);
  if (spec.peerMac) m.put(IFLA_ADDRESS, spec.peerMac->data(), 6);
  m.putStrz(IFLA_IFNAME, spec.peer);
  if (spec.peerNetnsFd >= 0) m.putU32(IFLA_NET_NS_FD, static_cast<uint32_t>(spec.peerNetnsFd));
  return m;
}

Message encodeCreateTunnel(TunnelKind kind, const std::string& name, uint16_t port) {
  Message m(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  m.setPolicy(&kLinkPolicy);
  m.putHeader(linkHeader(0));
  m.putStrz(IFLA_IFNAME, name);
  auto info = m.nest(IFLA_LINKINFO);
  // The attributes ip(8) sends for "external": metadata mode, and the
  // defaults it spells out (no learning; VNI, label, TTL and TOS zero).
  if (kind == TunnelKind::kVxlan) {
    m.put(IFLA_INFO_KIND, "vxlan", 5);
    auto data = m.nest(IFLA_INFO_DATA);
    m.putU8(IFLA_VXLAN_COLLECT_METADATA, 1);
    m.putU8(IFLA_VXLAN_LEARNING, 0);
    m.putBe16(IFLA_VXLAN_PORT, htons(port));
  } else {
    m.put(IFLA_INFO_KIND, "geneve", 6);
    auto data = m.nest(IFLA_INFO_DATA);
    m.putU32(IFLA_GENEVE_ID, 0);
    m.putU32(IFLA_GENEVE_LABEL, 0);
    m.putU8(IFLA_GENEVE_TTL, 0);
    m.putU8(IFLA_GENEVE_TOS, 0);
    m.putBe16(IFLA_GENEVE_PORT, htons(port));
    m.putFlag(IFLA_GENEVE_COLLECT_METADATA);
  }
  return m;
}

Message encodeSetXdp(int ifindex, int fd, XdpMode mode, std::optional<int> expectedFd) {
  Message m(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK);
  m.setPolicy(&kLinkPolicy);
  m.putHeader(linkHeader(ifindex));
  auto xdp = m.nest(IFLA_XDP);
  m.putU32(IFLA_XDP_FD, static_cast<uint32_t>(fd));
  uint32_t flags = mode == XdpMode::kOffload  ? XDP_FLAGS_HW_MODE
                   : mode == XdpMode::kDriver ? XDP_FLAGS_DRV_MODE
                                              : XDP_FLAGS_SKB_MODE;
  if (expectedFd) {
    flags |= XDP_FLAGS_REPLACE;
    m.putU32(IFLA_XDP_EXPECTED_FD, static_cast<uint32_t>(*expectedFd));
  } else if (fd >= 0) {
    flags |= XDP_FLAGS_UPDATE_IF_NOEXIST;
  }
  m.putU32(IFLA_XDP_FLAGS, flags);
  return m;
}

Message encodeSetUp(int ifindex, bool up) {
  Message m(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK);
  m.setPolicy(&kLinkPolicy);
  ifinfomsg h = linkHeader(ifindex);
  h.ifi_change = IFF_UP;
  h.ifi_flags = up ? IFF_UP : 0;
  m.putHeader(h);
  return m;
}

Message encodeSetNetns(int ifindex, int netnsFd) {
  Message m(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK);
  m.setPolicy(&kLinkPolicy);
  m.putHeader(linkHeader(ifindex));
  m.putU32(IFLA_NET_NS_FD, static_cast<uint32_t>(netnsFd));
  return m;
}

Message encodeDeleteLink(int ifindex) {
  Message m(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK);
  m.setPolicy(&kLinkPolicy);
  m.putHeader(linkHeader(ifindex));
  return m;
}

namespace {

struct NlMsgDeleter {
  void operator()(nl_msg* m) const { nlmsg_free(m); }
};
struct NlObjectDeleter {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};

void keepLink(nl_object* obj, void* arg) {
  auto* out = static_cast<rtnl_link**>(arg);
  nl_object_get(obj);
  *out = reinterpret_cast<rtnl_link*>(obj);
}

}  // namespace

namespace {

// libnl does not model IFLA_XDP; read it directly.
Status decodeXdp(const AttrTable& t, LinkInfo& info) {
  auto xdpAttr = t.get(IFLA_XDP);
  if (!xdpAttr) return okStatus();
  VFSTEER_ASSIGN_OR_RETURN(AttrTable xdp, AttrTable::ofNest(*xdpAttr, kXdpPolicy));
  auto id = [&](uint16_t type) { return xdp.get(type) ? xdp.get(type)->u32() : 0u; };
  const uint8_t attached = xdp.get(IFLA_XDP_ATTACHED) ? xdp.get(IFLA_XDP_ATTACHED)->u8() : 0;
  info.xdpDriverProgId = id(IFLA_XDP_DRV_PROG_ID);
  info.xdpGenericProgId = id(IFLA_XDP_SKB_PROG_ID);
  info.xdpOffloadProgId = id(IFLA_XDP_HW_PROG_ID);
  // With one program attached the kernel sends only IFLA_XDP_PROG_ID and
  // the mode.
  const uint32_t only = id(IFLA_XDP_PROG_ID);
  if (attached == XDP_ATTACHED_DRV) info.xdpDriverProgId = only;
  if (attached == XDP_ATTACHED_SKB) info.xdpGenericProgId = only;
  if (attached == XDP_ATTACHED_HW) info.xdpOffloadProgId = only;
  return okStatus();
}

// VF info read directly too: libnl 3.7 dereferences a missing VLAN list when
// a VF's attributes are malformed (found by fuzz/netlink_decoders_fuzz).
Status decodeVfs(const AttrTable& t, LinkInfo& info) {
  auto list = t.get(IFLA_VFINFO_LIST);
  if (!list) return okStatus();
  VFSTEER_ASSIGN_OR_RETURN(AttrTable vfs, AttrTable::ofNest(*list, kVfListPolicy));
  for (const Attr& entry : vfs.all()) {
    if (entry.type() != IFLA_VF_INFO) continue;
    VFSTEER_ASSIGN_OR_RETURN(AttrTable a, AttrTable::ofNest(entry, kVfPolicy));
    VfInfo v;
    auto mac = a.get(IFLA_VF_MAC) ? a.get(IFLA_VF_MAC)->as<ifla_vf_mac>() : std::nullopt;
    if (!mac) return Error(ErrorCode::kInternal, "a VF entry without IFLA_VF_MAC");
    v.vf = mac->vf;
    std::memcpy(v.mac.data(), mac->mac, v.mac.size());
    std::optional<ifla_vf_vlan_info> vlanInfo;
    if (auto vl = a.get(IFLA_VF_VLAN_LIST)) {
      VFSTEER_ASSIGN_OR_RETURN(AttrTable vlans, AttrTable::ofNest(*vl, kVfVlanListPolicy));
      if (auto first = vlans.get(IFLA_VF_VLAN_INFO)) vlanInfo = first->as<ifla_vf_vlan_info>();
    }
    if (vlanInfo) {
      v.vlan.id = static_cast<uint16_t>(vlanInfo->vlan);
      v.vlan.qos = static_cast<uint8_t>(vlanInfo->qos);
      v.vlan.protocol = ntohs(vlanInfo->vlan_proto);
    } else if (auto old = a.get(IFLA_VF_VLAN) ? a.get(IFLA_VF_VLAN)->as<ifla_vf_vlan>() : std::nullopt) {
      v.vlan.id = static_cast<uint16_t>(old->vlan);
      v.vlan.qos = static_cast<uint8_t>(old->qos);
    }
    if (v.vlan.protocol == 0) v.vlan.protocol = 0x8100;
    if (auto rate = a.get(IFLA_VF_RATE) ? a.get(IFLA_VF_RATE)->as<ifla_vf_rate>() : std::nullopt) {
      v.rate.minMbps = rate->min_tx_rate;
      v.rate.maxMbps = rate->max_tx_rate;
    }
    if (auto sc = a.get(IFLA_VF_SPOOFCHK) ? a.get(IFLA_VF_SPOOFCHK)->as<ifla_vf_spoofchk>() : std::nullopt)
      v.spoofchk = sc->setting != 0;
    if (auto tr = a.get(IFLA_VF_TRUST) ? a.get(IFLA_VF_TRUST)->as<ifla_vf_trust>() : std::nullopt)
      v.trust = tr->setting != 0;
    if (auto ls = a.get(IFLA_VF_LINK_STATE) ? a.get(IFLA_VF_LINK_STATE)->as<ifla_vf_link_state>() : std::nullopt)
      v.linkState = static_cast<VfLinkState>(ls->link_state);
    info.vfs.push_back(v);
  }
  return okStatus();
}

}  // namespace

Result<LinkInfo> decodeLink(const RawMessage& raw) {
  VFSTEER_TRY(checkedHeader(raw, sizeof(ifinfomsg)));
  auto* nlh = reinterpret_cast<nlmsghdr*>(const_cast<uint8_t*>(raw.data()));
  if (nlh->nlmsg_type != RTM_NEWLINK) return Error(ErrorCode::kInternal, "not a link message");
  // libnl parses a message it owns; nlmsg_convert copies ours.
  std::unique_ptr<nl_msg, NlMsgDeleter> msg(nlmsg_convert(nlh));
  if (!msg) return Error(ErrorCode::kInternal, "libnl could not copy the link message");
  nlmsg_set_proto(msg.get(), NETLINK_ROUTE);  // selects libnl's link parser
  rtnl_link* parsed = nullptr;
  int rc = nl_msg_parse(msg.get(), keepLink, &parsed);
  if (rc < 0 || !parsed)
    return Error(ErrorCode::kInternal, std::string("libnl could not parse the link: ") + nl_geterror(rc));
  std::unique_ptr<rtnl_link, NlObjectDeleter> link(parsed);

  LinkInfo info;
  info.ifindex = rtnl_link_get_ifindex(link.get());
  if (const char* n = rtnl_link_get_name(link.get())) info.name = n;
  if (const char* k = rtnl_link_get_type(link.get())) info.kind = k;
  if (const char* p = rtnl_link_get_phys_port_name(link.get())) info.physPortName = p;
  if (nl_data* sw = rtnl_link_get_phys_switch_id(link.get())) {
    auto* bytes = static_cast<const uint8_t*>(nl_data_get(sw));
    info.physSwitchId.assign(bytes, bytes + nl_data_get_size(sw));
  }
  info.up = rtnl_link_get_flags(link.get()) & IFF_UP;
  info.mtu = rtnl_link_get_mtu(link.get());

  VFSTEER_ASSIGN_OR_RETURN(AttrTable attrs, AttrTable::ofMessage(raw, sizeof(ifinfomsg), kLinkPolicy));
  VFSTEER_TRY(decodeVfs(attrs, info));
  VFSTEER_TRY(decodeXdp(attrs, info));
  return info;
}

const AttrPolicy& attrPolicy() { return kLinkPolicy; }

}  // namespace vfsteer::netlink::link
