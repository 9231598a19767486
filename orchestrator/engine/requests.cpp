#include "engine/requests.hpp"

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

}  // namespace vfsteer::engine
