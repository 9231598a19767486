#include "vfsteer/representors/lab.hpp"

#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "vfsteer/netlink/link.hpp"
#include "vfsteer/netlink/socket.hpp"

namespace vfsteer::representors::lab {

namespace fs = std::filesystem;
using nlohmann::json;
using netlink::Netns;
using netlink::Socket;

std::string vfNetns(int vf) { return "vfs-vf" + std::to_string(vf); }
std::string vfIfname(int vf) { return "vf" + std::to_string(vf); }
std::string repIfname(int vf) { return "pf0vf" + std::to_string(vf); }

std::array<uint8_t, 6> vfMac(int vf) {
  return {0x02, 0, 0, 0, static_cast<uint8_t>(vf >> 4), static_cast<uint8_t>(0x10 + (vf & 0x0f))};
}
std::array<uint8_t, 6> wireMac() { return {0x02, 0, 0, 0, 0, 0xfe}; }
std::array<uint8_t, 6> uplinkMac() { return {0x02, 0, 0, 0, 0, 0xff}; }

namespace {

std::array<uint8_t, 6> repMac(int vf) {
  auto m = vfMac(vf);
  m[4] |= 0x01;  // 02:00:00:00:01:1K: the host side of vf K
  return m;
}

std::vector<std::string> labNamespaces(int vfs) {
  std::vector<std::string> out{kWireNetns, kHostNetns};
  for (int i = 0; i < vfs; ++i) out.push_back(vfNetns(i));
  return out;
}

// Writes a sysctl of a namespace (net.* sysctls are per namespace, resolved
// by the opener's namespace, so the write happens on a thread inside it).
vfsteer::Status writeSysctl(const Netns& ns, const std::string& path, const std::string& value) {
  return ns.runInside([&]() -> vfsteer::Status {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return Error::fromErrno(errno, "open " + path);
    ssize_t n = ::write(fd, value.data(), value.size());
    int err = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(value.size())) return Error::fromErrno(err, "write " + path);
    return okStatus();
  });
}

Result<int> ifindexIn(Socket& sock, const std::string& name) {
  VFSTEER_ASSIGN_OR_RETURN(auto reply, sock.request(netlink::link::encodeGetLink(name)));
  if (reply.replies.empty()) return Error(ErrorCode::kNotFound, name + " not found");
  VFSTEER_ASSIGN_OR_RETURN(auto info, netlink::link::decodeLink(reply.replies[0]));
  return info.ifindex;
}

// Brings `name` up in `ns`, with IPv6 off so that the lab's links carry only
// the traffic people send (no router solicitations, no MLD reports).
vfsteer::Status bringUp(const Netns& ns, Socket& sock, const std::string& name) {
  VFSTEER_TRY(writeSysctl(ns, "/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6", "1"));
  VFSTEER_ASSIGN_OR_RETURN(int ifindex, ifindexIn(sock, name));
  VFSTEER_TRY(sock.request(netlink::link::encodeSetUp(ifindex, true)));
  return okStatus();
}

// Turns GRO on for `name` in `ns`. A veth takes frames that XDP on its peer
// redirects to it only with NAPI, which GRO switches on (veth_xdp_xmit
// drops them otherwise); the lab's VF and wire ends stand in for devices
// that always take what the eswitch sends them.
vfsteer::Status enableGro(const Netns& ns, const std::string& name) {
  return ns.runInside([&]() -> vfsteer::Status {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Error::fromErrno(errno, "socket for ethtool");
    ethtool_value value{};
    value.cmd = ETHTOOL_SGRO;
    value.data = 1;
    ifreq req{};
    std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
    req.ifr_data = reinterpret_cast<char*>(&value);
    int rc = ::ioctl(fd, SIOCETHTOOL, &req);
    int err = errno;
    ::close(fd);
    if (rc != 0) return Error::fromErrno(err, "turn GRO on for " + name);
    return okStatus();
  });
}

vfsteer::Status writeState(const Paths& paths, int vfs) {
  json doc{{"vfsteer_lab", 1}, {"vfs", vfs}, {"namespaces", labNamespaces(vfs)}};
  VFSTEER_TRY(vfsteer::paths::makePrivateDirs(fs::path(paths.stateFile).parent_path().string()));
  std::ofstream out(paths.stateFile);
  if (!out) return Error(ErrorCode::kInternal, "cannot write " + paths.stateFile);
  out << doc.dump(2) << "\n";
  return okStatus();
}

Result<json> readState(const Paths& paths) {
  std::ifstream in(paths.stateFile);
  if (!in) return json();
  json doc = json::parse(in, nullptr, false);
  if (doc.is_discarded() || !doc.contains("namespaces"))
    return Error(ErrorCode::kInvalidInput, paths.stateFile + " is not a lab state file");
  return doc;
}

vfsteer::Status build(int vfs, const Paths& paths, std::vector<std::string>& made) {
  for (const auto& name : labNamespaces(vfs)) {
    VFSTEER_TRY(Netns::create(name));
    made.push_back(name);
  }
  VFSTEER_ASSIGN_OR_RETURN(Netns host, Netns::byName(kHostNetns));
  VFSTEER_ASSIGN_OR_RETURN(Netns wire, Netns::byName(kWireNetns));
  VFSTEER_ASSIGN_OR_RETURN(Socket hostSock, Socket::open(NETLINK_ROUTE, &host));
  VFSTEER_ASSIGN_OR_RETURN(Socket wireSock, Socket::open(NETLINK_ROUTE, &wire));

  // uplink0 (vfs-host) <-> wire0 (vfs-wire)
  netlink::link::VethSpec uplink{kUplink, kWire, uplinkMac(), wireMac(), wire.fd()};
  VFSTEER_TRY(hostSock.request(netlink::link::encodeCreateVeth(uplink)));
  VFSTEER_TRY(bringUp(host, hostSock, kUplink));
  VFSTEER_TRY(bringUp(wire, wireSock, kWire));
  VFSTEER_TRY(enableGro(wire, kWire));

  Topology topo;
  topo.netns = kHostNetns;
  topo.pf = kUplink;
  topo.driver = "veth";
  topo.eswitch = "switchdev";
  for (int i = 0; i < vfs; ++i) {
    // pf0vfK (vfs-host) <-> vfK (vfs-vfK)
    VFSTEER_ASSIGN_OR_RETURN(Netns vfns, Netns::byName(vfNetns(i)));
    VFSTEER_ASSIGN_OR_RETURN(Socket vfSock, Socket::open(NETLINK_ROUTE, &vfns));
    netlink::link::VethSpec pair{repIfname(i), vfIfname(i), repMac(i), vfMac(i), vfns.fd()};
    VFSTEER_TRY(hostSock.request(netlink::link::encodeCreateVeth(pair)));
    VFSTEER_TRY(bringUp(host, hostSock, repIfname(i)));
    VFSTEER_TRY(bringUp(vfns, vfSock, vfIfname(i)));
    VFSTEER_TRY(enableGro(vfns, vfIfname(i)));
    Representor r;
    r.vf = static_cast<uint16_t>(i);
    r.ifname = repIfname(i);
    r.vfNetns = vfNetns(i);
    r.vfIfname = vfIfname(i);
    topo.reps.push_back(r);
  }
  VFSTEER_TRY(writeTopologyFile(paths.topologyDir + "/" + kUplink + ".json", topo));
  return writeState(paths, vfs);
}

}  // namespace

vfsteer::Status up(int vfs, const Paths& paths) {
  if (vfs < 1 || vfs > kMaxVfs)
    return Error(ErrorCode::kInvalidInput,
                 "--vfs " + std::to_string(vfs) + " is out of range; expected 1.." + std::to_string(kMaxVfs));
  VFSTEER_ASSIGN_OR_RETURN(json state, readState(paths));
  if (!state.is_null())
    return Error(ErrorCode::kExists, "the lab is already up with " + std::to_string(state.value("vfs", 0)) +
                                         " VFs; run \"vfsteer lab down\" first");
  for (const auto& name : labNamespaces(vfs))
    if (Netns::exists(name))
      return Error(ErrorCode::kConflict, "network namespace " + name +
                                             " exists but the lab did not make it; remove it or "
                                             "choose another machine");
  std::vector<std::string> made;
  vfsteer::Status built = build(vfs, paths, made);
  if (!built.ok()) {
    // Leave nothing behind: the namespaces take their links with them.
    for (auto it = made.rbegin(); it != made.rend(); ++it) (void)Netns::remove(*it);
    ::unlink((paths.topologyDir + "/" + kUplink + ".json").c_str());
    ::unlink(paths.stateFile.c_str());
    return std::move(built).error().addContext("lab up");
  }
  return okStatus();
}

vfsteer::Status down(const Paths& paths) {
  VFSTEER_ASSIGN_OR_RETURN(json state, readState(paths));
  if (state.is_null()) return okStatus();
  for (const auto& name : state["namespaces"]) VFSTEER_TRY(Netns::remove(name.get<std::string>()));
  ::unlink((paths.topologyDir + "/" + kUplink + ".json").c_str());
  ::unlink(paths.stateFile.c_str());
  ::rmdir(paths.topologyDir.c_str());  // only if no other topology file is in it
  return okStatus();
}

Result<LabState> status(const Paths& paths) {
  VFSTEER_ASSIGN_OR_RETURN(json state, readState(paths));
  LabState s;
  if (state.is_null()) return s;
  s.up = true;
  s.vfs = state.value("vfs", 0);
  for (const auto& name : state["namespaces"]) {
    s.namespaces.push_back(name.get<std::string>());
    if (!Netns::exists(name.get<std::string>())) s.missing.push_back(name.get<std::string>());
  }
  return s;
}

}  // namespace vfsteer::representors::lab
