#include "engine/requests.hpp"

#include <cerrno>

namespace vfsteer::engine {

Status runOne(NetlinkPort& nl, netlink::Message m, const std::string& what) {
  std::vector<netlink::Message> batch;
  batch.push_back(std::move(m));
  VFSTEER_ASSIGN_OR_RETURN(auto outcomes, nl.transact(std::move(batch)));
  if (!outcomes[0].status.ok()) {
    const Error& e = outcomes[0].status.error();
    return Error::fromErrno(e.errnum(), what, e.kernelText(), e.attribute());
  }
  return okStatus();
}

Result<std::vector<netlink::RawMessage>> requestOne(NetlinkPort& nl, netlink::Message m) {
  std::vector<netlink::Message> batch;
  batch.push_back(std::move(m));
  VFSTEER_ASSIGN_OR_RETURN(auto outcomes, nl.transact(std::move(batch)));
  if (!outcomes[0].status.ok()) return outcomes[0].status.error();
  return std::move(outcomes[0].replies);
}

Result<NetdevDevices> readNetdevDevices(NetlinkPort& genl) {
  auto family = requestOne(genl, netlink::encodeGetFamily(netlink::netdev::kFamilyName));
  if (!family.ok() && family.error().errnum() == ENOENT) return NetdevDevices{};  // before Linux 6.3
  if (!family.ok()) return family.error();
  if (family->empty()) return Error(ErrorCode::kInternal, "the family request for netdev had no reply");
  VFSTEER_ASSIGN_OR_RETURN(uint16_t id, netlink::decodeFamilyId(family->front()));
  VFSTEER_ASSIGN_OR_RETURN(auto raws, genl.dump(netlink::netdev::encodeDumpDevices(id)));
  std::vector<netlink::netdev::Device> devices;
  for (const auto& raw : raws) {
    VFSTEER_ASSIGN_OR_RETURN(auto dev, netlink::netdev::decodeDevice(raw));
    devices.push_back(dev);
  }
  return NetdevDevices{std::move(devices)};
}

}  // namespace vfsteer::engine
