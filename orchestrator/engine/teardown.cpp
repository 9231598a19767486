#include "engine/teardown.hpp"

#include <linux/netlink.h>

#include <string>

#include "engine/journal.hpp"
#include "engine/keeper.hpp"
#include "engine/observe.hpp"
#include "engine/reconcile.hpp"
#include "vfsteer/representors/datapath.hpp"

namespace vfsteer::engine {

Result<TeardownResult> teardown(const InstanceRef& ref, PortFactory& ports, const StateStore& store,
                                std::chrono::milliseconds lockWait, bool asKeeper) {
  TeardownResult out;
  if (!asKeeper)
    if (auto k = keeperOf(store.root(), ref.instance)) return keptBy(ref.instance, *k, "teardown");
  VFSTEER_ASSIGN_OR_RETURN(auto lock, store.lock(ref.instance, lockWait));
  VFSTEER_ASSIGN_OR_RETURN(auto state, store.load(ref.instance));
  VFSTEER_ASSIGN_OR_RETURN(auto journal, store.loadJournal(ref.instance));
  VFSTEER_ASSIGN_OR_RETURN(auto pinDir, representors::Datapath::pinDir(ref.instance));
  VFSTEER_ASSIGN_OR_RETURN(auto dp, ports.datapath(pinDir));
  JournalKeeper keeper(store, ref.instance, state ? state->policyFile : "", journal.value_or(Journal{}), false);

  // The namespace may be gone already (e.g. the lab was removed by hand):
  // then only the pins are left.
  const bool netnsGone = !ref.netns.empty() && !netlink::Netns::exists(ref.netns);
  if (netnsGone) {
    if (dp->present()) {
      VFSTEER_TRY(dp->destroy());
      out.removed.push_back({Op::kRemove, Phase::kAfterCommit, Datapath{}, std::nullopt});
    }
  } else {
    VFSTEER_ASSIGN_OR_RETURN(auto route, ports.netlink(ref.netns, NETLINK_ROUTE));
    VFSTEER_ASSIGN_OR_RETURN(auto programs, ports.programs(ref.netns));
    ObserveScope scope;
    scope.instance = ref.instance;
    scope.everyDevice = true;
    scope.records = recordsOf(state ? &*state : nullptr, journal ? &*journal : nullptr);
    // ethtool's flow rules are vfsteer's by record only.
    std::unique_ptr<EthtoolPort> ethtool;
    if (!scope.records.flowRules.empty()) {
      VFSTEER_ASSIGN_OR_RETURN(ethtool, ports.ethtool(ref.netns));
    }
    ObservePorts observePorts{*route, nullptr, *dp, ethtool.get()};
    VFSTEER_ASSIGN_OR_RETURN(ObservedState model, observe(scope, observePorts));
    VFSTEER_ASSIGN_OR_RETURN(ChangeSet changes, reconcile(DesiredState{}, model));
    Executor executor(ExecutePorts{*route, *dp, *programs, ethtool.get()}, ref.instance, model, keeper);
    VFSTEER_ASSIGN_OR_RETURN(auto refusals, executor.run(changes));
    (void)refusals;  // removals are never refused
    executor.commit();
    auto left = executor.finish(changes);
    out.removed = executor.done();
    // Teardown's job is removing: what failed to go is its failure (the
    // state stays, so a second teardown finds it again).
    if (!left.empty()) {
      std::string what;
      for (const auto& w : left) what += (what.empty() ? "" : "; ") + w.what + ": " + w.error.describe();
      return Error(left.front().error.code(), "teardown left something behind: " + what);
    }
  }
  if (state) {
    VFSTEER_TRY(store.remove(ref.instance));
    out.removedState = true;
  }
  if (journal) {
    VFSTEER_TRY(keeper.clear());
    out.removedJournal = true;
  }
  return out;
}

}  // namespace vfsteer::engine
