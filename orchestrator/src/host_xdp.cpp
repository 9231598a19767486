#include "host_xdp.hpp"

#include "tc_ops.hpp"
#include "vfsteer/netlink/netdev.hpp"

namespace vfsteer::orchestrator {

namespace lk = netlink::link;
namespace nd = netlink::netdev;
using policies::HostXdp;

Result<std::map<int, XdpPort>> readXdpPorts(NetlinkPort& route, NetlinkPort* genl,
                                            const std::map<int, std::string>& ports) {
  // Two dumps, whatever the number of ports.
  std::map<int, XdpPort> out;
  VFSTEER_ASSIGN_OR_RETURN(auto links, route.dump(lk::encodeDumpLinks()));
  for (const auto& raw : links) {
    VFSTEER_ASSIGN_OR_RETURN(auto info, lk::decodeLink(raw));
    auto it = ports.find(info.ifindex);
    if (it == ports.end()) continue;
    out[info.ifindex] = XdpPort{it->second, info.xdpDriverProgId, info.xdpGenericProgId, info.xdpOffloadProgId,
                                std::nullopt};
  }
  for (const auto& [ifindex, name] : ports)
    if (!out.contains(ifindex)) return Error(ErrorCode::kNotFound, name + " does not exist");
  if (!genl) return out;
  auto family = requestOne(*genl, netlink::encodeGetFamily(nd::kFamilyName));
  if (!family.ok() || family->empty()) return out;  // a kernel without the family: features unknown
  VFSTEER_ASSIGN_OR_RETURN(uint16_t id, netlink::decodeFamilyId(family->front()));
  VFSTEER_ASSIGN_OR_RETURN(auto devices, genl->dump(nd::encodeDumpDevices(id)));
  for (const auto& raw : devices) {
    VFSTEER_ASSIGN_OR_RETURN(auto dev, nd::decodeDevice(raw));
    if (auto it = out.find(dev.ifindex); it != out.end()) it->second.features = dev.xdpFeatures;
  }
  return out;
}

void bindXdpPorts(HostBindings& b, const std::map<int, XdpPort>& ports, uint32_t ours) {
  const bool native = b.xdpMode == HostXdp::kNative;
  for (const auto& [ifindex, p] : ports) {
    for (uint32_t id : {p.driverProg, p.genericProg, p.offloadProg}) {
      if (id == 0 || id == ours) continue;
      b.noXdpEntry[ifindex] = p.name + " holds an XDP program vfsteer did not attach (id " + std::to_string(id) +
                              "); vfsteer leaves it alone";
    }
    if (!native) continue;
    // Native XDP needs the driver's word for both ends; without it vfsteer
    // does not guess (a redirect to a device that cannot take the frame
    // drops it without a trace).
    if (!p.features) {
      const std::string why = "the kernel does not report " + p.name +
                              "'s xdp-features (netdev netlink family, Linux 6.3+)";
      b.noXdpEntry.emplace(ifindex, why);
      b.noXdpTarget.emplace(ifindex, why);
      continue;
    }
    if ((*p.features & (nd::kXdpBasic | nd::kXdpRedirect)) != (nd::kXdpBasic | nd::kXdpRedirect))
      b.noXdpEntry.emplace(ifindex, p.name + " has no driver XDP with redirect (xdp-features)");
    if (!(*p.features & nd::kXdpNdoXmit))
      b.noXdpTarget.emplace(ifindex, p.name + " does not take redirected XDP frames (no ndo-xmit in its "
                                              "xdp-features; a veth needs GRO or an XDP program on its peer)");
  }
}

lk::XdpMode linkMode(HostXdp mode) { return mode == HostXdp::kNative ? lk::XdpMode::kDriver : lk::XdpMode::kGeneric; }

uint32_t programIn(const XdpPort& port, HostXdp mode) {
  return mode == HostXdp::kNative ? port.driverProg : port.genericProg;
}

namespace {

HostXdp modeNamed(const std::string& name) { return name == "native" ? HostXdp::kNative : HostXdp::kGeneric; }

}  // namespace

std::vector<PlannedChange> xdpChanges(NetlinkPort& route, DatapathPort& dp, HostXdp mode,
                                      const std::map<int, std::string>& want, const std::map<int, XdpPort>& now,
                                      const std::vector<XdpAttachment>& previous,
                                      std::vector<XdpAttachment>& recorded) {
  std::vector<PlannedChange> changes;
  const std::string modeText{policies::name(mode)};
  for (const auto& a : previous) {
    const HostXdp slot = modeNamed(a.mode);
    if (want.contains(a.ifindex) && slot == mode) continue;
    auto it = now.find(a.ifindex);
    const uint32_t id = it == now.end() ? 0 : programIn(it->second, slot);
    if (id == 0 || id != dp.xdpProgId()) continue;  // gone, or not ours
    changes.push_back({"remove the XDP entry (" + a.mode + ") from " + a.ifname,
                       [&route, &dp, a, slot] {
                         return runOne(route, lk::encodeSetXdp(a.ifindex, -1, linkMode(slot), dp.xdpFd()),
                                       "remove the XDP entry from " + a.ifname);
                       },
                       [&route, &dp, a, slot] {
                         return runOne(route, lk::encodeSetXdp(a.ifindex, dp.xdpFd(), linkMode(slot)),
                                       "put the XDP entry back on " + a.ifname);
                       }});
  }
  for (const auto& [ifindex, name] : want) {
    const int port = ifindex;  // (clang 14 cannot capture a structured binding)
    const std::string portName = name;
    recorded.push_back({portName, port, modeText});
    auto it = now.find(port);
    // A program there is ours already: bindXdpPorts lets no other port through.
    if (it != now.end() && programIn(it->second, mode) != 0) continue;
    changes.push_back({"attach the XDP entry (" + modeText + ") on " + portName,
                       [&route, &dp, port, portName, mode] {
                         return runOne(route, lk::encodeSetXdp(port, dp.xdpFd(), linkMode(mode)),
                                       "attach XDP to " + portName);
                       },
                       // Undone by removing ours: the port then sends everything to tc.
                       [&route, &dp, port, portName, mode] {
                         return runOne(route, lk::encodeSetXdp(port, -1, linkMode(mode), dp.xdpFd()),
                                       "remove the XDP entry from " + portName);
                       }});
  }
  return changes;
}

}  // namespace vfsteer::orchestrator
