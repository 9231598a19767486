#include "apply.hpp"

#include <linux/netlink.h>

#include <set>

#include "commands.hpp"
#include "host_program.hpp"
#include "plan_output.hpp"
#include "profiles.hpp"
#include "tc_ops.hpp"
#include "transaction.hpp"
#include "vfsteer/demux/splitter.hpp"
#include "vfsteer/policies/loader.hpp"

namespace vfsteer::orchestrator {

namespace tc = netlink::tc;
using representors::HostTables;

namespace {

ApplyResult failure(int code, std::string error) {
  ApplyResult r;
  r.exitCode = code;
  r.error = std::move(error);
  return r;
}

// Bad input, missing devices and unsupported sizes are the operator's to
// fix (nothing was changed); anything the kernel refused mid-way is 3.
int exitCodeFor(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kInvalidInput:
    case ErrorCode::kNotFound:
    case ErrorCode::kConflict:
    case ErrorCode::kPermission:
      return kExitBadInput;
    default:
      return kExitKernelRefused;
  }
}

HostBindings bindingsOf(const representors::Topology& t) {
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
  return std::to_string(t.chains.size()) + " chains, " + std::to_string(t.rules.size()) +
         " rules, " + std::to_string(t.tuples.size()) + " match shapes";
}

// One planned change: what it is, how to do it, how to undo it.
struct Change {
  std::string what;
  std::function<Status()> apply;
  std::function<Status()> undo;
};

}  // namespace

ApplyResult apply(const ApplyOptions& opts, PortFactory& ports) {
  // ---- inputs (nothing touched yet) -------------------------------------------------
  auto policy = policies::loadPolicyFile(opts.policyFile);
  if (!policy.ok()) return failure(kExitBadInput, policy.error().message());

  auto topology = representors::discover(policy->device.pf, opts.discover);
  if (!topology.ok())
    return failure(kExitBadInput, topology.error().describe() + " (device.pf in " + opts.policyFile + ")");

  const std::string wanted = opts.profile ? *opts.profile : policy->device.profile;
  auto profiles = policies::loadProfileDir(profileDir(opts.profileDir));
  if (!profiles.ok()) return failure(kExitBadInput, profiles.error().describe());
  auto profile = policies::selectProfile(*profiles, wanted, topology->driver);
  if (!profile.ok()) return failure(kExitBadInput, profile.error().describe());

  auto placement = placementOptions(opts.skipSw, opts.skipHw);
  if (!placement.ok()) return failure(kExitBadInput, placement.error().message());
  auto plan = demux::plan(*policy, *profile, *placement);
  if (!plan.ok()) return failure(kExitBadInput, plan.error().message());

  ApplyResult result;
  result.instance = topology->instance();
  result.policy = *policy;
  result.plan = *plan;
  if (!plan->ok()) {
    std::string why;
    for (const auto& e : plan->errors) why += (why.empty() ? "" : "\n") + e.pos.str() + ": " + e.message;
    result.exitCode = kExitPlanRefused;
    result.error = why;
    return result;
  }
  if (!plan->nicRules.empty() && profile->engine != policies::NicEngine::kNone)
    return failure(kExitBadInput, "profile " + profile->name +
                                      " puts rules in the NIC, which this vfsteer does not program "
                                      "yet; apply with --skip-hw all to run everything on the host");

  StateStore store(opts.stateRoot);
  auto lock = store.lock(result.instance, opts.lockWait);
  if (!lock.ok()) return failure(kExitBadInput, lock.error().describe());
  auto previousState = store.load(result.instance);
  if (!previousState.ok()) return failure(kExitKernelRefused, previousState.error().describe());
  const InstanceState* previous = previousState->has_value() ? &**previousState : nullptr;

  auto desired = buildHostProgram(*policy, *plan, bindingsOf(*topology), previous);
  if (!desired.ok()) return failure(exitCodeFor(desired.error()), desired.error().describe());

  auto nl = ports.netlink(topology->netns, NETLINK_ROUTE);
  if (!nl.ok()) return failure(kExitKernelRefused, nl.error().describe());
  const std::string pinDir = representors::Datapath::pinDir(result.instance);
  auto dp = ports.datapath(pinDir);
  if (!dp.ok()) return failure(kExitKernelRefused, dp.error().describe());
  NetlinkPort& netlinkPort = **nl;
  DatapathPort& datapath = **dp;

  // ---- what the kernel has ----------------------------------------------------------
  const bool hadDatapath = datapath.present();
  const uint32_t activeGen = hadDatapath ? datapath.activeGeneration() : 0;
  const uint32_t nextGen = activeGen ^ 1;
  HostTables activeTables;
  if (hadDatapath) {
    auto t = datapath.readGeneration(activeGen);
    if (!t.ok()) return failure(kExitKernelRefused, t.error().describe());
    activeTables = *t;
  }
  std::map<int, PortTcState> tcState;
  std::set<int> seen;
  for (const auto& [ifindex, name] : desired->attach) seen.insert(ifindex);
  if (previous)
    for (const auto& a : previous->attachments) seen.insert(a.ifindex);
  for (int ifindex : seen) {
    auto s = readPortTc(netlinkPort, ifindex);
    if (!s.ok()) return failure(kExitKernelRefused, s.error().describe());
    tcState[ifindex] = *s;
  }

  // ---- the difference ---------------------------------------------------------------
  std::vector<Change> changes;
  if (!hadDatapath)
    changes.push_back({"load the host datapath into " + pinDir, [&] { return datapath.create(); },
                       [&] { return datapath.destroy(); }});

  std::set<uint32_t> previousSlots;
  if (previous)
    for (const auto& p : previous->programs) previousSlots.insert(p.slot);
  for (const auto& p : desired->programs) {
    if (previousSlots.contains(p.slot)) continue;  // unchanged: same object, same slot
    representors::UserProgram up{p.slot, p.object, p.program};
    changes.push_back({"load bpf program " + p.program + " from " + p.object + " into slot " +
                           std::to_string(p.slot),
                       [&datapath, up] { return datapath.loadUserProgram(up); },
                       [&datapath, slot = p.slot] { return datapath.unloadUserProgram(slot); }});
  }

  const bool tablesChanged = !desired->tables.sameAs(activeTables);
  if (tablesChanged) {
    for (const auto& [name, id] : desired->chainIds) {
      bool known = previous && previous->chainIds.contains(name) && previous->chainIds.at(name) == id;
      if (!known)
        changes.push_back({"zero the counters of chain " + name,
                           [&datapath, id = id] { return datapath.resetChainCounters(id); }, {}});
    }
    const HostTables& nextTables = desired->tables;
    changes.push_back({"write generation " + std::to_string(nextGen) + " (" + describeTables(nextTables) + ")",
                       [&datapath, &nextTables, nextGen] { return datapath.writeGeneration(nextGen, nextTables); },
                       [&datapath, nextGen] { return datapath.clearGeneration(nextGen); }});
    changes.push_back({"switch the datapath to generation " + std::to_string(nextGen),
                       [&datapath, nextGen] { return datapath.activate(nextGen); },
                       [&datapath, activeGen] { return datapath.activate(activeGen); }});
  }

  std::vector<AttachPoint> attachments;
  for (const auto& [ifindex, name] : desired->attach) {
    const PortTcState& s = tcState[ifindex];
    AttachPoint ap{name, ifindex, false};
    if (previous)
      for (const auto& a : previous->attachments)
        if (a.ifindex == ifindex) ap.createdClsact = a.createdClsact;
    if (!s.clsact) {
      ap.createdClsact = true;
      changes.push_back({"add clsact on " + name,
                         [&netlinkPort, ifindex = ifindex, name = name] {
                           return runOne(netlinkPort, tc::encodeAddQdisc({ifindex, "clsact"}),
                                         "add clsact on " + name);
                         },
                         [&netlinkPort, ifindex = ifindex, name = name] {
                           return runOne(netlinkPort, tc::encodeDeleteQdisc({ifindex, "clsact"}),
                                         "remove clsact from " + name);
                         }});
    }
    const bool current = s.ours && hadDatapath &&
                         std::get<tc::Bpf>(s.ours->spec).progId == datapath.ingressProgId();
    if (!current) {
      const bool replace = s.ours.has_value();
      changes.push_back(
          {"attach the host datapath to " + name + " ingress",
           [&netlinkPort, &datapath, ifindex = ifindex, name = name, replace, inst = result.instance] {
             return runOne(netlinkPort,
                           tc::encodeAddFilter(hostFilter(ifindex, datapath.ingressFd(), inst), replace),
                           "attach to " + name);
           },
           // Undoing a replace deletes the filter: the stale program it held is
           // not pinned anymore, so the port falls back to the default path.
           [&netlinkPort, ifindex = ifindex, name = name, inst = result.instance] {
             return runOne(netlinkPort, tc::encodeDeleteFilter(hostFilter(ifindex, -1, inst)),
                           "detach from " + name);
           }});
    }
    attachments.push_back(ap);
  }
  if (previous) {
    for (const auto& a : previous->attachments) {
      if (desired->attach.contains(a.ifindex)) continue;
      const PortTcState& s = tcState[a.ifindex];
      if (s.ours)
        changes.push_back({"detach the host datapath from " + a.ifname,
                           [&netlinkPort, a, inst = result.instance] {
                             return runOne(netlinkPort, tc::encodeDeleteFilter(hostFilter(a.ifindex, -1, inst)),
                                           "detach from " + a.ifname);
                           },
                           {}});
      const bool onlyOurs = s.all.size() <= (s.ours ? 1u : 0u);
      if (a.createdClsact && s.clsact && onlyOurs)
        changes.push_back({"remove the clsact vfsteer added on " + a.ifname,
                           [&netlinkPort, a] {
                             return runOne(netlinkPort, tc::encodeDeleteQdisc({a.ifindex, "clsact"}),
                                           "remove clsact from " + a.ifname);
                           },
                           {}});
    }
  }

  InstanceState next;
  next.instance = result.instance;
  next.netns = topology->netns;
  next.pf = topology->pf;
  next.policyFile = policy->file;
  next.profile = profile->name;
  next.chainIds = desired->chainIds;
  next.programs = desired->programs;
  next.attachments = attachments;
  next.plan = planJson(*policy, *plan);
  const bool stateChanged = !previous || previous->chainIds != next.chainIds ||
                            previous->programs != next.programs ||
                            previous->attachments != next.attachments || previous->plan != next.plan ||
                            previous->policyFile != next.policyFile;

  if (changes.empty() && !stateChanged) {
    result.changed = false;
    return result;
  }
  for (const auto& c : changes) result.steps.push_back(c.what);
  if (opts.dryRun) {
    result.changed = !changes.empty();
    return result;
  }

  // ---- the change, all or nothing -------------------------------------------------------
  Transaction tx;
  for (const auto& c : changes) {
    Status s = tx.step(c.what, c.apply, c.undo);
    if (!s.ok()) {
      auto undoFailures = tx.rollback();
      std::string msg = s.error().describe();
      if (undoFailures.empty()) {
        msg += "\nnothing was changed (every step before it was undone)";
      } else {
        msg += "\nrolling back left these behind:";
        for (const auto& u : undoFailures) msg += "\n  " + u;
      }
      return failure(kExitKernelRefused, msg);
    }
  }
  Status saved = store.save(next);
  if (!saved.ok()) {
    tx.rollback();
    return failure(kExitKernelRefused, saved.error().describe() + "\nnothing was changed");
  }
  tx.commit();
  result.changed = true;

  // ---- clean-up of what the new generation no longer uses ----------------------------
  // The new policy is in place; failures here are reported, not rolled back.
  if (tablesChanged && hadDatapath) {
    Status s = datapath.clearGeneration(activeGen);
    if (!s.ok()) result.steps.push_back("warning: " + s.error().describe());
  }
  if (previous) {
    std::set<uint32_t> keep;
    for (const auto& p : desired->programs) keep.insert(p.slot);
    for (const auto& p : previous->programs) {
      if (keep.contains(p.slot)) continue;
      Status s = datapath.unloadUserProgram(p.slot);
      result.steps.push_back(s.ok() ? "unload bpf program from slot " + std::to_string(p.slot)
                                    : "warning: " + s.error().describe());
    }
  }
  return result;
}

}  // namespace vfsteer::orchestrator
