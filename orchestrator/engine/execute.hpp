// execute: a change set into the kernel. Consecutive netlink changes of a
// phase go out as one batch (many requests per sendmsg, each ack matched to
// its change); the datapath's maps and programs through their port. Every
// change that succeeds leaves its undo in a log, so that `rollback` puts
// the kernel back as it was, newest first, until `commit`.
//
// NIC changes the kernel refuses (a flower rule, an ethtool flow rule, the
// demux program) are refusals, not failures, unless their chain is
// skip-sw: `run` stops after the phase they happened in and returns them,
// so that apply can move those chains to the host and reconcile again from
// where the kernel is now. A skip_sw rule the kernel accepts but does not
// report in hardware (read from its echo, NLM_F_ECHO) is refused the same
// way.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/change_set.hpp"
#include "engine/journal.hpp"
#include "engine/ports.hpp"
#include "engine/provision.hpp"

namespace vfsteer::engine {

struct ExecutePorts {
  NetlinkPort& route;
  DatapathPort& datapath;
  ProgramPort& programs;
  EthtoolPort* ethtool = nullptr;  // engine ntuple's flow rules; null when there are none
};

// NIC changes the kernel would not take: their chains go to the host.
struct Refusal {
  std::vector<std::string> chains;
  std::string words;   // the kernel's
  std::string reason;  // for the split report: "the NIC refused its rule: WORDS"
};

struct Warning {
  std::string what;
  Error error;
};

class Executor {
 public:
  // `model` is the kernel's state as observed; the executor keeps it up to
  // date with every change it makes.
  Executor(ExecutePorts ports, std::string instance, ObservedState& model, JournalKeeper& journal);
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  ~Executor();  // rolls back what was not committed

  // Runs the changes up to (not including) the ones that wait for the
  // commit. Stops after the first phase with refusals and returns them.
  Result<std::vector<Refusal>> run(const ChangeSet& changes);
  // Device provisioning (sysfs, devlink, VF settings), one change each.
  Status runDevice(const std::vector<DeviceChange>& changes, ProvisionPorts& ports);

  // Undoes everything done so far, newest first; returns what could not be
  // undone (empty: the kernel is as it was).
  std::vector<std::string> rollback();
  // Keeps everything done so far.
  void commit();
  // After the commit: the changes of `changes` that wait for it, and the
  // clean-up of the table generation that was replaced. Failures are
  // warnings: the new policy stays.
  std::vector<Warning> finish(const ChangeSet& changes);

  const std::vector<Change>& done() const { return done_; }
  const std::vector<std::string>& deviceDone() const { return deviceDone_; }
  bool changedAnything() const { return !done_.empty() || !deviceDone_.empty(); }

 private:
  struct Undo {
    std::string what;
    std::optional<Change> change;       // a netlink change: batched with its neighbours
    std::function<Status()> fn;         // anything else
  };

  Status runNetlink(const std::vector<const Change*>& batch, std::vector<Refusal>& refusals);
  void noteU32Emptied(const std::string& device);
  Status runSingle(const Change& change, std::vector<Refusal>& refusals);
  Status runHostTables(const Change& change);
  Status runDemuxProgram(const Change& change, std::vector<Refusal>& refusals);
  Status runFlowRule(const Change& change, std::vector<Refusal>& refusals);
  Status runTunnelDevice(const Change& change);
  // The request for a netlink change; nothing when there is nothing to send
  // (a removal from a device that is gone).
  Result<std::optional<netlink::Message>> encode(const Change& change, std::vector<UniqueFd>& keepOpen);
  // An attach of a port's own vfs_xdp_rx: the program loaded for it (kept
  // open in keepOpen until the batch is sent), and the change naming it.
  Result<Change> withLoadedRxEntry(const Change& change, std::vector<UniqueFd>& keepOpen);
  Result<int> ifindexOf(const std::string& device) const;
  void record(const Change& change);
  void recordUndo(std::string what, std::function<Status()> fn);
  Status sendUndos(std::vector<Undo>& batch, std::vector<std::string>& leftovers);
  // Sends a batch; `changes[i]` is what `messages[i]` asks for.
  Result<std::vector<netlink::RequestOutcome>> transact(std::vector<netlink::Message> messages,
                                                        const std::vector<const Change*>& changes);

  ExecutePorts ports_;
  std::string instance_;
  ObservedState& model_;
  JournalKeeper& journal_;
  std::vector<Undo> undos_;
  // Ports' own XDP entries this run detached: nothing else holds them, and
  // an undo must put the same program back.
  std::vector<UniqueFd> detachedRxEntries_;
  std::vector<Change> done_;
  std::vector<std::string> deviceDone_;
  std::optional<uint32_t> replacedGeneration_;  // to clear once committed
};

}  // namespace vfsteer::engine
