#include "vfsteer/netlink/ethtool_rxnfc.hpp"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

namespace vfsteer::netlink::rxnfc {

namespace {

// One SIOCETHTOOL request; `request` starts with the command.
int ask(int fd, const std::string& ifname, void* request) {
  ifreq req{};
  std::memcpy(req.ifr_name, ifname.c_str(), std::min(ifname.size(), sizeof req.ifr_name - 1));
  req.ifr_data = static_cast<char*>(request);
  return ::ioctl(fd, SIOCETHTOOL, &req) < 0 ? errno : 0;
}

Error failure(int err, const std::string& ifname, const char* what) {
  if (err == ENODEV) return Error(ErrorCode::kNotFound, "no interface named \"" + ifname + "\" in its namespace");
  return Error::fromErrno(err, std::string("ask ethtool for ") + what + " of " + ifname);
}

template <class T>
std::vector<uint8_t> bytesOf(const T& value) {
  std::vector<uint8_t> out(sizeof value);
  std::memcpy(out.data(), &value, sizeof value);
  return out;
}

}  // namespace

std::vector<uint8_t> encodeInsert(const FlowRule& rule) {
  ethtool_rxnfc nfc;
  std::memset(&nfc, 0, sizeof nfc);  // padding too: the bytes are compared with ethtool's
  nfc.cmd = ETHTOOL_SRXCLSRLINS;
  ethtool_rx_flow_spec& fs = nfc.fs;
  if (rule.type == FlowRule::Type::kIp4) {
    fs.flow_type = IP_USER_FLOW;
    fs.h_u.usr_ip4_spec = {rule.srcIp, rule.dstIp, 0, 0, ETH_RX_NFC_IP4, rule.proto};
    fs.m_u.usr_ip4_spec = {rule.srcIpMask, rule.dstIpMask, 0, 0, 0, rule.protoMask};
  } else {
    fs.flow_type = rule.type == FlowRule::Type::kTcp4 ? TCP_V4_FLOW : UDP_V4_FLOW;
    fs.h_u.tcp_ip4_spec = {rule.srcIp, rule.dstIp, rule.srcPort, rule.dstPort, 0};
    fs.m_u.tcp_ip4_spec = {rule.srcIpMask, rule.dstIpMask, rule.srcPortMask, rule.dstPortMask, 0};
  }
  if (rule.drop)
    fs.ring_cookie = RX_CLS_FLOW_DISC;
  else  // the VF field holds the VF's number plus one; 0 is the PF
    fs.ring_cookie = uint64_t{rule.queue} | (rule.vf ? uint64_t{*rule.vf + 1u} << ETHTOOL_RX_FLOW_SPEC_RING_VF_OFF : 0);
  fs.location = rule.location;
  return bytesOf(nfc);
}

std::vector<uint8_t> encodeDelete(uint32_t location) {
  ethtool_rxnfc nfc;
  std::memset(&nfc, 0, sizeof nfc);
  nfc.cmd = ETHTOOL_SRXCLSRLDEL;
  nfc.fs.location = location;
  return bytesOf(nfc);
}

Result<FlowRule> decodeRule(const std::vector<uint8_t>& rxnfc) {
  ethtool_rxnfc nfc;
  if (rxnfc.size() < sizeof nfc)
    return Error(ErrorCode::kInternal, "an ethtool flow rule of " + std::to_string(rxnfc.size()) + " bytes, not " +
                                           std::to_string(sizeof nfc));
  std::memcpy(&nfc, rxnfc.data(), sizeof nfc);
  const ethtool_rx_flow_spec& fs = nfc.fs;
  FlowRule r;
  switch (fs.flow_type & ~(FLOW_EXT | FLOW_MAC_EXT | FLOW_RSS)) {
    case TCP_V4_FLOW:
    case UDP_V4_FLOW: {
      r.type = (fs.flow_type & ~(FLOW_EXT | FLOW_MAC_EXT | FLOW_RSS)) == TCP_V4_FLOW ? FlowRule::Type::kTcp4
                                                                                    : FlowRule::Type::kUdp4;
      const auto& h = fs.h_u.tcp_ip4_spec;
      const auto& m = fs.m_u.tcp_ip4_spec;
      r.srcIp = h.ip4src, r.srcIpMask = m.ip4src, r.dstIp = h.ip4dst, r.dstIpMask = m.ip4dst;
      r.srcPort = h.psrc, r.srcPortMask = m.psrc, r.dstPort = h.pdst, r.dstPortMask = m.pdst;
      break;
    }
    case IP_USER_FLOW: {
      const auto& h = fs.h_u.usr_ip4_spec;
      const auto& m = fs.m_u.usr_ip4_spec;
      r.srcIp = h.ip4src, r.srcIpMask = m.ip4src, r.dstIp = h.ip4dst, r.dstIpMask = m.ip4dst;
      r.proto = h.proto, r.protoMask = m.proto;
      break;
    }
    default:
      return Error(ErrorCode::kNotSupported, "ethtool flow type " + std::to_string(fs.flow_type) +
                                                 " (vfsteer reads tcp4, udp4 and ip4 rules)");
  }
  if (fs.ring_cookie == RX_CLS_FLOW_DISC) {
    r.drop = true;
  } else {
    r.queue = static_cast<uint32_t>(ethtool_get_flow_spec_ring(fs.ring_cookie));
    if (const uint64_t vf = ethtool_get_flow_spec_ring_vf(fs.ring_cookie)) r.vf = static_cast<uint16_t>(vf - 1);
  }
  r.location = fs.location;
  return r;
}

namespace {

std::string ip(uint32_t networkOrder) {
  char out[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &networkOrder, out, sizeof out);
  return out;
}

}  // namespace

std::string ethtoolArgs(const FlowRule& r) {
  std::string out = r.type == FlowRule::Type::kTcp4   ? "flow-type tcp4"
                    : r.type == FlowRule::Type::kUdp4 ? "flow-type udp4"
                                                      : "flow-type ip4";
  auto field = [&out](const char* name, const std::string& value, const std::string& ignored) {
    out += std::string(" ") + name + " " + value;
    if (!ignored.empty()) out += " m " + ignored;
  };
  if (r.srcIpMask) field("src-ip", ip(r.srcIp), r.srcIpMask == 0xffffffff ? "" : ip(~r.srcIpMask));
  if (r.dstIpMask) field("dst-ip", ip(r.dstIp), r.dstIpMask == 0xffffffff ? "" : ip(~r.dstIpMask));
  auto port = [&field](const char* name, uint16_t value, uint16_t mask) {
    if (!mask) return;
    char ignored[8];
    std::snprintf(ignored, sizeof ignored, "0x%x", static_cast<uint16_t>(~ntohs(mask)));
    field(name, std::to_string(ntohs(value)), mask == 0xffff ? "" : ignored);
  };
  port("src-port", r.srcPort, r.srcPortMask);
  port("dst-port", r.dstPort, r.dstPortMask);
  if (r.type == FlowRule::Type::kIp4 && r.protoMask) field("l4proto", std::to_string(r.proto), "");
  if (r.drop)
    out += " action -1";
  else if (r.vf)
    out += " vf " + std::to_string(*r.vf) + " queue " + std::to_string(r.queue);
  else
    out += " action " + std::to_string(r.queue);
  return out + " loc " + std::to_string(r.location);
}

Result<std::optional<FlowRule>> readRule(int fd, const std::string& ifname, uint32_t location) {
  ethtool_rxnfc nfc{};
  nfc.cmd = ETHTOOL_GRXCLSRULE;
  nfc.fs.location = location;
  if (int err = ask(fd, ifname, &nfc)) {
    if (err == ENOENT) return std::optional<FlowRule>();
    return failure(err, ifname, ("the flow rule at location " + std::to_string(location)).c_str());
  }
  VFSTEER_ASSIGN_OR_RETURN(FlowRule rule, decodeRule(bytesOf(nfc)));
  return std::optional<FlowRule>(rule);
}

Status insertRule(int fd, const std::string& ifname, const FlowRule& rule) {
  std::vector<uint8_t> request = encodeInsert(rule);
  if (int err = ask(fd, ifname, request.data()))
    return Error::fromErrno(err, "insert flow rule \"" + ethtoolArgs(rule) + "\" on " + ifname);
  return okStatus();
}

Status deleteRule(int fd, const std::string& ifname, uint32_t location) {
  std::vector<uint8_t> request = encodeDelete(location);
  if (int err = ask(fd, ifname, request.data())) {
    const std::string what = "delete the flow rule at location " + std::to_string(location) + " of " + ifname;
    if (err == ENOENT) return Error(ErrorCode::kNotFound, what + ": no rule there");
    return Error::fromErrno(err, what);
  }
  return okStatus();
}

Result<std::vector<uint32_t>> ruleLocations(int fd, const std::string& ifname) {
  ethtool_rxnfc count{};
  count.cmd = ETHTOOL_GRXCLSRLCNT;
  if (int err = ask(fd, ifname, &count)) {
    if (err == EOPNOTSUPP) return std::vector<uint32_t>{};
    return failure(err, ifname, "the number of flow rules");
  }
  if (count.rule_cnt == 0) return std::vector<uint32_t>{};
  // The locations follow rule_cnt (rule_locs[], before the struct's
  // padding); the driver fails with EMSGSIZE if rules were added since the
  // count.
  constexpr size_t kLocations = offsetof(ethtool_rxnfc, rule_locs);
  for (int attempt = 0; attempt < 3; ++attempt) {
    const uint32_t room = count.rule_cnt + 16;
    std::vector<uint8_t> buf(std::max(sizeof(ethtool_rxnfc), kLocations + room * sizeof(uint32_t)));
    auto* all = reinterpret_cast<ethtool_rxnfc*>(buf.data());
    all->cmd = ETHTOOL_GRXCLSRLALL;
    all->rule_cnt = room;
    if (int err = ask(fd, ifname, buf.data())) {
      if (err == EMSGSIZE) {
        count.rule_cnt = room * 2;
        continue;
      }
      return failure(err, ifname, "the flow rules");
    }
    if (all->rule_cnt > room) return Error(ErrorCode::kInternal, "ethtool listed more flow rules than it had room for");
    std::vector<uint32_t> out(all->rule_cnt);
    std::memcpy(out.data(), buf.data() + kLocations, out.size() * sizeof(uint32_t));
    return out;
  }
  return Error(ErrorCode::kRetryable, "the flow rules of " + ifname + " kept growing while ethtool listed them");
}

}  // namespace vfsteer::netlink::rxnfc
