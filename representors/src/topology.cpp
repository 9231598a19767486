#include "vfsteer/representors/topology.hpp"

#include <linux/netlink.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "vfsteer/common/hex.hpp"
#include "vfsteer/common/names.hpp"
#include "vfsteer/common/paths.hpp"
#include "vfsteer/netlink/devlink.hpp"
#include "vfsteer/netlink/link.hpp"
#include "vfsteer/netlink/socket.hpp"
#include "vfsteer/representors/driver.hpp"

namespace vfsteer::representors {

namespace fs = std::filesystem;
using nlohmann::json;

const Representor* Topology::representor(uint16_t vf) const {
  for (const auto& r : reps)
    if (r.vf == vf) return &r;
  return nullptr;
}

// Interface names never contain ':' (the kernel refuses them), so "pf:netns"
// splits back unambiguously.
std::string Topology::instance() const { return netns.empty() ? pf : pf + ":" + netns; }

namespace {

constexpr int kTopologyVersion = 1;

Result<netlink::Socket> socketIn(const std::string& netns) {
  if (netns.empty()) return netlink::Socket::open(NETLINK_ROUTE);
  VFSTEER_ASSIGN_OR_RETURN(auto ns, netlink::Netns::byName(netns));
  return netlink::Socket::open(NETLINK_ROUTE, &ns);
}

Result<int> ifindexOf(netlink::Socket& sock, const std::string& name, const std::string& netns,
                      const std::string& role) {
  auto reply = sock.request(netlink::link::encodeGetLink(name));
  if (!reply.ok() || reply->replies.empty()) {
    std::string where = netns.empty() ? "this network namespace" : "network namespace " + netns;
    return Error(ErrorCode::kNotFound, role + " \"" + name + "\" does not exist in " + where);
  }
  VFSTEER_ASSIGN_OR_RETURN(auto info, netlink::link::decodeLink(reply->replies[0]));
  return info.ifindex;
}

// Fills in interface indexes, checking that every listed interface exists.
Status resolve(Topology& t) {
  VFSTEER_ASSIGN_OR_RETURN(auto sock, socketIn(t.netns));
  VFSTEER_ASSIGN_OR_RETURN(t.pfIfindex, ifindexOf(sock, t.pf, t.netns, "PF"));
  for (auto& r : t.reps) {
    VFSTEER_ASSIGN_OR_RETURN(r.ifindex, ifindexOf(sock, r.ifname, t.netns,
                                                  "representor of vf " + std::to_string(r.vf)));
  }
  return okStatus();
}

// sriov_numvfs of the PF's parent device (PCI or netdevsim), if it has one.
std::optional<uint16_t> sysfsNumVfs(const std::string& pf) {
  std::ifstream in("/sys/class/net/" + pf + "/device/sriov_numvfs");
  int n = -1;
  if (in >> n && n >= 0) return static_cast<uint16_t>(n);
  return std::nullopt;
}

// VF netdevs bound to a host driver: /sys/class/net/PF/device/virtfnN/net/NAME.
std::map<uint16_t, std::string> sysfsVfNetdevs(const std::string& pf, uint16_t numVfs) {
  std::map<uint16_t, std::string> out;
  for (uint16_t vf = 0; vf < numVfs; ++vf) {
    std::error_code ec;
    const std::filesystem::path dir = "/sys/class/net/" + pf + "/device/virtfn" + std::to_string(vf) + "/net";
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      out[vf] = entry.path().filename().string();
      break;
    }
  }
  return out;
}

// The kernel's view: the PF by name, then everything else through devlink
// ports (flavour, PF and VF numbers, netdev) and sysfs, never by guessing
// from interface names.
Result<Topology> fromKernel(const std::string& pf) {
  Topology t;
  t.source = "kernel";
  t.pf = pf;
  VFSTEER_ASSIGN_OR_RETURN(t.driver, driverOf(pf));
  VFSTEER_ASSIGN_OR_RETURN(auto route, netlink::Socket::open(NETLINK_ROUTE));
  VFSTEER_ASSIGN_OR_RETURN(auto reply, route.request(netlink::link::encodeGetLink(pf)));
  if (reply.replies.empty()) return Error(ErrorCode::kNotFound, "PF \"" + pf + "\" does not exist");
  VFSTEER_ASSIGN_OR_RETURN(auto link, netlink::link::decodeLink(reply.replies[0]));
  t.pfIfindex = link.ifindex;
  t.switchId = hexBytes(link.physSwitchId);
  t.numVfs = sysfsNumVfs(pf).value_or(static_cast<uint16_t>(link.vfs.size()));
  t.vfNetdevs = sysfsVfNetdevs(pf, t.numVfs);

  VFSTEER_ASSIGN_OR_RETURN(auto genl, netlink::Socket::open(NETLINK_GENERIC));
  auto family = genl.request(netlink::encodeGetFamily("devlink"));
  if (!family.ok() || family->replies.empty()) return t;  // no devlink in this kernel
  VFSTEER_ASSIGN_OR_RETURN(uint16_t devlinkFamily, netlink::decodeFamilyId(family->replies[0]));
  VFSTEER_ASSIGN_OR_RETURN(auto dumped, genl.dump(netlink::devlink::encodeDumpPorts(devlinkFamily)));
  std::vector<netlink::devlink::Port> ports;
  for (const auto& raw : dumped)
    if (auto p = netlink::devlink::decodePort(raw); p.ok()) ports.push_back(*p);
  const netlink::devlink::Port* pfPort = nullptr;
  for (const auto& p : ports)
    if (p.netdevIfindex == t.pfIfindex) pfPort = &p;
  if (!pfPort) return t;  // the PF has no devlink port
  t.devlink = pfPort->device.str();
  auto eswitch = genl.request(netlink::devlink::encodeGetEswitch(devlinkFamily, pfPort->device));
  if (eswitch.ok() && !eswitch->replies.empty()) {
    auto mode = netlink::devlink::decodeEswitch(eswitch->replies[0]);
    if (mode.ok()) t.eswitch = *mode == netlink::devlink::EswitchMode::kSwitchdev ? "switchdev" : "legacy";
  }
  for (const auto& p : ports) {
    if (!(p.device == pfPort->device) || p.flavour != netlink::devlink::PortFlavour::kPciVf) continue;
    if (!p.vfNumber || p.netdevIfindex == 0) continue;
    if (pfPort->pfNumber && p.pfNumber && *p.pfNumber != *pfPort->pfNumber) continue;
    Representor r;
    r.vf = *p.vfNumber;
    r.ifname = p.netdevName;
    r.ifindex = p.netdevIfindex;
    r.devlinkPort = p.index;
    r.pfNumber = p.pfNumber.value_or(0);
    // The representor's own netdev: its port name and switch id say it
    // belongs to the PF's eswitch (a VF netdev would have neither).
    auto rep = route.request(netlink::link::encodeGetLink(p.netdevIfindex));
    if (rep.ok() && !rep->replies.empty()) {
      if (auto info = netlink::link::decodeLink(rep->replies[0]); info.ok()) {
        r.ifname = info->name;
        r.physPortName = info->physPortName;
        r.switchId = hexBytes(info->physSwitchId);
      }
    }
    t.reps.push_back(r);
  }
  std::sort(t.reps.begin(), t.reps.end(),
            [](const Representor& a, const Representor& b) { return a.vf < b.vf; });
  return t;
}

}  // namespace

Result<Topology> loadTopologyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error(ErrorCode::kNotFound, "cannot read topology file " + path);
  json doc = json::parse(in, nullptr, false);
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidInput, path + ": " + why);
  };
  if (doc.is_discarded()) return bad("not valid JSON");
  if (doc.value("vfsteer_topology", 0) != kTopologyVersion)
    return bad("expected \"vfsteer_topology\": " + std::to_string(kTopologyVersion));
  Topology t;
  t.source = "file:" + path;
  try {
    t.netns = doc.value("netns", "");
    t.pf = doc.at("pf").get<std::string>();
    t.driver = doc.value("driver", "");
    t.eswitch = doc.value("eswitch", "");
    t.devlink = doc.value("devlink", "");
    for (const auto& v : doc.value("vfs", json::array())) {
      Representor r;
      r.vf = v.at("vf").get<uint16_t>();
      r.ifname = v.at("representor").get<std::string>();
      r.vfNetns = v.value("vf_netns", "");
      r.vfIfname = v.value("vf_ifname", "");
      t.reps.push_back(r);
    }
  } catch (const json::exception& e) {
    return bad(e.what());
  }
  // These names reach the kernel and, as the instance name, paths.
  if (!t.netns.empty() && !names::isNetnsName(t.netns)) return bad("\"netns\": " + names::quoted(t.netns) + " is not a network namespace name");
  if (!names::isInterfaceName(t.pf)) return bad("\"pf\": " + names::quoted(t.pf) + " is not an interface name");
  for (const auto& r : t.reps) {
    if (!names::isInterfaceName(r.ifname))
      return bad("\"representor\" of VF " + std::to_string(r.vf) + ": " + names::quoted(r.ifname) + " is not an interface name");
    if (!r.vfNetns.empty() && !names::isNetnsName(r.vfNetns))
      return bad("\"vf_netns\" of VF " + std::to_string(r.vf) + ": " + names::quoted(r.vfNetns) + " is not a network namespace name");
  }
  t.numVfs = static_cast<uint16_t>(t.reps.size());
  return t;
}

Status writeTopologyFile(const std::string& path, const Topology& t) {
  json doc{{"vfsteer_topology", kTopologyVersion}, {"netns", t.netns},   {"pf", t.pf},
           {"driver", t.driver},                  {"eswitch", t.eswitch}, {"devlink", t.devlink}};
  doc["vfs"] = json::array();
  for (const auto& r : t.reps)
    doc["vfs"].push_back({{"vf", r.vf},
                          {"representor", r.ifname},
                          {"vf_netns", r.vfNetns},
                          {"vf_ifname", r.vfIfname}});
  VFSTEER_TRY(paths::makePrivateDirs(fs::path(path).parent_path().string()));
  std::error_code ec;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) return Error(ErrorCode::kInternal, "cannot write " + tmp);
    out << doc.dump(2) << "\n";
  }
  ::chmod(tmp.c_str(), 0644);
  fs::rename(tmp, path, ec);
  if (ec) return Error(ErrorCode::kInternal, "cannot write " + path + ": " + ec.message());
  return okStatus();
}

namespace {

// The topology file for `pf` under options.topologyDir, if there is one.
Result<std::optional<std::string>> findTopologyFile(const std::string& pf, const DiscoverOptions& options) {
  const std::string& dir = options.topologyDir;
  if (options.netns) {
    if (!names::isNetnsName(*options.netns))
      return Error(ErrorCode::kInvalidInput, "network namespace " + names::quoted(*options.netns) +
                                                 " is not a namespace name (1-63 characters, no '/' or spaces)");
    for (const std::string& candidate : {dir + "/" + *options.netns + "/" + pf + ".json", dir + "/" + pf + ".json"})
      if (fs::exists(candidate)) return std::optional<std::string>(candidate);
    return std::optional<std::string>();
  }
  if (const std::string flat = dir + "/" + pf + ".json"; fs::exists(flat)) return std::optional<std::string>(flat);
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_directory(ec) && fs::exists(entry.path() / (pf + ".json"), ec))
      found.push_back((entry.path() / (pf + ".json")).string());
  if (found.size() > 1) {
    std::sort(found.begin(), found.end());
    std::string list;
    for (const auto& f : found) list += (list.empty() ? "" : ", ") + fs::path(f).parent_path().filename().string();
    return Error(ErrorCode::kInvalidInput, "PF \"" + pf + "\" has topology files in several network namespaces (" +
                                               list + "); say which with device.netns in the policy (or --netns)");
  }
  if (found.empty()) return std::optional<std::string>();
  return std::optional<std::string>(found.front());
}

}  // namespace

Result<Topology> discover(const std::string& pf, const DiscoverOptions& options) {
  std::optional<std::string> file = options.topologyFile;
  if (!file) {
    VFSTEER_ASSIGN_OR_RETURN(file, findTopologyFile(pf, options));
  }
  if (!file) {
    if (options.netns)
      return Error(ErrorCode::kNotFound, "no topology file for PF \"" + pf + "\" in network namespace " +
                                             *options.netns + " (looked for " + options.topologyDir + "/" +
                                             *options.netns + "/" + pf + ".json); vfsteer reads a PF in another "
                                             "namespace only from a topology file");
    return fromKernel(pf);
  }
  VFSTEER_ASSIGN_OR_RETURN(Topology t, loadTopologyFile(*file));
  if (t.pf != pf)
    return Error(ErrorCode::kInvalidInput,
                 *file + " describes PF \"" + t.pf + "\", but the policy names \"" + pf + "\"");
  if (options.netns && t.netns != *options.netns)
    return Error(ErrorCode::kInvalidInput, *file + " describes " + pf + " in " +
                                               (t.netns.empty() ? "this network namespace"
                                                                : "network namespace " + t.netns) +
                                               ", but the policy names network namespace " + *options.netns);
  VFSTEER_TRY(resolve(t));
  return t;
}

}  // namespace vfsteer::representors
