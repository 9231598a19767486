#include "engine/apply.hpp"

#include <linux/netlink.h>

#include <filesystem>

#include "engine/instances.hpp"
#include "engine/journal.hpp"
#include "engine/keeper.hpp"
#include "engine/lower.hpp"
#include "engine/observe.hpp"
#include "engine/policy_cache.hpp"
#include "engine/profiles.hpp"
#include "engine/provision.hpp"
#include "engine/reconcile.hpp"
#include "engine/split_json.hpp"
#include "vfsteer/demux/splitter.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::engine {

namespace {

// The reason recorded for chains that run on the host while the demux
// program moves; the second pass of the same apply asks the NIC again.
constexpr const char* kMovingReason = "the NIC demux program is moving; the host runs this chain meanwhile";

FailureKind kindFor(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kInvalidInput:
    case ErrorCode::kNotFound:
    case ErrorCode::kConflict:
    case ErrorCode::kPermission:
    case ErrorCode::kNotSupported: return FailureKind::kBadInput;
    default: return FailureKind::kKernelRefused;
  }
}

// Everything one apply reads and writes; `run` is the pipeline.
class Applier {
 public:
  Applier(const ApplyOptions& opts, PortFactory& ports, bool secondPass)
      : opts_(opts), factory_(ports), store_(opts.stateRoot), secondPass_(secondPass) {}

  ApplyResult run();

 private:
  // Ends the step under way: how long since the last one ended.
  void finishPhase(const char* phase) {
    const auto now = std::chrono::steady_clock::now();
    result_.phases.push_back({phase, now - phaseStart_});
    phaseStart_ = now;
  }

  std::optional<ApplyFailure> loadPolicy();
  std::optional<ApplyFailure> loadInputs();
  // After a successful apply: the policy it loaded becomes the instance's
  // cache entry, unless it came from that entry.
  void keepPolicy();
  std::optional<ApplyFailure> replan();
  std::optional<ApplyFailure> openPorts();
  std::optional<ApplyFailure> provision();
  Result<representors::DemuxHook> demuxHook() const;
  ObserveScope observeScope() const;
  // A demux program that changes hook or device goes through the host:
  // this pass hands its chains over and removes it, a second attaches the
  // new one (a NIC holds one offloaded program at a time).
  std::optional<ApplyFailure> holdChainsWhileTheDemuxMoves(representors::DemuxHook hook);
  std::optional<ApplyFailure> reconcileAndExecute(representors::DemuxHook hook);
  InstanceState nextState() const;
  // Undoes what this run did and says why it failed.
  ApplyFailure fail(const Error& e, FailureKind kind);
  ApplyResult failed(ApplyFailure f);
  // A flow director engine: its rules share locations with ethtool's.
  bool flowDirectorEngine() const {
    return profile_->engine == policies::NicEngine::kU32 || profile_->engine == policies::NicEngine::kNtuple;
  }
  // ethtool's flow rules are read (u32, ntuple), written (ntuple), or were
  // written by an earlier apply and may have to go.
  bool usesFlowRules() const {
    return flowDirectorEngine() || (previous_ && !previous_->flowRules.empty()) ||
           !journal_->journal().flowRules.empty();
  }
  bool cleared(const std::string& chain) const {
    return std::find(opts_.clearSkipSw.begin(), opts_.clearSkipSw.end(), chain) != opts_.clearSkipSw.end();
  }

  const ApplyOptions& opts_;
  PortFactory& factory_;
  StateStore store_;
  const bool secondPass_;
  ApplyResult result_;
  std::chrono::steady_clock::time_point phaseStart_ = std::chrono::steady_clock::now();
  std::optional<policies::Policy> policy_;
  std::string policyText_;      // what policy_ was loaded from, for the cache
  std::string policyCachedIn_;  // the instance whose cache entry policy_ is, if it is one
  std::optional<policies::Profile> profile_;
  std::optional<representors::Topology> topology_;
  demux::PlanOptions placement_;
  std::optional<demux::Plan> plan_;
  std::optional<InstanceState> previous_;
  std::optional<JournalKeeper> journal_;
  std::unique_ptr<NetlinkPort> route_;
  std::unique_ptr<NetlinkPort> genl_;  // devlink (provisioning) and netdev (xdp-features)
  uint16_t devlinkFamily_ = 0;
  std::unique_ptr<DevicePort> device_;
  std::unique_ptr<DatapathPort> datapath_;
  std::unique_ptr<ProgramPort> programs_;
  std::unique_ptr<EthtoolPort> ethtool_;  // engines u32 and ntuple: ethtool's flow rules
  ObservedState model_;
  std::optional<Executor> executor_;
  std::optional<Lowered> lowered_;
  ChangeSet last_;  // the final round's changes (its after-commit part runs last)
};

std::optional<ApplyFailure> Applier::loadPolicy() {
  if (opts_.policyText) {
    policyText_ = *opts_.policyText;
  } else {
    auto text = policies::readPolicyFileText(opts_.policyFile);
    if (!text.ok()) return ApplyFailure{FailureKind::kBadInput, text.error(), false, {}};
    policyText_ = std::move(*text);
  }
  if (auto cached = findCachedPolicy(store_, opts_.policyFile, policyText_)) {
    policy_ = std::move(cached->policy);
    policyCachedIn_ = cached->instance;
    result_.policyCached = true;
    return std::nullopt;
  }
  auto policy = policies::loadPolicyText(policyText_, opts_.policyFile);
  if (!policy.ok()) return ApplyFailure{FailureKind::kBadInput, policy.error(), false, {}};
  policy_ = std::move(*policy);
  return std::nullopt;
}

void Applier::keepPolicy() {
  if (opts_.dryRun || policyCachedIn_ == result_.instance) return;
  if (Status s = cachePolicy(store_, result_.instance, opts_.policyFile, policyText_, *policy_); !s.ok())
    result_.warnings.push_back({"keep the loaded policy for the next apply", s.error()});
}

std::optional<ApplyFailure> Applier::loadInputs() {
  if (auto f = loadPolicy()) return f;
  finishPhase("load");
  auto topology = discoverDevice(policy_->device, opts_.discover);
  if (!topology.ok())
    return ApplyFailure{FailureKind::kBadInput,
                        Error(topology.error().code(),
                              topology.error().describe() + " (device.pf in " + opts_.policyFile + ")"),
                        false,
                        {}};
  topology_ = std::move(*topology);
  auto profile = resolveProfile(*policy_, opts_.profile, profileDir(opts_.profileDir), topology_->driver);
  if (!profile.ok()) return ApplyFailure{FailureKind::kBadInput, profile.error(), false, {}};
  profile_ = std::move(*profile);
  if (opts_.emulateNic && profile_->engine == policies::NicEngine::kNtuple)
    return ApplyFailure{FailureKind::kBadInput,
                        Error(ErrorCode::kNotSupported,
                              "profile " + profile_->name +
                                  " writes ethtool flow rules (engine ntuple), which only a NIC runs: --emulate-nic "
                                  "has nothing to emulate them with; leave it out, or try profile ixgbe (u32)"),
                        false,
                        {}};
  auto placement = placementOptions(opts_.skipSw, opts_.skipHw);
  if (!placement.ok()) return ApplyFailure{FailureKind::kBadInput, placement.error(), false, {}};
  placement_ = std::move(*placement);
  result_.instance = topology_->instance();
  if (opts_.expectInstance && result_.instance != *opts_.expectInstance)
    return ApplyFailure{FailureKind::kBadInput,
                        Error(ErrorCode::kInvalidInput,
                              "the policy now names instance " + result_.instance + ", but this vfsteer run keeps " +
                                  *opts_.expectInstance + "; start a run for the other device instead"),
                        false,
                        {}};
  return std::nullopt;
}

ApplyFailure Applier::fail(const Error& e, FailureKind kind) {
  // A failure is timed too: from the last step that ended to here (a step
  // that failed midway, such as loading), and the undo.
  finishPhase("failed");
  ApplyFailure f{kind, e, false, {}};
  if (executor_) {
    f.changedSomething = executor_->changedAnything();
    f.leftovers = executor_->rollback();
    // Everything this run did is undone: the journal goes back to what an
    // earlier interrupted run left (those leftovers are still there).
    if (f.leftovers.empty()) journal_->restore();
    finishPhase("undo");
  }
  return f;
}

ApplyResult Applier::failed(ApplyFailure f) {
  ApplyResult r = result_;
  r.failure = std::move(f);
  r.changes.clear();
  r.provisioning.clear();
  return r;
}

std::optional<ApplyFailure> Applier::replan() {
  auto plan = demux::plan(*policy_, *profile_, placement_);
  if (!plan.ok()) return fail(plan.error(), FailureKind::kBadInput);
  plan_ = std::move(*plan);
  result_.policyWarnings = demux::lint(*policy_, *plan_, policyLintOptions());
  if (!plan_->ok()) {
    std::string why;
    for (const auto& e : plan_->errors) why += (why.empty() ? "" : "\n") + e.pos.str() + ": " + e.message;
    result_.refusedPlan = demux::splitReport(*policy_, *plan_);
    return fail(Error(ErrorCode::kInvalidInput, why), FailureKind::kPlanRefused);
  }
  return std::nullopt;
}

std::optional<ApplyFailure> Applier::openPorts() {
  auto kernelFailure = [](const Error& e) { return ApplyFailure{FailureKind::kKernelRefused, e, false, {}}; };
  auto route = factory_.netlink(topology_->netns, NETLINK_ROUTE);
  if (!route.ok()) return kernelFailure(route.error());
  route_ = std::move(*route);
  auto genl = factory_.netlink(topology_->netns, NETLINK_GENERIC);
  if (genl.ok()) {
    genl_ = std::move(*genl);
    auto family = resolveDevlinkFamily(*genl_);
    if (family.ok()) devlinkFamily_ = *family;
  }
  device_ = factory_.device();
  auto programs = factory_.programs(topology_->netns);
  if (!programs.ok()) return kernelFailure(programs.error());
  programs_ = std::move(*programs);
  if (usesFlowRules()) {
    auto ethtool = factory_.ethtool(topology_->netns);
    if (!ethtool.ok()) return kernelFailure(ethtool.error());
    ethtool_ = std::move(*ethtool);
  }
  auto pinDir = representors::Datapath::pinDir(result_.instance);
  if (!pinDir.ok()) return kernelFailure(pinDir.error());
  auto dp = factory_.datapath(*pinDir);
  if (!dp.ok()) return kernelFailure(dp.error());
  datapath_ = std::move(*dp);
  executor_.emplace(ExecutePorts{*route_, *datapath_, *programs_, ethtool_.get()}, result_.instance, model_, *journal_);
  return std::nullopt;
}

std::optional<ApplyFailure> Applier::provision() {
  ProvisionPorts pp{*route_, devlinkFamily_ ? genl_.get() : nullptr, devlinkFamily_, *device_};
  // A described topology (the lab) has nothing to provision.
  DeviceState now;
  if (topology_->source.rfind("file:", 0) != 0) {
    auto observed = observeDevice(*topology_, pp);
    if (!observed.ok()) return fail(observed.error(), FailureKind::kKernelRefused);
    now = std::move(*observed);
  }
  auto changes = provisioningChanges(*policy_, *profile_, *topology_, now, pp.devlink != nullptr);
  if (!changes.ok()) return fail(changes.error(), kindFor(changes.error()));
  if (changes->empty()) return std::nullopt;
  if (opts_.dryRun) {
    for (const auto& c : *changes) result_.provisioning.push_back(describe(c));
    result_.provisioningPending = true;
    return std::nullopt;
  }
  Status done = executor_->runDevice(*changes, pp);
  result_.provisioning = executor_->deviceDone();
  if (!done.ok()) return fail(done.error(), FailureKind::kKernelRefused);
  // New VFs and a new eswitch mode change the representors.
  auto again = discoverDevice(policy_->device, opts_.discover);
  if (!again.ok()) return fail(again.error(), FailureKind::kKernelRefused);
  topology_ = std::move(*again);
  return std::nullopt;
}

Result<representors::DemuxHook> Applier::demuxHook() const {
  using Hook = policies::Device::BpfHook;
  // Emulated, the program runs in software on tc ingress, whatever the
  // profile's hook.
  if (opts_.emulateNic) return representors::DemuxHook::kTc;
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

ObserveScope Applier::observeScope() const {
  ObserveScope scope;
  scope.instance = result_.instance;
  scope.devices.insert(topology_->pf);
  for (const auto& r : topology_->reps) scope.devices.insert(r.ifname);
  if (previous_) {
    scope.devices.insert(previous_->devices.begin(), previous_->devices.end());
    scope.devices.insert(previous_->clsact.begin(), previous_->clsact.end());
  }
  scope.xdpFeatures = policy_->device.hostXdp && profile_->hostXdp == policies::HostXdp::kNative;
  // ixgbe's u32 filters and ethtool's flow rules share the flow director's
  // locations: reconcile keeps vfsteer's rules off the ones others hold.
  if (flowDirectorEngine()) scope.flowRuleDevices.insert(topology_->pf);
  scope.records = recordsOf(previous_ ? &*previous_ : nullptr, &journal_->journal());
  return scope;
}

std::optional<ApplyFailure> Applier::holdChainsWhileTheDemuxMoves(representors::DemuxHook hook) {
  if (profile_->engine != policies::NicEngine::kBpf || opts_.dryRun || plan_->nicRules.empty()) return std::nullopt;
  const Key wanted{Kind::kDemuxProgram, topology_->pf, static_cast<uint32_t>(hook)};
  bool elsewhere = false;
  for (const auto& [key, object] : model_.owned) elsewhere |= key.kind == Kind::kDemuxProgram && key != wanted;
  if (!elsewhere) return std::nullopt;
  for (const auto& r : plan_->nicRules)
    if (plan_->chains[r.chain].mode == policies::OffloadMode::kSkipSw)
      return fail(Error(ErrorCode::kConflict,
                        "moving the NIC demux program to " + std::string(hookName(hook)) + " puts chain " +
                            policy_->chains[r.chain].name +
                            " on the host while it moves, and that chain is skip-sw; apply once with it on "
                            "--skip-hw or auto, then again"),
                  FailureKind::kPlanRefused);
  for (const auto& r : plan_->nicRules) placement_.refused[policy_->chains[r.chain].name] = kMovingReason;
  result_.demuxMoved = true;
  return replan();
}

std::optional<ApplyFailure> Applier::reconcileAndExecute(representors::DemuxHook hook) {
  // The NIC refuses rules one chain (or one program) at a time; each
  // refusal moves chains to the host, so this settles within as many
  // rounds as there are chains.
  for (size_t round = 0; round <= policy_->chains.size(); ++round) {
    LowerInputs in{*policy_, *profile_, *plan_, *topology_, model_, previous_ ? &*previous_ : nullptr,
                   opts_.emulateNic, hook};
    auto lowered = lower(in);
    if (!lowered.ok()) return fail(lowered.error(), kindFor(lowered.error()));
    lowered_ = std::move(*lowered);
    finishPhase("lower");
    auto changes = reconcile(lowered_->desired, model_);
    if (!changes.ok()) return fail(changes.error(), kindFor(changes.error()));
    last_ = std::move(*changes);
    finishPhase("reconcile");
    if (opts_.dryRun) {
      result_.changes = last_.changes;
      return std::nullopt;
    }
    auto refusals = executor_->run(last_);
    finishPhase("execute");
    if (!refusals.ok()) return fail(refusals.error(), FailureKind::kKernelRefused);
    if (refusals->empty()) return std::nullopt;
    for (const auto& r : *refusals) {
      for (const auto& chain : r.chains) placement_.refused[chain] = r.reason;
      result_.refusals.push_back(r);
    }
    if (auto f = replan()) return f;
    finishPhase("plan");
  }
  return fail(Error(ErrorCode::kInternal, "the NIC kept refusing rules after every chain moved to the host"),
              FailureKind::kKernelRefused);
}

InstanceState Applier::nextState() const {
  InstanceState next;
  next.instance = result_.instance;
  next.netns = topology_->netns;
  next.pf = topology_->pf;
  next.policyFile = std::filesystem::absolute(policy_->file).lexically_normal().string();
  next.profile = profile_->name;
  next.chainIds = lowered_->host.chainIds;
  next.programs = lowered_->host.programs;
  for (const auto& [key, object] : lowered_->desired.objects) {
    if (!key.device.empty() && key.kind != Kind::kTunnelDevice) next.devices.insert(key.device);
    switch (key.kind) {
      case Kind::kClsact:
        if (model_.owned.contains(key)) next.clsact.insert(key.device);
        break;
      case Kind::kTunnelDevice:
        if (model_.owned.contains(key)) next.tunnelDevices.insert(key.device);
        break;
      case Kind::kDemuxProgram: {
        DemuxProgram record = std::get<DemuxProgram>(object);
        record.insns.clear();
        if (auto it = model_.owned.find(key); it != model_.owned.end())
          record.progId = std::get<DemuxProgram>(it->second).progId;
        next.demuxProgram = record;
        break;
      }
      case Kind::kFlowRule:
        if (auto it = model_.owned.find(key); it != model_.owned.end())
          next.flowRules[key.device][key.index] = {netlink::rxnfc::ethtoolArgs(std::get<FlowRule>(it->second).rule)};
        break;
      case Kind::kHostEntry: next.hostEntries.push_back(key.device); break;
      case Kind::kXdpEntry: next.xdpEntries.push_back(std::get<XdpEntry>(object)); break;
      default: break;
    }
  }
  next.nicEmulated = opts_.emulateNic && (next.demuxProgram || std::any_of(lowered_->desired.objects.begin(),
                                                                          lowered_->desired.objects.end(),
                                                                          [](const auto& kv) {
                                                                            return kv.first.kind == Kind::kNicRule;
                                                                          }));
  next.nicCounters = profile_->ruleCounters || next.nicEmulated;
  next.refused = placement_.refused;
  if (previous_)
    for (const auto& name : previous_->skipSw)
      if (!cleared(name)) next.skipSw.push_back(name);
  for (const auto& name : opts_.enforceSkipSw)
    if (std::find(next.skipSw.begin(), next.skipSw.end(), name) == next.skipSw.end()) next.skipSw.push_back(name);
  next.splitFingerprint = fingerprint(lowered_->split);
  return next;
}

bool sameRecords(const InstanceState& a, const InstanceState& b) {
  auto demux = [](const std::optional<DemuxProgram>& d) {
    return d ? std::tuple{true, d->hook, d->device, d->emulated, d->progId, d->fingerprint, d->chains}
             : std::tuple{false, representors::DemuxHook::kTc, std::string(), false, 0u, std::string(),
                          std::vector<std::string>()};
  };
  auto xdp = [](const std::vector<XdpEntry>& v) {
    std::vector<std::tuple<std::string, policies::HostXdp, bool>> out;
    for (const auto& x : v) out.push_back({x.device, x.mode, x.rxMetadata});
    return out;
  };
  return a.instance == b.instance && a.netns == b.netns && a.pf == b.pf && a.policyFile == b.policyFile &&
         a.profile == b.profile && a.chainIds == b.chainIds && a.programs == b.programs && a.devices == b.devices &&
         a.clsact == b.clsact && a.tunnelDevices == b.tunnelDevices && demux(a.demuxProgram) == demux(b.demuxProgram) &&
         a.flowRules == b.flowRules &&
         a.hostEntries == b.hostEntries && xdp(a.xdpEntries) == xdp(b.xdpEntries) && a.nicEmulated == b.nicEmulated &&
         a.nicCounters == b.nicCounters && a.refused == b.refused && a.skipSw == b.skipSw && a.splitFingerprint == b.splitFingerprint;
}

ApplyResult Applier::run() {
  if (auto f = loadInputs()) return failed(*f);
  finishPhase("discover");
  if (!opts_.asKeeper && !opts_.dryRun)
    if (auto keeper = keeperOf(store_.root(), result_.instance))
      return failed(fail(keptBy(result_.instance, *keeper, "change by apply or enforce"), FailureKind::kBadInput));
  auto lock = store_.lock(result_.instance, opts_.lockWait);
  if (!lock.ok()) return failed(fail(lock.error(), FailureKind::kBadInput));
  auto previous = store_.load(result_.instance);
  if (!previous.ok()) return failed(fail(previous.error(), FailureKind::kKernelRefused));
  previous_ = std::move(*previous);
  Journal recovered;
  if (auto journal = store_.loadJournal(result_.instance); !journal.ok()) {
    result_.warnings.push_back({"read the journal of an interrupted apply", journal.error()});
  } else if (journal->has_value()) {
    recovered = **journal;
    result_.tookOver = recovered;
  }
  journal_.emplace(store_, result_.instance, policy_->file, recovered, opts_.dryRun);

  // Refusals recorded earlier keep their chains on the host (no retry on a
  // plain re-apply); chains enforced with `vfsteer enforce` stay skip-sw.
  if (previous_ && !opts_.retryRefused && previous_->profile == profile_->name)
    for (const auto& [name, why] : previous_->refused)
      if (policy_->findChain(name) && !(secondPass_ && why == kMovingReason)) placement_.refused[name] = why;
  if (previous_)
    for (const auto& name : previous_->skipSw)
      if (policy_->findChain(name) && !placement_.chains.contains(name) && !cleared(name))
        placement_.chains[name] = policies::OffloadMode::kSkipSw;
  finishPhase("state");
  if (auto f = replan()) return failed(*f);
  finishPhase("plan");
  auto hook = demuxHook();
  if (!hook.ok()) return failed(fail(hook.error(), FailureKind::kBadInput));

  if (auto f = openPorts()) return failed(*f);
  if (auto f = provision()) return failed(*f);
  finishPhase("provision");
  if (result_.provisioningPending) return result_;  // dry run: the new representors are not there to plan for

  ObservePorts observePorts{*route_, genl_.get(), *datapath_, ethtool_.get()};
  auto observed = observe(observeScope(), observePorts);
  if (!observed.ok()) return failed(fail(observed.error(), FailureKind::kKernelRefused));
  model_ = std::move(*observed);
  finishPhase("observe");
  if (auto f = holdChainsWhileTheDemuxMoves(*hook)) return failed(*f);
  if (result_.demuxMoved) finishPhase("plan");
  if (auto f = reconcileAndExecute(*hook)) return failed(*f);
  if (opts_.dryRun) return result_;
  result_.changes = executor_->done();

  const InstanceState next = nextState();
  result_.recordsChanged = !previous_ || !sameRecords(*previous_, next);
  if (!result_.changedKernel() && !result_.recordsChanged && last_.empty() && !result_.tookOver) {
    keepPolicy();
    finishPhase("record");
    return result_;
  }

  // Tunnel devices the new state no longer lists are deleted after it is
  // saved: the journal keeps them vfsteer's until then.
  std::set<std::string> retiring;
  for (const auto& c : last_.changes)
    if (c.op == Op::kRemove && c.key().kind == Kind::kTunnelDevice) retiring.insert(c.key().device);
  if (!retiring.empty()) {
    Status s = journal_->intend([&](Journal& j) { j.tunnelDevices.insert(retiring.begin(), retiring.end()); });
    if (!s.ok()) return failed(fail(s.error(), FailureKind::kKernelRefused));
  }
  if (!previous_ || previous_->splitFingerprint != next.splitFingerprint) {
    Status s = store_.saveSplit(result_.instance, next.splitFingerprint, lowered_->split);
    if (!s.ok()) return failed(fail(s.error(), FailureKind::kKernelRefused));
  }
  Status saved = store_.save(next);
  if (!saved.ok()) return failed(fail(saved.error(), FailureKind::kKernelRefused));
  result_.recordsChanged = true;
  executor_->commit();
  // The new policy is in place; clean-up failures are reported, not undone.
  auto warnings = executor_->finish(last_);
  result_.warnings.insert(result_.warnings.end(), warnings.begin(), warnings.end());
  result_.changes = executor_->done();
  if (Status s = journal_->clear(); !s.ok()) result_.warnings.push_back({"remove the journal", s.error()});
  keepPolicy();
  finishPhase("record");
  return result_;
}

}  // namespace

Result<demux::PlanOptions> placementOptions(const std::vector<std::string>& skipSw,
                                            const std::vector<std::string>& skipHw) {
  demux::PlanOptions options;
  for (auto [values, mode] : {std::pair{&skipSw, policies::OffloadMode::kSkipSw},
                              std::pair{&skipHw, policies::OffloadMode::kSkipHw}}) {
    for (const auto& v : *values) {
      if (v.empty())
        return Error(ErrorCode::kInvalidInput, "--" + std::string(policies::name(mode)) + " needs a chain name or \"all\"");
      if (v == "all") {
        if (options.all && *options.all != mode)
          return Error(ErrorCode::kInvalidInput, "--skip-sw all and --skip-hw all contradict");
        options.all = mode;
        continue;
      }
      auto [it, fresh] = options.chains.emplace(v, mode);
      if (!fresh && it->second != mode)
        return Error(ErrorCode::kInvalidInput, "chain \"" + v + "\" is named by both --skip-sw and --skip-hw");
    }
  }
  return options;
}

ApplyResult apply(const ApplyOptions& options, PortFactory& ports) {
  ApplyResult first = Applier(options, ports, /*secondPass=*/false).run();
  if (!first.ok() || !first.demuxMoved) return first;
  ApplyResult second = Applier(options, ports, /*secondPass=*/true).run();
  second.demuxMoved = true;
  second.firstPass = first.changes;
  second.provisioning.insert(second.provisioning.begin(), first.provisioning.begin(), first.provisioning.end());
  second.warnings.insert(second.warnings.begin(), first.warnings.begin(), first.warnings.end());
  second.phases.insert(second.phases.begin(), first.phases.begin(), first.phases.end());
  second.recordsChanged = true;
  if (second.failure)
    second.failure->error.addContext("after the first pass, which left the host running the chains the demux "
                                     "program carried");
  return second;
}

demux::LintOptions policyLintOptions() {
  demux::LintOptions options;
  options.fileExists = [](const std::string& path) {
    std::error_code ec;
    return std::filesystem::exists(path, ec);
  };
  return options;
}

}  // namespace vfsteer::engine
