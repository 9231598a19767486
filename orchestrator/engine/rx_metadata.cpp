#include "engine/rx_metadata.hpp"

#include <iterator>
#include <map>

namespace vfsteer::engine {

namespace netdev = netlink::netdev;

namespace {

// One row per field, in kRxFields order: its words, its kfunc, its bit in
// xdp-rx-metadata-features and the profile claim about it.
struct RxFieldFacts {
  std::string_view name;
  std::string_view kfunc;
  uint64_t bit;
  bool policies::Profile::*claim;
};
constexpr RxFieldFacts kFacts[] = {
    {"rx_hash", "bpf_xdp_metadata_rx_hash", netdev::kRxMetadataHash, &policies::Profile::rxHash},
    {"rx_timestamp", "bpf_xdp_metadata_rx_timestamp", netdev::kRxMetadataTimestamp, &policies::Profile::rxTimestamp},
    {"vlan_tag", "bpf_xdp_metadata_rx_vlan_tag", netdev::kRxMetadataVlanTag, &policies::Profile::rxVlanTag},
};
static_assert(std::size(kFacts) == kRxFields.size());

const RxFieldFacts& facts(RxField f) { return kFacts[static_cast<size_t>(f)]; }

}  // namespace

std::string_view name(RxField f) { return facts(f).name; }
std::string_view kfuncOf(RxField f) { return facts(f).kfunc; }

std::string_view name(Supply s) {
  switch (s) {
    case Supply::kYes: return "yes";
    case Supply::kNo: return "no";
    case Supply::kUnknown: return "unknown";
  }
  return "?";
}

namespace {

FieldSupply supplyOf(RxField f, const std::string& port, const NetdevDevices& devices, const netdev::Device* dev) {
  const std::string kfunc(kfuncOf(f));
  if (!devices)
    return {f, Supply::kNo,
            "this kernel has no netdev netlink family, so no XDP RX metadata kfuncs either (Linux 6.3+)"};
  if (!dev) return {f, Supply::kUnknown, "the netdev family does not list " + port};
  if (!dev->xdpRxMetadata)
    return {f, Supply::kUnknown,
            "this kernel does not report which metadata kfuncs a driver implements (Linux 6.8+ does)"};
  if (*dev->xdpRxMetadata & facts(f).bit) return {f, Supply::kYes, "the driver implements " + kfunc};
  return {f, Supply::kNo, "the driver does not implement " + kfunc + " (it returns -EOPNOTSUPP)"};
}

}  // namespace

std::vector<PortRxMetadata> rxMetadataOf(const representors::Topology& t, const NetdevDevices& devices) {
  std::map<int, const netdev::Device*> byIfindex;
  if (devices)
    for (const auto& d : *devices) byIfindex[d.ifindex] = &d;
  std::vector<PortRxMetadata> out;
  auto add = [&](const std::string& port, std::string role, bool uplink, int ifindex) {
    PortRxMetadata m{port, std::move(role), uplink, ifindex, {}};
    auto it = byIfindex.find(ifindex);
    const netdev::Device* dev = it == byIfindex.end() ? nullptr : it->second;
    for (RxField f : kRxFields) m.fields.push_back(supplyOf(f, port, devices, dev));
    out.push_back(std::move(m));
  };
  add(t.pf, "uplink", true, t.pfIfindex);
  for (const auto& r : t.reps) add(r.ifname, "vf " + std::to_string(r.vf) + " representor", false, r.ifindex);
  return out;
}

std::vector<RxDisagreement> rxDisagreements(const std::vector<PortRxMetadata>& ports, const policies::Profile& profile) {
  std::vector<RxDisagreement> out;
  for (const auto& port : ports) {
    if (!port.uplink) continue;
    for (const auto& f : port.fields) {
      const bool claimed = profile.*facts(f.field).claim;
      if (f.supply == Supply::kUnknown || claimed == (f.supply == Supply::kYes)) continue;
      const std::string field(name(f.field));
      std::string message = "profile " + profile.name + (claimed ? " claims" : " does not claim") + " metadata." +
                            field + ", but on " + port.port + " " + f.reason;
      out.push_back({port.port, f.field, claimed, f.supply, std::move(message)});
    }
  }
  return out;
}

}  // namespace vfsteer::engine
