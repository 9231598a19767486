#include "nic_program.hpp"

#include "tc_ops.hpp"
#include "vfsteer/netlink/link.hpp"

namespace vfsteer::orchestrator {

namespace tc = netlink::tc;
namespace link = netlink::link;
using representors::DemuxHook;

std::string hookName(DemuxHook hook) { return hook == DemuxHook::kTc ? "cls_bpf" : "xdp"; }

std::optional<DemuxHook> parseHookName(const std::string& name) {
  if (name == "cls_bpf") return DemuxHook::kTc;
  if (name == "xdp") return DemuxHook::kXdp;
  return std::nullopt;
}

namespace {

Result<link::LinkInfo> linkByIndex(NetlinkPort& nl, int ifindex) {
  std::vector<netlink::Message> batch;
  batch.push_back(link::encodeGetLink(ifindex));
  VFSTEER_ASSIGN_OR_RETURN(auto outcomes, nl.transact(std::move(batch)));
  if (!outcomes[0].status.ok()) return outcomes[0].status.error();
  if (outcomes[0].replies.empty()) return Error(ErrorCode::kNotFound, "ifindex " + std::to_string(ifindex) + " is gone");
  return link::decodeLink(outcomes[0].replies[0]);
}

// Sets the XDP offload slot to `fd` (-1: empty), only if it still holds
// `expectedId` (0: only if empty).
Status setXdpOffload(NetlinkPort& nl, ProgramPort& programs, int ifindex, int fd, uint32_t expectedId,
                     const std::string& what) {
  std::optional<UniqueFd> expected;
  if (expectedId) {
    VFSTEER_ASSIGN_OR_RETURN(UniqueFd e, programs.programById(expectedId));
    expected.emplace(std::move(e));
  }
  return runOne(nl,
                link::encodeSetXdp(ifindex, fd, link::XdpMode::kOffload,
                                   expected ? std::optional<int>(expected->get()) : std::nullopt),
                what);
}

}  // namespace

Result<NicProgramSlot> readNicProgramSlot(NetlinkPort& nl, DemuxHook hook, int ifindex, const std::string& instance) {
  NicProgramSlot slot;
  if (hook == DemuxHook::kTc) {
    VFSTEER_ASSIGN_OR_RETURN(auto tcs, readPortTc(nl, ifindex, instance));
    if (tcs.nicProgram) {
      slot.progId = std::get<tc::Bpf>(tcs.nicProgram->spec).progId;
      slot.inHw = tcs.nicProgram->inHw();
      slot.skipHw = std::get<tc::Bpf>(tcs.nicProgram->spec).flags & tc::kSkipHw;
    }
    return slot;
  }
  VFSTEER_ASSIGN_OR_RETURN(auto info, linkByIndex(nl, ifindex));
  slot.progId = info.xdpOffloadProgId;
  slot.inHw = slot.progId != 0;  // the offload slot is the NIC's by definition
  return slot;
}

Status attachNicProgram(NetlinkPort& nl, ProgramPort& programs, DemuxHook hook, int ifindex,
                        const std::string& device, const std::string& instance, int fd, uint32_t progId,
                        std::optional<uint32_t> replacing, bool emulated) {
  const std::string what = "attach the NIC demux program to " + device + " (" + hookName(hook) + ")";
  if (hook == DemuxHook::kTc)
    VFSTEER_TRY(runOne(nl, tc::encodeAddFilter(nicProgramFilter(ifindex, fd, instance, emulated), replacing.has_value()),
                       what));
  else
    VFSTEER_TRY(setXdpOffload(nl, programs, ifindex, fd, replacing.value_or(0), what));

  auto slot = readNicProgramSlot(nl, hook, ifindex, instance);
  if (slot.ok() && slot->progId == progId && (emulated ? slot->skipHw : slot->inHw)) return okStatus();
  Error refused = slot.ok() ? Error(ErrorCode::kNotSupported,
                                    "the kernel accepted the demux program on " + device +
                                        " but does not report it in hardware (not in_hw)")
                            : slot.error();
  // Put back what was there.
  Status undo = okStatus();
  if (hook == DemuxHook::kTc) {
    if (replacing) {
      auto old = programs.programById(*replacing);
      undo = old.ok() ? runOne(nl, tc::encodeAddFilter(nicProgramFilter(ifindex, old->get(), instance, emulated), true),
                               "restore the previous demux program")
                      : Status(old.error());
    } else {
      undo = runOne(nl, tc::encodeDeleteFilter(nicProgramFilter(ifindex, -1, instance)), "remove the demux program");
    }
  } else {
    int oldFd = -1;
    std::optional<UniqueFd> old;
    if (replacing) {
      auto o = programs.programById(*replacing);
      if (o.ok()) {
        old.emplace(std::move(*o));
        oldFd = old->get();
      }
    }
    undo = setXdpOffload(nl, programs, ifindex, oldFd, progId, "restore the XDP offload slot");
  }
  if (!undo.ok())
    return Error(refused.code(), refused.describe() + "; putting back the previous state failed too: " +
                                     undo.error().describe());
  return refused;
}

Result<std::string> detachNicProgram(NetlinkPort& nl, ProgramPort& programs, const NicProgramRecord& record,
                                     const std::string& instance) {
  auto hook = parseHookName(record.hook);
  if (!hook) return Error(ErrorCode::kInternal, "unknown demux hook \"" + record.hook + "\" in the state");
  auto slot = readNicProgramSlot(nl, *hook, record.ifindex, instance);
  if (!slot.ok()) {
    if (slot.error().code() == ErrorCode::kNotFound) return std::string(record.device + " is gone");
    return slot.error();
  }
  const std::string where = record.hook + " on " + record.device;
  if (slot->progId == 0) return "no demux program in " + where;
  if (*hook == DemuxHook::kTc) {
    // Our priority, handle and name: ours, whichever program it runs.
    VFSTEER_TRY(runOne(nl, tc::encodeDeleteFilter(nicProgramFilter(record.ifindex, -1, instance)),
                       "remove the demux program from " + record.device));
    return "removed the demux program (" + where + ")";
  }
  if (slot->progId != record.progId)
    return "left program id " + std::to_string(slot->progId) + " in " + where + ": vfsteer did not attach it";
  VFSTEER_TRY(setXdpOffload(nl, programs, record.ifindex, -1, record.progId,
                            "remove the demux program from " + record.device));
  return "removed the demux program (" + where + ")";
}

}  // namespace vfsteer::orchestrator
