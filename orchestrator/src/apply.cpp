#include "apply.hpp"

#include <linux/if_ether.h>
#include <linux/netlink.h>

#include <unistd.h>

#include <filesystem>
#include <set>

#include "commands.hpp"
#include "datapath_abi.h"
#include "bpf_nic_rules.hpp"
#include "host_program.hpp"
#include "host_xdp.hpp"
#include "nic_program.hpp"
#include "nic_rules.hpp"
#include "plan_output.hpp"
#include "profiles.hpp"
#include "provision.hpp"
#include "tc_ops.hpp"
#include "transaction.hpp"
#include "vfsteer/demux/splitter.hpp"
#include "vfsteer/demux/tc_layout.hpp"
#include "vfsteer/netlink/link.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::orchestrator {

namespace tc = netlink::tc;
using representors::HostTables;

namespace {

// The reason recorded for chains that run on the host while the demux
// program moves; the second pass of the same apply asks the NIC again.
constexpr const char* kMovingReason = "the NIC demux program is moving; the host runs this chain meanwhile";

ApplyResult failure(int code, std::string error) {
  ApplyResult r;
  r.exitCode = code;
  r.error = std::move(error);
  return r;
}

// Bad input, missing devices and what the device cannot do are the
// operator's to fix (nothing was changed); a refusal mid-way is 3.
int exitCodeFor(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kInvalidInput:
    case ErrorCode::kNotFound:
    case ErrorCode::kConflict:
    case ErrorCode::kPermission:
    case ErrorCode::kNotSupported:
      return kExitBadInput;
    default:
      return kExitKernelRefused;
  }
}

HostBindings hostBindingsOf(const representors::Topology& t) {
  HostBindings b;
  b.uplinkIfindex = t.pfIfindex;
  b.uplinkName = t.pf;
  for (const auto& r : t.reps) {
    b.repIfindex[r.vf] = r.ifindex;
    b.repName[r.vf] = r.ifname;
  }
  return b;
}

std::string describeTables(const HostTables& t) {
  // Slots are chain ids: unused ones are empty chains.
  const auto chains = std::count_if(t.chains.begin(), t.chains.end(), [](const vfs_chain& c) { return c.nstages > 0; });
  return std::to_string(chains) + " chains, " + std::to_string(t.rules.size()) + " rules, " +
         std::to_string(t.tuples.size()) + " match shapes";
}

Result<int> ifindexIn(NetlinkPort& nl, const std::string& name) {
  std::vector<netlink::Message> batch;
  batch.push_back(netlink::link::encodeGetLink(name));
  VFSTEER_ASSIGN_OR_RETURN(auto outcomes, nl.transact(std::move(batch)));
  if (!outcomes[0].status.ok() || outcomes[0].replies.empty())
    return Error(ErrorCode::kNotFound, name + " does not exist");
  VFSTEER_ASSIGN_OR_RETURN(auto info, netlink::link::decodeLink(outcomes[0].replies[0]));
  return info.ifindex;
}

// One run of `vfsteer apply`: its inputs, its view of the kernel, and the
// transaction that makes all its changes or none.
class Applier {
 public:
  Applier(const ApplyOptions& opts, PortFactory& ports, bool secondPass = false)
      : opts_(opts), ports_(ports), store_(opts.stateRoot), secondPass_(secondPass) {}

  ApplyResult run();

 private:
  std::optional<ApplyResult> loadInputs();
  bool cleared(const std::string& chain) const {
    return std::find(opts_.clearSkipSw.begin(), opts_.clearSkipSw.end(), chain) != opts_.clearSkipSw.end();
  }
  std::optional<ApplyResult> replan();
  std::optional<ApplyResult> provision();
  std::optional<ApplyResult> nicPhase();
  std::optional<ApplyResult> nicFlowerPhase();
  std::optional<ApplyResult> nicProgramPhase();
  std::optional<ApplyResult> hostPhase();
  // What the kernel says about XDP on the host ports, into `b`; returns the
  // ports' XDP slots as read.
  Result<std::map<int, XdpPort>> bindXdp(HostBindings& b);
  // Entries into the host datapath for NIC rules that hand a chain over
  // in a tc chain ("goto chain"), and removal of those no longer wanted.
  Result<std::vector<PlannedChange>> continuations(const std::map<int, PortTcState>& tcState);
  // Runs `changes` now (or lists them in a dry run); on failure everything
  // done so far is undone and the failure returned.
  std::optional<ApplyResult> execute(const std::vector<PlannedChange>& changes);
  ApplyResult failAndRollBack(const Error& e, int code = kExitKernelRefused);
  // Records in the journal, before making it, a change that the next run
  // could not otherwise recognise as vfsteer's if this one died.
  Status intend(const std::function<void(Journal&)>& add);
  // Takes over what an interrupted apply left (its journal) as vfsteer's.
  void recoverFromJournal();
  PlannedChange removeClsact(const AttachPoint& a);
  Status installNicFilter(const NicFilter& nf, std::optional<uint32_t> replaceHandle);
  // Adds a clsact qdisc to a device that will hold NIC rules, if it has none.
  std::optional<ApplyResult> ensureNicClsact(int ifindex, const std::string& name);
  Result<representors::DemuxHook> demuxHook() const;
  Status installNicProgram(const std::vector<bpf_insn>& insns, representors::DemuxHook hook,
                           NicProgramRecord& record);
  // The previous demux program, when this apply does not keep it in place.
  void retireNicProgram();

  const ApplyOptions& opts_;
  PortFactory& ports_;
  StateStore store_;
  const bool secondPass_;
  ApplyResult result_;
  std::optional<policies::Policy> policy_;
  std::optional<policies::Profile> profile_;
  std::optional<representors::Topology> topology_;
  demux::PlanOptions placement_;
  std::optional<demux::Plan> plan_;
  std::optional<InstanceState> previous_;
  std::unique_ptr<NetlinkPort> route_;
  std::unique_ptr<NetlinkPort> genl_;
  std::unique_ptr<DevicePort> device_;
  std::unique_ptr<DatapathPort> datapath_;
  std::unique_ptr<ProgramPort> programs_;
  uint16_t devlinkFamily_ = 0;
  Transaction tx_;
  std::vector<uint8_t> cookie_;
  std::vector<NicRuleRecord> nicRecords_;
  std::map<int, AttachPoint> nicDevices_;
  std::vector<std::string> tunnelDevices_;
  std::optional<NicProgramRecord> nicProgram_;
  Journal journal_;           // what this run and an interrupted one intend
  Journal recoveredJournal_;  // what an interrupted run left, as loaded
  std::vector<NicProgramRecord> strayNicPrograms_;  // attached by an interrupted apply
  std::map<int, AttachPoint> clsactFromJournal_;    // added by an interrupted apply
  std::vector<std::function<Status()>> afterHost_;  // NIC rules to remove once the host has taken over
  std::vector<std::string> afterHostWhat_;
  std::vector<std::function<Status()>> afterCommit_;  // clean-up once the state is saved
  HostProgram host_;
  std::vector<AttachPoint> attachments_;
  std::vector<XdpAttachment> xdpAttachments_;
};

std::optional<ApplyResult> Applier::loadInputs() {
  auto policy = policies::loadPolicyFile(opts_.policyFile);
  if (!policy.ok()) return failure(kExitBadInput, policy.error().message());
  policy_ = std::move(*policy);
  auto topology = representors::discover(policy_->device.pf, opts_.discover);
  if (!topology.ok())
    return failure(kExitBadInput, topology.error().describe() + " (device.pf in " + opts_.policyFile + ")");
  topology_ = std::move(*topology);
  const std::string wanted = opts_.profile ? *opts_.profile : policy_->device.profile;
  auto profiles = policies::loadProfileDir(profileDir(opts_.profileDir));
  if (!profiles.ok()) return failure(kExitBadInput, profiles.error().describe());
  auto profile = policies::selectProfile(*profiles, wanted, topology_->driver);
  if (!profile.ok()) return failure(kExitBadInput, profile.error().describe());
  profile_ = std::move(*profile);
  auto placement = placementOptions(opts_.skipSw, opts_.skipHw);
  if (!placement.ok()) return failure(kExitBadInput, placement.error().message());
  placement_ = std::move(*placement);
  result_.instance = topology_->instance();
  result_.policy = *policy_;
  return std::nullopt;
}

std::optional<ApplyResult> Applier::replan() {
  auto plan = demux::plan(*policy_, *profile_, placement_);
  if (!plan.ok()) return failure(kExitBadInput, plan.error().message());
  plan_ = std::move(*plan);
  result_.plan = *plan_;
  if (!plan_->ok()) {
    std::string why;
    for (const auto& e : plan_->errors) why += (why.empty() ? "" : "\n") + e.pos.str() + ": " + e.message;
    ApplyResult r = failAndRollBack(Error(ErrorCode::kInvalidInput, why), kExitPlanRefused);
    r.policy = *policy_;
    r.plan = *plan_;
    return r;
  }
  return std::nullopt;
}

ApplyResult Applier::failAndRollBack(const Error& e, int code) {
  auto leftovers = tx_.rollback();
  std::string msg = e.describe();
  // Everything this run did is undone: the journal goes back to what an
  // earlier interrupted run left (those leftovers are still there).
  if (leftovers.empty() && !opts_.dryRun) {
    if (recoveredJournal_.empty())
      (void)store_.removeJournal(result_.instance);
    else
      (void)store_.saveJournal(result_.instance, recoveredJournal_);
  }
  if (leftovers.empty()) {
    msg += tx_.done().empty() ? "\nnothing was changed" : "\nnothing was changed (every step before it was undone)";
  } else {
    msg += "\nrolling back left these behind:";
    for (const auto& l : leftovers) msg += "\n  " + l;
  }
  return failure(code, msg);
}

std::optional<ApplyResult> Applier::execute(const std::vector<PlannedChange>& changes) {
  for (const auto& c : changes) {
    result_.steps.push_back(c.what);
    if (opts_.dryRun) continue;
    Status s = tx_.step(c.what, c.apply, c.undo);
    if (!s.ok()) return failAndRollBack(s.error());
  }
  return std::nullopt;
}

std::optional<ApplyResult> Applier::provision() {
  ProvisionPorts pp{*route_, genl_.get(), devlinkFamily_, *device_};
  auto now = observeDevice(*topology_, pp);
  if (!now.ok()) return failure(kExitKernelRefused, now.error().describe());
  auto changes = provisioningChanges(*policy_, *profile_, *topology_, *now, pp);
  if (!changes.ok()) return failure(exitCodeFor(changes.error()), changes.error().describe());
  if (auto r = execute(*changes)) return r;
  if (!changes->empty() && !opts_.dryRun) {
    // New VFs and a new eswitch mode change the representors.
    auto again = representors::discover(policy_->device.pf, opts_.discover);
    if (!again.ok()) return failAndRollBack(again.error());
    topology_ = std::move(*again);
  }
  return std::nullopt;
}

Status Applier::installNicFilter(const NicFilter& nf, std::optional<uint32_t> replaceHandle) {
  tc::Filter f = nf.filter;
  if (replaceHandle) f.handle = *replaceHandle;
  VFSTEER_TRY(runOne(*route_, tc::encodeAddFilter(f, replaceHandle.has_value()),
                     "add the NIC rule on " + nf.device));
  // Accepted is not enough: the kernel must report it in hardware.
  VFSTEER_ASSIGN_OR_RETURN(auto owned, ownedNicFilters(*route_, f.ifindex, cookie_));
  for (const auto& o : owned) {
    if (o.priority != f.priority || o.protocol != f.protocol) continue;
    if (o.inHw() || opts_.emulateNic) return okStatus();
    return Error(ErrorCode::kNotSupported, "the kernel accepted the rule on " + nf.device +
                                               " but reports it not_in_hw");
  }
  return Error(ErrorCode::kInternal, "the NIC rule on " + nf.device + " vanished after it was added");
}

std::optional<ApplyResult> Applier::nicPhase() {
  if (profile_->engine == policies::NicEngine::kBpf) {
    if (auto r = nicProgramPhase()) return r;
  } else {
    if (auto r = nicFlowerPhase()) return r;
  }
  retireNicProgram();
  return std::nullopt;
}

std::optional<ApplyResult> Applier::ensureNicClsact(int ifindex, const std::string& name) {
  if (nicDevices_.contains(ifindex) || ifindex <= 0) return std::nullopt;
  AttachPoint ap{name, ifindex, clsactFromJournal_.contains(ifindex)};
  auto tcs = readPortTc(*route_, ifindex, result_.instance);
  if (!tcs.ok()) return failAndRollBack(tcs.error());
  if (!tcs->clsact) {
    ap.createdClsact = true;
    std::vector<PlannedChange> add{
        {"add clsact on " + name,
         [this, ifindex, name]() -> Status {
           VFSTEER_TRY(intend([&](Journal& j) { j.clsact.push_back({name, ifindex, true}); }));
           return runOne(*route_, tc::encodeAddQdisc({ifindex, "clsact"}), "add clsact on " + name);
         },
         [this, ifindex, name] {
           return runOne(*route_, tc::encodeDeleteQdisc({ifindex, "clsact"}), "remove clsact from " + name);
         }}};
    if (auto r = execute(add)) return r;
  }
  nicDevices_[ifindex] = ap;
  return std::nullopt;
}

Result<representors::DemuxHook> Applier::demuxHook() const {
  using Hook = policies::Device::BpfHook;
  const auto& dev = policy_->device;
  if (dev.bpfOffload) {
    const bool xdp = *dev.bpfOffload == Hook::kXdp;
    if (xdp ? !profile_->xdpOffload : !profile_->clsBpfOffload)
      return Error(ErrorCode::kInvalidInput,
                   dev.bpfOffloadPos.str() + ": device.bpf_offload is " + (xdp ? "xdp" : "cls_bpf") + ", but profile " +
                       profile_->name + " has no " + (xdp ? "XDP offload" : "cls_bpf offload") + " (" +
                       profile_->file + ")");
    return xdp ? representors::DemuxHook::kXdp : representors::DemuxHook::kTc;
  }
  return profile_->clsBpfOffload ? representors::DemuxHook::kTc : representors::DemuxHook::kXdp;
}

Status Applier::installNicProgram(const std::vector<bpf_insn>& insns, representors::DemuxHook hook,
                                  NicProgramRecord& record) {
  auto loaded = programs_->loadDemux(insns, hook, opts_.emulateNic ? 0 : record.ifindex);
  if (!loaded.ok()) return std::move(loaded).error().addContext("load the demux program for " + record.device);
  UniqueFd fd = std::move(*loaded);
  VFSTEER_ASSIGN_OR_RETURN(record.progId, programs_->programId(fd.get()));
  // An XDP program is vfsteer's only by its id: recorded before it goes in.
  VFSTEER_TRY(intend([&](Journal& j) { j.nicPrograms.push_back(record); }));
  // In place of our previous program in the same slot; anything else there
  // (XDP: a program vfsteer did not attach) is not ours to replace.
  VFSTEER_ASSIGN_OR_RETURN(NicProgramSlot slot, readNicProgramSlot(*route_, hook, record.ifindex, result_.instance));
  std::optional<uint32_t> replacing;
  if (slot.progId) {
    const auto& prev = previous_ ? previous_->nicProgram : std::nullopt;
    bool ours = hook == representors::DemuxHook::kTc ||
                (prev && prev->hook == record.hook && prev->ifindex == record.ifindex && prev->progId == slot.progId);
    for (const auto& stray : strayNicPrograms_)
      ours |= stray.hook == record.hook && stray.ifindex == record.ifindex && stray.progId == slot.progId;
    if (!ours)
      return Error(ErrorCode::kConflict, "the XDP offload slot of " + record.device + " holds program id " +
                                             std::to_string(slot.progId) +
                                             ", which vfsteer did not attach; vfsteer leaves it alone");
    replacing = slot.progId;
  }
  VFSTEER_TRY(attachNicProgram(*route_, *programs_, hook, record.ifindex, record.device, result_.instance, fd.get(),
                               record.progId, replacing, opts_.emulateNic));
  // Undone by putting back what was there (the kernel keeps an attached
  // program alive after our fd closes; the old one is held until then).
  const bool wasEmulated = previous_ && previous_->nicEmulated;
  tx_.record("attach the NIC demux program", [this, hook, record, replacing, wasEmulated]() -> Status {
    auto old = replacing ? programs_->programById(*replacing) : Result<UniqueFd>(UniqueFd());
    if (!old.ok()) return old.error();
    if (hook == representors::DemuxHook::kTc) {
      if (replacing)
        return runOne(*route_,
                      tc::encodeAddFilter(nicProgramFilter(record.ifindex, old->get(), result_.instance, wasEmulated), true),
                      "restore the previous demux program");
      return runOne(*route_, tc::encodeDeleteFilter(nicProgramFilter(record.ifindex, -1, result_.instance)),
                    "remove the demux program");
    }
    auto current = programs_->programById(record.progId);
    if (!current.ok()) return current.error();
    return runOne(*route_,
                  netlink::link::encodeSetXdp(record.ifindex, replacing ? old->get() : -1,
                                              netlink::link::XdpMode::kOffload, current->get()),
                  "restore the XDP offload slot");
  });
  return okStatus();
}

std::optional<ApplyResult> Applier::nicProgramPhase() {
  // Emulated, the program runs in software on tc ingress, whatever the
  // profile's hook.
  auto hook = opts_.emulateNic ? Result<representors::DemuxHook>(representors::DemuxHook::kTc) : demuxHook();
  if (!hook.ok()) return failAndRollBack(hook.error(), kExitBadInput);
  // One program carries every NIC chain, so one refusal moves them all to
  // the host: at most two rounds.
  for (int round = 0; round < 2; ++round) {
    auto rules = buildDemuxRules(*policy_, *plan_);
    if (!rules.ok()) return failAndRollBack(rules.error());
    if (rules->empty()) return std::nullopt;
    NicProgramRecord want;
    want.hook = hookName(*hook);
    want.device = topology_->pf;
    want.ifindex = topology_->pfIfindex;
    for (const auto& r : plan_->nicRules) {
      const std::string& name = policy_->chains[r.chain].name;
      if (std::find(want.chains.begin(), want.chains.end(), name) == want.chains.end()) want.chains.push_back(name);
    }
    const auto insns = representors::compileDemux(*rules, *hook);
    want.fingerprint = representors::demuxFingerprint(insns);

    const auto& prev = previous_ ? previous_->nicProgram : std::nullopt;
    if (prev && (prev->hook != want.hook || prev->ifindex != want.ifindex) && !opts_.dryRun) {
      // A NIC may hold one offloaded program at a time (netdevsim refuses a
      // second: "driver and netdev offload states mismatch"). The move goes
      // through the host: this pass hands the chains to the host datapath
      // and removes the old program; a second pass attaches the new one.
      auto slot = readNicProgramSlot(*route_, *parseHookName(prev->hook), prev->ifindex, result_.instance);
      if (slot.ok() && slot->progId == prev->progId) {
        for (const auto& r : plan_->nicRules)
          if (plan_->chains[r.chain].mode == policies::OffloadMode::kSkipSw)
            return failAndRollBack(
                Error(ErrorCode::kConflict,
                      "moving the NIC demux program from " + prev->hook + " to " + want.hook + " puts chain " +
                          policy_->chains[r.chain].name +
                          " on the host while it moves, and that chain is skip-sw; apply once with it on "
                          "--skip-hw or auto, then again"),
                kExitPlanRefused);
        for (const auto& name : want.chains) placement_.refused[name] = kMovingReason;
        result_.movePending = true;
        if (auto r = replan()) return r;
        return std::nullopt;
      }
    }
    if (prev && prev->hook == want.hook && prev->ifindex == want.ifindex && prev->fingerprint == want.fingerprint &&
        previous_->nicEmulated == opts_.emulateNic) {
      auto slot = readNicProgramSlot(*route_, *hook, want.ifindex, result_.instance);
      if (slot.ok() && slot->progId == prev->progId && (opts_.emulateNic ? slot->skipHw : slot->inHw)) {
        want.progId = prev->progId;
        nicProgram_ = want;
        return std::nullopt;
      }
    }
    if (*hook == representors::DemuxHook::kTc)
      if (auto r = ensureNicClsact(want.ifindex, want.device)) return r;
    const std::string what =
        "load the NIC demux program (" + std::to_string(rules->size()) + " rules, " + std::to_string(insns.size()) +
        " instructions) " +
        (opts_.emulateNic ? "in software and attach it on " + want.device + " tc ingress (cls_bpf skip_hw, emulating the NIC)"
         : *hook == representors::DemuxHook::kTc
             ? "offloaded to " + want.device + " and attach it on tc ingress (cls_bpf skip_sw)"
             : "offloaded to " + want.device + " and attach it in XDP offload mode");
    result_.steps.push_back(what);
    if (opts_.dryRun) {
      nicProgram_ = want;
      return std::nullopt;
    }
    Status s = installNicProgram(insns, *hook, want);
    if (s.ok()) {
      nicProgram_ = want;
      return std::nullopt;
    }
    const Error& e = s.error();
    for (const auto& r : plan_->nicRules)
      if (plan_->chains[r.chain].mode == policies::OffloadMode::kSkipSw)
        return failAndRollBack(Error(e).addContext("chain " + policy_->chains[r.chain].name +
                                                   " is skip-sw and the NIC refused the demux program"));
    // The whole error: a load refusal's kernel text is the verifier log's
    // last line, which says little without the errno beside it.
    const std::string words = e.describe();
    for (const auto& name : want.chains) placement_.refused[name] = "the NIC refused the demux program: " + words;
    result_.steps.back() += " — refused: " + words;
    if (auto r = replan()) return r;
  }
  return std::nullopt;
}

void Applier::retireNicProgram() {
  for (const auto& stray : strayNicPrograms_) {
    if (nicProgram_ && nicProgram_->progId == stray.progId) continue;
    afterHostWhat_.push_back("remove the NIC demux program an interrupted apply left (" + stray.hook + " on " +
                             stray.device + ")");
    afterHost_.push_back([this, stray]() -> Status {
      auto did = detachNicProgram(*route_, *programs_, stray, result_.instance);
      return did.ok() ? okStatus() : Status(did.error());
    });
  }
  const auto& prev = previous_ ? previous_->nicProgram : std::nullopt;
  if (!prev) return;
  if (nicProgram_ && nicProgram_->hook == prev->hook && nicProgram_->ifindex == prev->ifindex) return;
  afterHostWhat_.push_back("remove the NIC demux program (" + prev->hook + " on " + prev->device + ")");
  afterHost_.push_back([this, record = *prev]() -> Status {
    auto did = detachNicProgram(*route_, *programs_, record, result_.instance);
    return did.ok() ? okStatus() : Status(did.error());
  });
}

std::optional<ApplyResult> Applier::nicFlowerPhase() {
  // The NIC refuses rules one chain at a time; each refusal moves a chain
  // (and the chains that must follow it) to the host, so this settles within
  // as many rounds as there are chains.
  std::map<int, std::vector<tc::Filter>> ownedOn;
  for (size_t round = 0; round <= policy_->chains.size(); ++round) {
    NicBindings b;
    b.uplinkIfindex = topology_->pfIfindex;
    b.names[topology_->pfIfindex] = topology_->pf;
    for (const auto& r : topology_->reps) {
      b.repIfindex[r.vf] = r.ifindex;
      b.names[r.ifindex] = r.ifname;
    }
    // Tunnel devices for tunnel chains' rules, created when missing.
    for (const auto& dev : tunnelDevicesFor(*policy_, *plan_)) {
      auto existing = ifindexIn(*route_, dev.name());
      if (existing.ok()) {
        b.tunnelIfindex[dev] = *existing;
        if (std::find(tunnelDevices_.begin(), tunnelDevices_.end(), dev.name()) == tunnelDevices_.end())
          tunnelDevices_.push_back(dev.name());
        continue;
      }
      const auto kind = dev.type == policies::TunnelType::kVxlan ? netlink::link::TunnelKind::kVxlan
                                                                  : netlink::link::TunnelKind::kGeneve;
      std::vector<PlannedChange> make{
          {"create tunnel device " + dev.name() + " (" + std::string(policies::name(dev.type)) + " port " +
               std::to_string(dev.port) + ", external)",
           [this, kind, dev]() -> Status {
             VFSTEER_TRY(intend([&](Journal& j) { j.tunnelDevices.push_back(dev.name()); }));
             VFSTEER_TRY(runOne(*route_, netlink::link::encodeCreateTunnel(kind, dev.name(), dev.port),
                                "create " + dev.name()));
             VFSTEER_ASSIGN_OR_RETURN(int ifindex, ifindexIn(*route_, dev.name()));
             return runOne(*route_, netlink::link::encodeSetUp(ifindex, true), "bring up " + dev.name());
           },
           [this, dev]() -> Status {
             auto ifindex = ifindexIn(*route_, dev.name());
             if (!ifindex.ok()) return okStatus();
             return runOne(*route_, netlink::link::encodeDeleteLink(*ifindex), "delete " + dev.name());
           }}};
      if (auto r = execute(make)) return r;
      tunnelDevices_.push_back(dev.name());
      if (!opts_.dryRun) {
        auto ifindex = ifindexIn(*route_, dev.name());
        if (!ifindex.ok()) return failAndRollBack(ifindex.error());
        b.tunnelIfindex[dev] = *ifindex;
      } else {
        b.tunnelIfindex[dev] = -1;
      }
    }
    auto desired = buildFlowerRules(*policy_, *plan_, b, cookie_);
    if (!desired.ok()) return failAndRollBack(desired.error(), exitCodeFor(desired.error()));
    if (opts_.emulateNic)
      for (auto& nf : *desired) std::get<tc::Flower>(nf.filter.spec).flags = tc::kSkipHw;

    // What vfsteer already has in NICs, on every device it may have used.
    std::set<int> devices;
    for (const auto& nf : *desired) devices.insert(nf.filter.ifindex);
    devices.insert(topology_->pfIfindex);
    for (const auto& r : topology_->reps) devices.insert(r.ifindex);
    if (previous_)
      for (const auto& r : previous_->nicRules) devices.insert(r.ifindex);
    ownedOn.clear();
    for (int ifindex : devices) {
      if (ifindex <= 0) continue;
      auto owned = ownedNicFilters(*route_, ifindex, cookie_);
      if (owned.ok()) ownedOn[ifindex] = *owned;
    }

    // Each device holding NIC rules needs a clsact qdisc.
    for (const auto& nf : *desired)
      if (auto r = ensureNicClsact(nf.filter.ifindex, nf.device)) return r;

    std::map<std::string, std::string> refusedNow;
    nicRecords_.clear();
    std::set<std::pair<int, std::pair<uint16_t, uint16_t>>> keep;
    for (const auto& nf : *desired) {
      const auto& chain = policy_->chains[nf.chain];
      if (refusedNow.contains(chain.name)) continue;
      keep.insert({nf.filter.ifindex, {nf.filter.priority, nf.filter.protocol}});
      nicRecords_.push_back({chain.name, nf.device, nf.filter.ifindex, nf.filter.priority, nf.filter.protocol});
      std::optional<tc::Filter> current;
      for (const auto& o : ownedOn[nf.filter.ifindex])
        if (o.priority == nf.filter.priority && o.protocol == nf.filter.protocol) current = o;
      if (current && sameNicFilter(*current, nf.filter) && (opts_.emulateNic || current->inHw())) continue;
      const std::string what = (current ? "replace" : "add") + std::string(" the NIC rule of chain ") +
                               chain.name + " on " + nf.device + " (tc priority " +
                               std::to_string(nf.filter.priority) +
                               (opts_.emulateNic ? ", skip_hw: emulating the NIC)" : ", skip_sw)");
      result_.steps.push_back(what);
      if (opts_.dryRun) continue;
      Status s = installNicFilter(nf, current ? std::optional<uint32_t>(current->handle) : std::nullopt);
      if (s.ok()) {
        tc::Filter undoFilter = nf.filter;
        tx_.record(what, [this, undoFilter, current]() -> Status {
          if (current) return runOne(*route_, tc::encodeAddFilter(*current, true), "restore a NIC rule");
          return runOne(*route_, tc::encodeDeleteFilter(undoFilter), "remove a NIC rule");
        });
        continue;
      }
      const Error& e = s.error();
      if (plan_->chains[nf.chain].mode == policies::OffloadMode::kSkipSw)
        return failAndRollBack(Error(e).addContext("chain " + chain.name + " is skip-sw and the NIC refused its rule"));
      // auto: this chain goes to the host. Its other rules, already in, go.
      std::string words = e.kernelText().empty() ? e.describe() : e.kernelText();
      refusedNow[chain.name] = "the NIC refused its rule: " + words;
      result_.steps.back() += " — refused: " + words;
    }
    if (refusedNow.empty()) break;
    for (const auto& [name, why] : refusedNow) placement_.refused[name] = why;
    if (auto r = replan()) return r;
  }

  // Rules of ours that the plan no longer wants: removed once the host
  // datapath has taken their chains over.
  for (const auto& [ifindex, filters] : ownedOn) {
    for (const auto& o : filters) {
      bool wanted = false;
      for (const auto& r : nicRecords_)
        wanted |= r.ifindex == ifindex && r.priority == o.priority && r.protocol == o.protocol;
      if (wanted) continue;
      afterHostWhat_.push_back("remove the NIC rule at tc priority " + std::to_string(o.priority) +
                               " on ifindex " + std::to_string(ifindex));
      afterHost_.push_back([this, o] { return runOne(*route_, tc::encodeDeleteFilter(o), "remove a NIC rule"); });
    }
  }
  return std::nullopt;
}

std::optional<ApplyResult> Applier::hostPhase() {
  DatapathPort& dp = *datapath_;
  HostBindings bindings = hostBindingsOf(*topology_);
  auto xdpPorts = bindXdp(bindings);
  if (!xdpPorts.ok()) return failAndRollBack(xdpPorts.error());
  auto desired = buildHostProgram(*policy_, *plan_, bindings, previous_ ? &*previous_ : nullptr);
  if (!desired.ok()) return failAndRollBack(desired.error(), exitCodeFor(desired.error()));
  host_ = std::move(*desired);
  const bool hadDatapath = dp.present();
  const uint32_t activeGen = hadDatapath ? dp.activeGeneration() : 0;
  const uint32_t nextGen = activeGen ^ 1;
  HostTables activeTables;
  if (hadDatapath) {
    auto t = dp.readGeneration(activeGen);
    if (!t.ok()) return failAndRollBack(t.error());
    activeTables = *t;
  }
  std::set<int> seen;
  for (const auto& [ifindex, name] : host_.attach) seen.insert(ifindex);
  if (previous_)
    for (const auto& a : previous_->attachments) seen.insert(a.ifindex);
  // Devices with NIC rules may hold continuation entries.
  for (const auto& r : nicRecords_) seen.insert(r.ifindex);
  if (previous_)
    for (const auto& r : previous_->nicRules) seen.insert(r.ifindex);
  std::map<int, PortTcState> tcState;
  for (int ifindex : seen) {
    auto s = readPortTc(*route_, ifindex, result_.instance);
    if (!s.ok()) {
      // A port that vanished (a VF removed by provisioning) has nothing of ours left.
      tcState[ifindex] = PortTcState{};
      continue;
    }
    tcState[ifindex] = *s;
  }

  std::vector<PlannedChange> changes;
  if (!hadDatapath)
    changes.push_back({"load the host datapath into " + representors::Datapath::pinDir(result_.instance),
                       [&dp] { return dp.create(); }, [&dp] { return dp.destroy(); }});
  std::set<uint32_t> previousSlots;
  if (previous_)
    for (const auto& p : previous_->programs) previousSlots.insert(p.slot);
  std::set<uint32_t> wantedSlots;
  for (const auto& p : host_.programs) wantedSlots.insert(p.slot);
  // A program an interrupted apply loaded and nothing uses: no undo, it is
  // garbage either way.
  if (hadDatapath)
    for (uint32_t slot : dp.userProgramSlots())
      if (!previousSlots.contains(slot) && !wantedSlots.contains(slot))
        changes.push_back({"unload the bpf program an interrupted apply left in slot " + std::to_string(slot),
                           [&dp, slot] { return dp.unloadUserProgram(slot); }, {}});
  for (const auto& p : host_.programs) {
    if (previousSlots.contains(p.slot)) continue;  // unchanged: same object, same slot
    representors::UserProgram up{p.slot, p.object, p.program};
    changes.push_back({"load bpf program " + p.program + " from " + p.object + " into slot " + std::to_string(p.slot),
                       [&dp, up] { return dp.loadUserProgram(up); },
                       [&dp, slot = p.slot] { return dp.unloadUserProgram(slot); }});
  }
  const bool tablesChanged = !host_.tables.sameAs(activeTables);
  if (tablesChanged) {
    for (const auto& [name, id] : host_.chainIds) {
      bool known = previous_ && previous_->chainIds.contains(name) && previous_->chainIds.at(name) == id;
      if (!known)
        changes.push_back({"zero the counters of chain " + name, [&dp, id = id] { return dp.resetChainCounters(id); }, {}});
    }
    changes.push_back({"write generation " + std::to_string(nextGen) + " (" + describeTables(host_.tables) + ")",
                       [this, &dp, nextGen] { return dp.writeGeneration(nextGen, host_.tables); },
                       [&dp, nextGen] { return dp.clearGeneration(nextGen); }});
    changes.push_back({"switch the datapath to generation " + std::to_string(nextGen),
                       [&dp, nextGen] { return dp.activate(nextGen); },
                       [&dp, activeGen] { return dp.activate(activeGen); }});
  }
  for (const auto& [ifindex, name] : host_.attach) {
    const PortTcState& s = tcState[ifindex];
    if (!s.ours && s.otherPriorities.contains(demux::kHostPriority))
      return failAndRollBack(
          Error(ErrorCode::kConflict, "tc ingress priority " + std::to_string(demux::kHostPriority) + " on " + name +
                                          " holds a filter vfsteer does not own; vfsteer attaches its host datapath "
                                          "there: move that filter to another priority (tc filter del dev " +
                                          name + " ingress pref " + std::to_string(demux::kHostPriority) + ")"),
          kExitBadInput);
    AttachPoint ap{name, ifindex, clsactFromJournal_.contains(ifindex)};
    if (previous_)
      for (const auto& a : previous_->attachments)
        if (a.ifindex == ifindex) ap.createdClsact |= a.createdClsact;
    if (!s.clsact) {
      ap.createdClsact = true;
      changes.push_back({"add clsact on " + name,
                         [this, ifindex = ifindex, name = name]() -> Status {
                           VFSTEER_TRY(intend([&](Journal& j) { j.clsact.push_back({name, ifindex, true}); }));
                           return runOne(*route_, tc::encodeAddQdisc({ifindex, "clsact"}), "add clsact on " + name);
                         },
                         [this, ifindex = ifindex, name = name] {
                           return runOne(*route_, tc::encodeDeleteQdisc({ifindex, "clsact"}),
                                         "remove clsact from " + name);
                         }});
    }
    const bool current = s.ours && hadDatapath && std::get<tc::Bpf>(s.ours->spec).progId == dp.ingressProgId();
    if (!current) {
      const bool replace = s.ours.has_value();
      changes.push_back(
          {"attach the host datapath to " + name + " ingress",
           [this, &dp, ifindex = ifindex, name = name, replace] {
             return runOne(*route_, tc::encodeAddFilter(hostFilter(ifindex, dp.ingressFd(), result_.instance), replace),
                           "attach to " + name);
           },
           // Undoing a replace deletes the filter: the stale program it held is
           // not pinned anymore, so the port falls back to the default path.
           [this, ifindex = ifindex, name = name] {
             return runOne(*route_, tc::encodeDeleteFilter(hostFilter(ifindex, -1, result_.instance)),
                           "detach from " + name);
           }});
    }
    attachments_.push_back(ap);
  }
  // After the tc entry: what XDP passes on must find it in place.
  auto xdp = xdpChanges(*route_, dp, host_.xdpMode, host_.xdpAttach, *xdpPorts,
                        previous_ ? previous_->xdpAttachments : std::vector<XdpAttachment>{}, xdpAttachments_);
  changes.insert(changes.end(), xdp.begin(), xdp.end());
  auto continuationChanges = continuations(tcState);
  if (!continuationChanges.ok()) return failAndRollBack(continuationChanges.error());
  changes.insert(changes.end(), continuationChanges->begin(), continuationChanges->end());
  for (size_t i = 0; i < afterHost_.size(); ++i) changes.push_back({afterHostWhat_[i], afterHost_[i], {}});
  if (previous_) {
    for (const auto& a : previous_->attachments) {
      if (host_.attach.contains(a.ifindex)) continue;
      const PortTcState& s = tcState[a.ifindex];
      if (s.ours)
        changes.push_back({"detach the host datapath from " + a.ifname,
                           [this, a] {
                             return runOne(*route_, tc::encodeDeleteFilter(hostFilter(a.ifindex, -1, result_.instance)),
                                           "detach from " + a.ifname);
                           },
                           [this, a, &dp] {
                             return runOne(*route_, tc::encodeAddFilter(hostFilter(a.ifindex, dp.ingressFd(), result_.instance)),
                                           "reattach to " + a.ifname);
                           }});
      const bool onlyOurs = s.all.size() <= (s.ours ? 1u : 0u);
      if ((a.createdClsact || clsactFromJournal_.contains(a.ifindex)) && s.clsact && onlyOurs)
        changes.push_back(removeClsact(a));
    }
  }
  // Clsact qdiscs an interrupted apply added where nothing of ours is now.
  for (const auto& [ifindex, a] : clsactFromJournal_) {
    if (host_.attach.contains(ifindex) || nicDevices_.contains(ifindex)) continue;
    const int journalled = ifindex;  // (clang 14 cannot capture a structured binding)
    if (previous_ && std::any_of(previous_->attachments.begin(), previous_->attachments.end(),
                                 [journalled](const AttachPoint& p) { return p.ifindex == journalled; }))
      continue;  // handled above
    auto s = readPortTc(*route_, ifindex, result_.instance);
    if (s.ok() && s->clsact && s->all.empty()) changes.push_back(removeClsact(a));
  }
  if (auto r = execute(changes)) return r;
  if (!opts_.dryRun && tablesChanged && hadDatapath) {
    // The new generation is in; the old one is cleared after saving the state.
    afterCommit_.push_back([&dp, activeGen] { return dp.clearGeneration(activeGen); });
  }
  return std::nullopt;
}

Result<std::map<int, XdpPort>> Applier::bindXdp(HostBindings& b) {
  b.xdpMode = policy_->device.hostXdp ? profile_->hostXdp : policies::HostXdp::kNone;
  b.xdpOff = !policy_->device.hostXdp
                 ? "the policy sets device.host_xdp: off"
                 : "profile " + profile_->name + " runs the host datapath in tc only (host.xdp: none)";
  // Every port the entry may go on or come off.
  std::map<int, std::string> ports;
  if (previous_)
    for (const auto& a : previous_->xdpAttachments) ports[a.ifindex] = a.ifname;
  if (b.xdpMode != policies::HostXdp::kNone) {
    ports[b.uplinkIfindex] = b.uplinkName;
    for (const auto& [vf, ifindex] : b.repIfindex) ports[ifindex] = b.repName.at(vf);
  }
  if (ports.empty()) return std::map<int, XdpPort>{};
  auto genl = ports_.netlink(topology_->netns, NETLINK_GENERIC);
  VFSTEER_ASSIGN_OR_RETURN(auto read, readXdpPorts(*route_, genl.ok() ? genl->get() : nullptr, ports));
  bindXdpPorts(b, read, datapath_->present() ? datapath_->xdpProgId() : 0);
  return read;
}

Result<std::vector<PlannedChange>> Applier::continuations(const std::map<int, PortTcState>& tcState) {
  std::vector<PlannedChange> changes;
  DatapathPort& dp = *datapath_;
  std::set<std::pair<int, uint32_t>> wanted;  // (ifindex, tc chain)
  for (const auto& rec : nicRecords_) {
    const demux::NicRule* rule = nullptr;
    for (const auto& r : plan_->nicRules)
      if (policy_->chains[r.chain].name == rec.chain && r.tcPriority == rec.priority) rule = &r;
    if (!rule || rule->exit != demux::NicExit::kGotoChain) continue;
    auto cont = host_.continuations.find(rule->gotoTcChain);
    if (cont == host_.continuations.end())
      return Error(ErrorCode::kInternal, "chain " + rec.chain + " continues in tc chain " +
                                             std::to_string(rule->gotoTcChain) + ", which the host tables lack");
    if (!wanted.insert({rec.ifindex, rule->gotoTcChain}).second) continue;
    const auto [chainId, stage] = cont->second;
    const uint32_t classid = VFS_CONT_CLASSID(chainId, stage);
    std::optional<tc::Filter> current;
    if (auto it = tcState.find(rec.ifindex); it != tcState.end())
      for (const auto& f : it->second.continuations)
        if (f.chain == rule->gotoTcChain) current = f;
    if (current && dp.present() && std::get<tc::Bpf>(current->spec).progId == dp.continueProgId() &&
        std::get<tc::Bpf>(current->spec).classid == classid)
      continue;
    const uint32_t tcChain = rule->gotoTcChain;
    const int ifindex = rec.ifindex;
    const bool replace = current.has_value();
    changes.push_back(
        {"enter the host datapath from tc chain " + std::to_string(tcChain) + " on " + rec.device + " (chain " +
             rec.chain + " resumes at stage " + std::to_string(stage) + ")",
         [this, &dp, ifindex, tcChain, id = chainId, at = stage, replace, dev = rec.device] {
           return runOne(*route_,
                         tc::encodeAddFilter(
                             continuationFilter(ifindex, tcChain, dp.continueFd(), result_.instance, id, at),
                             replace),
                         "add the continuation entry on " + dev);
         },
         [this, ifindex, tcChain] {
           return runOne(*route_,
                         tc::encodeDeleteFilter(continuationFilter(ifindex, tcChain, -1, result_.instance, 0, 0)),
                         "remove a continuation entry");
         }});
  }
  // Entries no NIC rule jumps to any more: removed once the rules are gone
  // (these changes run after the NIC clean-up).
  for (const auto& [ifindex, state] : tcState) {
    for (const auto& f : state.continuations) {
      if (wanted.contains({ifindex, f.chain.value_or(0)})) continue;
      afterHostWhat_.push_back("remove the continuation entry in tc chain " + std::to_string(f.chain.value_or(0)) +
                               " on ifindex " + std::to_string(ifindex));
      afterHost_.push_back([this, f] { return runOne(*route_, tc::encodeDeleteFilter(f), "remove a continuation entry"); });
    }
  }
  return changes;
}

ApplyResult Applier::run() {
  if (auto r = loadInputs()) return *r;
  auto lock = store_.lock(result_.instance, opts_.lockWait);
  if (!lock.ok()) return failure(kExitBadInput, lock.error().describe());
  auto previous = store_.load(result_.instance);
  if (!previous.ok()) return failure(kExitKernelRefused, previous.error().describe());
  previous_ = std::move(*previous);
  recoverFromJournal();
  // Refusals recorded earlier keep their chains on the host (no retry on a
  // plain re-apply); chains enforced with `vfsteer enforce` stay skip-sw.
  if (previous_ && !opts_.retryRefused && previous_->profile == profile_->name)
    for (const auto& [name, why] : previous_->refused)
      if (policy_->findChain(name) && !(secondPass_ && why == kMovingReason)) placement_.refused[name] = why;
  if (previous_)
    for (const auto& name : previous_->skipSw)
      if (policy_->findChain(name) && !placement_.chains.contains(name) && !cleared(name))
        placement_.chains[name] = policies::OffloadMode::kSkipSw;
  if (auto r = replan()) return *r;

  auto route = ports_.netlink(topology_->netns, NETLINK_ROUTE);
  if (!route.ok()) return failure(kExitKernelRefused, route.error().describe());
  route_ = std::move(*route);
  auto genl = ports_.netlink(topology_->netns, NETLINK_GENERIC);
  if (genl.ok()) {
    auto family = resolveDevlinkFamily(**genl);
    if (family.ok()) {
      genl_ = std::move(*genl);
      devlinkFamily_ = *family;
    }
  }
  device_ = ports_.device();
  auto programs = ports_.programs(topology_->netns);
  if (!programs.ok()) return failure(kExitKernelRefused, programs.error().describe());
  programs_ = std::move(*programs);
  auto dp = ports_.datapath(representors::Datapath::pinDir(result_.instance));
  if (!dp.ok()) return failure(kExitKernelRefused, dp.error().describe());
  datapath_ = std::move(*dp);
  cookie_ = ownerCookie(result_.instance);
  // Qdiscs vfsteer added for NIC rules stay vfsteer's to remove later.
  if (previous_)
    for (const auto& d : previous_->nicDevices) nicDevices_[d.ifindex] = d;

  if (auto r = provision()) return *r;
  if (opts_.dryRun && !result_.steps.empty()) {
    // The representors these steps create do not exist yet to plan against.
    result_.steps.push_back("then: the NIC rules and the host datapath for the new representors");
    result_.changed = true;
    return result_;
  }
  if (auto r = nicPhase()) return *r;
  if (auto r = hostPhase()) return *r;

  InstanceState next;
  next.instance = result_.instance;
  next.netns = topology_->netns;
  next.pf = topology_->pf;
  next.policyFile = std::filesystem::absolute(policy_->file).lexically_normal().string();
  next.profile = profile_->name;
  next.chainIds = host_.chainIds;
  next.programs = host_.programs;
  next.attachments = attachments_;
  next.xdpAttachments = xdpAttachments_;
  next.nicRules = nicRecords_;
  for (const auto& [ifindex, ap] : nicDevices_) next.nicDevices.push_back(ap);
  next.tunnelDevices = tunnelDevices_;
  next.nicProgram = nicProgram_;
  next.nicEmulated = opts_.emulateNic && (nicProgram_ || !nicRecords_.empty());
  next.refused = placement_.refused;
  if (previous_)
    for (const auto& name : previous_->skipSw)
      if (!cleared(name)) next.skipSw.push_back(name);
  for (const auto& name : opts_.enforceSkipSw)
    if (std::find(next.skipSw.begin(), next.skipSw.end(), name) == next.skipSw.end()) next.skipSw.push_back(name);
  next.plan = planJson(*policy_, *plan_);
  for (auto& c : next.plan["chains"]) {
    auto hook = host_.hooks.find(c["name"].get<std::string>());
    if (hook == host_.hooks.end()) continue;
    c["host_hook"] = hook->second.hook;
    if (!hook->second.reason.empty()) c["host_hook_reason"] = hook->second.reason;
  }
  const bool stateChanged =
      !previous_ || previous_->chainIds != next.chainIds || previous_->programs != next.programs ||
      previous_->attachments != next.attachments || previous_->xdpAttachments != next.xdpAttachments ||
      previous_->plan != next.plan ||
      previous_->policyFile != next.policyFile || previous_->nicRules != next.nicRules ||
      previous_->tunnelDevices != next.tunnelDevices || previous_->refused != next.refused ||
      previous_->nicDevices != next.nicDevices || previous_->nicProgram != next.nicProgram || previous_->nicEmulated != next.nicEmulated ||
      previous_->skipSw != next.skipSw;
  result_.changed = !result_.steps.empty();
  if (opts_.dryRun || (!result_.changed && !stateChanged)) return result_;

  // Tunnel devices the new state no longer lists are deleted after the
  // state is saved: the journal keeps them vfsteer's until then.
  if (previous_)
    for (const auto& name : previous_->tunnelDevices)
      if (std::find(tunnelDevices_.begin(), tunnelDevices_.end(), name) == tunnelDevices_.end() &&
          std::find(journal_.tunnelDevices.begin(), journal_.tunnelDevices.end(), name) == journal_.tunnelDevices.end())
        journal_.tunnelDevices.push_back(name);
  if (!journal_.empty()) {
    Status s = intend([](Journal&) {});
    if (!s.ok()) return failAndRollBack(s.error());
  }
  Status saved = store_.save(next);
  if (!saved.ok()) return failAndRollBack(saved.error());
  tx_.commit();
  result_.changed = true;
  // The new policy is in place; clean-up failures are reported, not undone.
  for (auto& fn : afterCommit_) {
    Status s = fn();
    if (!s.ok()) result_.steps.push_back("warning: " + s.error().describe());
  }
  if (previous_) {
    std::set<uint32_t> keep;
    for (const auto& p : host_.programs) keep.insert(p.slot);
    for (const auto& p : previous_->programs) {
      if (keep.contains(p.slot)) continue;
      Status s = datapath_->unloadUserProgram(p.slot);
      result_.steps.push_back(s.ok() ? "unload bpf program from slot " + std::to_string(p.slot)
                                     : "warning: " + s.error().describe());
    }
    for (const auto& name : previous_->tunnelDevices) {
      if (std::find(tunnelDevices_.begin(), tunnelDevices_.end(), name) != tunnelDevices_.end()) continue;
      auto ifindex = ifindexIn(*route_, name);
      if (!ifindex.ok()) continue;
      Status s = runOne(*route_, netlink::link::encodeDeleteLink(*ifindex), "delete " + name);
      result_.steps.push_back(s.ok() ? "delete tunnel device " + name : "warning: " + s.error().describe());
    }
  }
  Status cleared = store_.removeJournal(result_.instance);
  if (!cleared.ok()) result_.steps.push_back("warning: " + cleared.error().describe());
  return result_;
}

PlannedChange Applier::removeClsact(const AttachPoint& a) {
  return {"remove the clsact vfsteer added on " + a.ifname,
          [this, a] { return runOne(*route_, tc::encodeDeleteQdisc({a.ifindex, "clsact"}), "remove clsact from " + a.ifname); },
          [this, a] { return runOne(*route_, tc::encodeAddQdisc({a.ifindex, "clsact"}), "re-add clsact on " + a.ifname); }};
}

Status Applier::intend(const std::function<void(Journal&)>& add) {
  if (opts_.dryRun) return okStatus();
  add(journal_);
  journal_.pid = static_cast<int>(::getpid());
  journal_.policyFile = policy_->file;
  return store_.saveJournal(result_.instance, journal_);
}

void Applier::recoverFromJournal() {
  auto journal = store_.loadJournal(result_.instance);
  if (!journal.ok()) {
    result_.steps.push_back("warning: " + journal.error().describe());
    return;
  }
  if (!journal->has_value()) return;
  journal_ = **journal;
  recoveredJournal_ = journal_;
  if (!previous_) {
    previous_ = InstanceState{};
    previous_->instance = result_.instance;
  }
  // Clsact qdiscs it added count as vfsteer's, wherever they are.
  for (const auto& c : journal_.clsact) clsactFromJournal_[c.ifindex] = c;
  for (const auto& t : journal_.tunnelDevices)
    if (std::find(previous_->tunnelDevices.begin(), previous_->tunnelDevices.end(), t) == previous_->tunnelDevices.end())
      previous_->tunnelDevices.push_back(t);
  for (const auto& p : journal_.nicPrograms)
    if (!previous_->nicProgram || previous_->nicProgram->progId != p.progId) strayNicPrograms_.push_back(p);
  result_.steps.push_back("take over what an interrupted vfsteer (pid " + std::to_string(journal_.pid) +
                          ") left: " + std::to_string(journal_.clsact.size()) + " clsact, " +
                          std::to_string(journal_.tunnelDevices.size()) + " tunnel devices, " +
                          std::to_string(journal_.nicPrograms.size()) + " demux programs");
}

}  // namespace

ApplyResult apply(const ApplyOptions& options, PortFactory& ports) {
  ApplyResult first = Applier(options, ports).run();
  if (first.exitCode != kExitOk || !first.movePending) return first;
  ApplyResult second = Applier(options, ports, /*secondPass=*/true).run();
  std::vector<std::string> steps = first.steps;
  steps.push_back("then, with the host carrying the chains:");
  steps.insert(steps.end(), second.steps.begin(), second.steps.end());
  second.steps = std::move(steps);
  second.changed = true;
  if (second.exitCode != kExitOk)
    second.error += "\n(the first pass completed: the host runs the chains the demux program carried)";
  return second;
}

}  // namespace vfsteer::orchestrator
