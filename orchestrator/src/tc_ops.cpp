#include "tc_ops.hpp"

#include <linux/if_ether.h>

#include "datapath_abi.h"
#include "vfsteer/demux/tc_layout.hpp"

namespace vfsteer::orchestrator {

namespace tc = netlink::tc;

namespace {

// vfsteer's cls_bpf filters on ingress: all protocols, direct action.
tc::Filter ingressBpf(int ifindex, uint16_t priority, uint32_t handle, int progFd, std::string name,
                      uint32_t flags) {
  tc::Filter f;
  f.ifindex = ifindex;
  f.parent = tc::kIngress;
  f.priority = priority;
  f.protocol = ETH_P_ALL;
  f.handle = handle;
  tc::Bpf b;
  b.fd = progFd;
  b.name = std::move(name);
  b.flags = flags;
  f.spec = b;
  return f;
}

}  // namespace

tc::Filter hostFilter(int ifindex, int progFd, const std::string& instance) {
  // The host datapath is software by definition.
  return ingressBpf(ifindex, demux::kHostPriority, kHostFilterHandle, progFd, kHostFilterNamePrefix + instance,
                    tc::kSkipHw);
}

tc::Filter continuationFilter(int ifindex, uint32_t tcChain, int progFd, const std::string& instance,
                              uint32_t chainId, uint32_t startStage) {
  tc::Filter f = hostFilter(ifindex, progFd, instance);
  f.chain = tcChain;
  std::get<tc::Bpf>(f.spec).classid = VFS_CONT_CLASSID(chainId, startStage);
  return f;
}

tc::Filter nicProgramFilter(int ifindex, int progFd, const std::string& instance, bool emulated) {
  // The NIC runs it or nobody does (unless emulated).
  return ingressBpf(ifindex, demux::kNicProgramPriority, kNicProgramHandle, progFd,
                    kNicProgramNamePrefix + instance, emulated ? tc::kSkipHw : tc::kSkipSw);
}

Result<PortTcState> readPortTc(NetlinkPort& nl, int ifindex, const std::string& instance) {
  PortTcState s;
  VFSTEER_ASSIGN_OR_RETURN(auto qdiscs, nl.dump(tc::encodeDumpQdiscs(ifindex)));
  for (const auto& raw : qdiscs) {
    auto q = tc::decodeQdisc(raw);
    if (q.ok() && q->ifindex == ifindex && q->kind == "clsact") s.clsact = true;
  }
  if (!s.clsact) return s;
  VFSTEER_ASSIGN_OR_RETURN(auto filters, nl.dump(tc::encodeDumpFilters(ifindex, tc::kIngress)));
  std::set<uint16_t> headsAt, oursAt;  // chain 0 priorities with filters, with ours
  for (const auto& raw : filters) {
    auto f = tc::decodeFilter(raw);
    if (tc::isFilterHead(raw)) {
      // A head decodes for every kind: it names the priority in use.
      if (f.ok() && f->chain.value_or(0) == 0) headsAt.insert(f->priority);
      continue;
    }
    if (!f.ok()) continue;  // a kind vfsteer does not decode is someone else's
    s.all.push_back(*f);
    auto* b = std::get_if<tc::Bpf>(&f->spec);
    bool ours = false;
    if (b && f->priority == demux::kHostPriority && f->handle == kHostFilterHandle &&
        b->name == kHostFilterNamePrefix + instance) {
      ours = true;
      if (f->chain.value_or(0) == 0)
        s.ours = *f;
      else
        s.continuations.push_back(*f);
    }
    if (b && f->priority == demux::kNicProgramPriority && f->handle == kNicProgramHandle &&
        b->name == kNicProgramNamePrefix + instance) {
      ours = true;
      s.nicProgram = *f;
    }
    if (f->chain.value_or(0) != 0) continue;
    (ours ? oursAt : s.otherPriorities).insert(f->priority);
  }
  // A priority whose filters did not decode, with none of ours, is another's too.
  for (uint16_t prio : headsAt)
    if (!oursAt.contains(prio)) s.otherPriorities.insert(prio);
  return s;
}

Status runOne(NetlinkPort& nl, netlink::Message m, const std::string& what) {
  std::vector<netlink::Message> batch;
  batch.push_back(std::move(m));
  VFSTEER_ASSIGN_OR_RETURN(auto outcomes, nl.transact(std::move(batch)));
  if (!outcomes[0].status.ok()) {
    Error e = outcomes[0].status.error();
    return Error::fromErrno(e.errnum(), what, e.kernelText(), e.attribute());
  }
  return okStatus();
}

Result<std::vector<netlink::RawMessage>> requestOne(NetlinkPort& nl, netlink::Message m) {
  std::vector<netlink::Message> batch;
  batch.push_back(std::move(m));
  VFSTEER_ASSIGN_OR_RETURN(auto outcomes, nl.transact(std::move(batch)));
  if (!outcomes[0].status.ok()) return outcomes[0].status.error();
  return outcomes[0].replies;
}

}  // namespace vfsteer::orchestrator
