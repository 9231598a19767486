#include "teardown.hpp"

#include <linux/netlink.h>

#include <chrono>
#include <set>

#include "nic_program.hpp"
#include "nic_rules.hpp"
#include "tc_ops.hpp"
#include "vfsteer/netlink/link.hpp"
#include "vfsteer/representors/datapath.hpp"

namespace vfsteer::orchestrator {

namespace tc = netlink::tc;

Result<std::vector<std::string>> teardown(const InstanceRef& ref, PortFactory& ports, const StateStore& store,
                                          std::chrono::milliseconds lockWait) {
  std::vector<std::string> done;
  VFSTEER_ASSIGN_OR_RETURN(auto lock, store.lock(ref.instance, lockWait));
  VFSTEER_ASSIGN_OR_RETURN(auto state, store.load(ref.instance));
  // An interrupted apply's journal names what it made that nothing else
  // identifies as vfsteer's.
  VFSTEER_ASSIGN_OR_RETURN(auto journal, store.loadJournal(ref.instance));
  std::vector<std::string> tunnelDevices = state ? state->tunnelDevices : std::vector<std::string>{};
  std::vector<NicProgramRecord> xdpPrograms;
  if (state && state->nicProgram && state->nicProgram->hook == "xdp") xdpPrograms.push_back(*state->nicProgram);
  if (journal) {
    tunnelDevices.insert(tunnelDevices.end(), journal->tunnelDevices.begin(), journal->tunnelDevices.end());
    for (const auto& p : journal->nicPrograms)
      if (p.hook == "xdp") xdpPrograms.push_back(p);
  }

  VFSTEER_ASSIGN_OR_RETURN(auto dp, ports.datapath(representors::Datapath::pinDir(ref.instance)));
  // The namespace may be gone already (e.g. the lab was removed by hand).
  const bool netnsGone = !ref.netns.empty() && !netlink::Netns::exists(ref.netns);
  if (!netnsGone) {
    VFSTEER_ASSIGN_OR_RETURN(auto nl, ports.netlink(ref.netns, NETLINK_ROUTE));
    // Our filter is recognisable without state (priority, handle, name), so
    // every link of the namespace is checked: nothing of ours stays behind.
    std::map<int, std::string> links;
    // The host datapath's XDP entry is ours by its id: the pinned program's.
    const uint32_t ourXdp = dp->present() ? dp->xdpProgId() : 0;
    VFSTEER_ASSIGN_OR_RETURN(auto dumped, nl->dump(netlink::link::encodeDumpLinks()));
    for (const auto& raw : dumped) {
      auto info = netlink::link::decodeLink(raw);
      if (!info.ok()) continue;
      links[info->ifindex] = info->name;
      for (auto [id, mode] : {std::pair{info->xdpDriverProgId, netlink::link::XdpMode::kDriver},
                              std::pair{info->xdpGenericProgId, netlink::link::XdpMode::kGeneric}}) {
        if (id == 0 || id != ourXdp) continue;
        VFSTEER_TRY(runOne(*nl, netlink::link::encodeSetXdp(info->ifindex, -1, mode, dp->xdpFd()),
                           "remove the XDP entry from " + info->name));
        done.push_back("removed the host datapath's XDP entry from " + info->name);
      }
    }
    std::set<int> createdClsact;
    if (state) {
      for (const auto& a : state->attachments)
        if (a.createdClsact) createdClsact.insert(a.ifindex);
      for (const auto& a : state->nicDevices)
        if (a.createdClsact) createdClsact.insert(a.ifindex);
    }
    if (journal)
      for (const auto& a : journal->clsact) createdClsact.insert(a.ifindex);
    const auto cookie = ownerCookie(ref.instance);
    for (const auto& [ifindex, name] : links) {
      VFSTEER_ASSIGN_OR_RETURN(auto s, readPortTc(*nl, ifindex, ref.instance));
      size_t removed = 0;
      if (s.ours) {
        VFSTEER_TRY(runOne(*nl, tc::encodeDeleteFilter(*s.ours), "detach from " + name));
        done.push_back("detached the host datapath from " + name);
        ++removed;
      }
      for (const auto& f : s.continuations) {
        VFSTEER_TRY(runOne(*nl, tc::encodeDeleteFilter(f), "remove a continuation entry from " + name));
        done.push_back("removed the continuation entry in tc chain " + std::to_string(f.chain.value_or(0)) + " on " + name);
        ++removed;
      }
      if (s.nicProgram) {
        VFSTEER_TRY(runOne(*nl, tc::encodeDeleteFilter(*s.nicProgram), "remove the demux program from " + name));
        done.push_back("removed the NIC demux program (cls_bpf) from " + name);
        ++removed;
      }
      // NIC rules carry our cookie; a filter without it is not ours.
      VFSTEER_ASSIGN_OR_RETURN(auto nic, ownedNicFilters(*nl, ifindex, cookie));
      for (const auto& f : nic) {
        VFSTEER_TRY(runOne(*nl, tc::encodeDeleteFilter(f), "remove a NIC rule from " + name));
        done.push_back("removed the NIC rule at tc priority " + std::to_string(f.priority) + " on " + name);
        ++removed;
      }
      if (s.clsact && createdClsact.contains(ifindex) && s.all.size() == removed) {
        VFSTEER_TRY(runOne(*nl, tc::encodeDeleteQdisc({ifindex, "clsact"}), "remove clsact from " + name));
        done.push_back("removed the clsact vfsteer added on " + name);
      }
    }
    // An XDP offload program is ours only by the id vfsteer recorded.
    for (const auto& p : xdpPrograms) {
      VFSTEER_ASSIGN_OR_RETURN(auto programs, ports.programs(ref.netns));
      VFSTEER_ASSIGN_OR_RETURN(auto did, detachNicProgram(*nl, *programs, p, ref.instance));
      if (did.rfind("removed", 0) == 0) done.push_back(did);
    }
    std::set<std::string> deleted;
    for (const auto& dev : tunnelDevices) {
      for (const auto& [ifindex, name] : links) {
        if (name != dev || !deleted.insert(name).second) continue;
        VFSTEER_TRY(runOne(*nl, netlink::link::encodeDeleteLink(ifindex), "delete " + name));
        done.push_back("deleted tunnel device " + name);
      }
    }
  }
  if (dp->present()) {
    VFSTEER_TRY(dp->destroy());
    done.push_back("removed " + representors::Datapath::pinDir(ref.instance));
  }
  if (state) {
    VFSTEER_TRY(store.remove(ref.instance));
    done.push_back("removed the state of " + ref.instance);
  }
  if (journal) {
    VFSTEER_TRY(store.removeJournal(ref.instance));
    done.push_back("removed the journal of an interrupted apply");
  }
  return done;
}

}  // namespace vfsteer::orchestrator
