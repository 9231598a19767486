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

#include <cctype>
#include <cstring>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "vfsteer/common/names.hpp"
#include "vfsteer/netlink/link.hpp"
#include "vfsteer/netlink/socket.hpp"

namespace vfsteer::representors::lab {

namespace fs = std::filesystem;
using nlohmann::json;
using netlink::Netns;
using netlink::Socket;

Status checkName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= kMaxNameLength;
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
  if (ok) return okStatus();
  return Error(ErrorCode::kInvalidInput, "lab name " + names::quoted(name) + " must be 1-" +
                                             std::to_string(kMaxNameLength) +
                                             " letters, digits, '-' or '_', e.g. vfs or test1");
}

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

std::vector<std::string> labNamespaces(const Lab& lab, int vfs) {
  std::vector<std::string> out{lab.wireNetns(), lab.hostNetns()};
  for (int i = 0; i < vfs; ++i) out.push_back(lab.vfNetns(i));
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

vfsteer::Status writeState(const Lab& lab, int vfs) {
  json doc{{"vfsteer_lab", 1}, {"name", lab.name}, {"vfs", vfs}, {"namespaces", labNamespaces(lab, vfs)}};
  const std::string file = lab.stateFile();
  VFSTEER_TRY(vfsteer::paths::makePrivateDirs(fs::path(file).parent_path().string()));
  std::ofstream out(file);
  if (!out) return Error(ErrorCode::kInternal, "cannot write " + file);
  out << doc.dump(2) << "\n";
  return okStatus();
}

Result<json> readState(const Lab& lab) {
  VFSTEER_TRY(checkName(lab.name));
  const std::string file = lab.stateFile();
  std::ifstream in(file);
  if (!in) return json();
  json doc = json::parse(in, nullptr, false);
  if (doc.is_discarded() || !doc.contains("namespaces"))
    return Error(ErrorCode::kInvalidInput, file + " is not a lab state file");
  return doc;
}

// Removes the lab's files and the directories they leave empty.
void removeFiles(const Lab& lab) {
  const fs::path topology = lab.topologyFile(), state = lab.stateFile();
  ::unlink(topology.c_str());
  ::rmdir(topology.parent_path().c_str());
  ::rmdir(topology.parent_path().parent_path().c_str());
  ::unlink(state.c_str());
  ::rmdir(state.parent_path().c_str());
}

vfsteer::Status build(const Lab& lab, int vfs, std::vector<std::string>& made) {
  for (const auto& name : labNamespaces(lab, vfs)) {
    VFSTEER_TRY(Netns::create(name));
    made.push_back(name);
  }
  VFSTEER_ASSIGN_OR_RETURN(Netns host, Netns::byName(lab.hostNetns()));
  VFSTEER_ASSIGN_OR_RETURN(Netns wire, Netns::byName(lab.wireNetns()));
  VFSTEER_ASSIGN_OR_RETURN(Socket hostSock, Socket::open(NETLINK_ROUTE, &host));
  VFSTEER_ASSIGN_OR_RETURN(Socket wireSock, Socket::open(NETLINK_ROUTE, &wire));

  // uplink0 (NAME-host) <-> wire0 (NAME-wire)
  netlink::link::VethSpec uplink{kUplink, kWire, uplinkMac(), wireMac(), wire.fd()};
  VFSTEER_TRY(hostSock.request(netlink::link::encodeCreateVeth(uplink)));
  VFSTEER_TRY(bringUp(host, hostSock, kUplink));
  VFSTEER_TRY(bringUp(wire, wireSock, kWire));
  VFSTEER_TRY(enableGro(wire, kWire));

  Topology topo;
  topo.netns = lab.hostNetns();
  topo.pf = kUplink;
  topo.driver = "veth";
  topo.eswitch = "switchdev";
  for (int i = 0; i < vfs; ++i) {
    // pf0vfK (NAME-host) <-> vfK (NAME-vfK)
    VFSTEER_ASSIGN_OR_RETURN(Netns vfns, Netns::byName(lab.vfNetns(i)));
    VFSTEER_ASSIGN_OR_RETURN(Socket vfSock, Socket::open(NETLINK_ROUTE, &vfns));
    netlink::link::VethSpec pair{repIfname(i), vfIfname(i), repMac(i), vfMac(i), vfns.fd()};
    VFSTEER_TRY(hostSock.request(netlink::link::encodeCreateVeth(pair)));
    VFSTEER_TRY(bringUp(host, hostSock, repIfname(i)));
    VFSTEER_TRY(bringUp(vfns, vfSock, vfIfname(i)));
    VFSTEER_TRY(enableGro(vfns, vfIfname(i)));
    Representor r;
    r.vf = static_cast<uint16_t>(i);
    r.ifname = repIfname(i);
    r.vfNetns = lab.vfNetns(i);
    r.vfIfname = vfIfname(i);
    topo.reps.push_back(r);
  }
  VFSTEER_TRY(writeTopologyFile(lab.topologyFile(), topo));
  return writeState(lab, vfs);
}

}  // namespace

vfsteer::Status up(const Lab& lab, int vfs) {
  if (vfs < 1 || vfs > kMaxVfs)
    return Error(ErrorCode::kInvalidInput,
                 "--vfs " + std::to_string(vfs) + " is out of range; expected 1.." + std::to_string(kMaxVfs));
  VFSTEER_ASSIGN_OR_RETURN(json state, readState(lab));
  if (!state.is_null())
    return Error(ErrorCode::kExists, "the lab \"" + lab.name + "\" is already up with " +
                                         std::to_string(state.value("vfs", 0)) + " VFs; run \"vfsteer lab down" +
                                         (lab.name == kDefaultName ? "" : " --name " + lab.name) +
                                         "\" first, or choose another name with --name");
  for (const auto& name : labNamespaces(lab, vfs))
    if (Netns::exists(name))
      return Error(ErrorCode::kConflict, "network namespace " + name +
                                             " exists but the lab did not make it; remove it or "
                                             "choose another lab name with --name");
  std::vector<std::string> made;
  vfsteer::Status built = build(lab, vfs, made);
  if (!built.ok()) {
    // Leave nothing behind: the namespaces take their links with them.
    for (auto it = made.rbegin(); it != made.rend(); ++it) (void)Netns::remove(*it);
    removeFiles(lab);
    return std::move(built).error().addContext("lab up");
  }
  return okStatus();
}

vfsteer::Status down(const Lab& lab) {
  VFSTEER_ASSIGN_OR_RETURN(json state, readState(lab));
  if (state.is_null()) return okStatus();
  for (const auto& name : state["namespaces"]) VFSTEER_TRY(Netns::remove(name.get<std::string>()));
  removeFiles(lab);
  return okStatus();
}

Result<LabState> status(const Lab& lab) {
  VFSTEER_ASSIGN_OR_RETURN(json state, readState(lab));
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
