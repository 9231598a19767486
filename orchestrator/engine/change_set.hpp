// A change set: what reconcile found to differ between the desired and the
// observed state, as data — each change an add, replace or remove of one
// typed object — in the order that never mis-steers a packet. `describe`
// is what `apply --dry-run` prints; `applyToModel` is what the change does
// to the kernel's state, for the executor's own record and for tests.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/objects.hpp"

namespace vfsteer::engine {

enum class Op : uint8_t { kAdd, kReplace, kRemove };

// Phases run in this order; within a phase, changes run in key order.
enum class Phase : uint8_t {
  // Removals an add needs first: a NIC rule at the priority with another
  // protocol (tc binds a priority to one), an XDP entry in the other mode
  // (a port holds native or generic, not both).
  kMakeRoom,
  // u32 tables whose rules and links made room: a table deleted takes what
  // is left in it, so it goes only once every removal before it succeeded.
  kMakeRoomTables,
  kPrepare,         // the datapath, bpf stage programs, tunnel devices, clsact qdiscs
  kNicStandalone,   // NIC rules that end in the NIC (deliver, drop): nothing of the host needed
  kHostTables,      // the host tables switch generation
  kHostEntries,     // the host entry on ports, continuation entries in their tc chains
  kXdpEntries,      // the XDP entry, after the tc entry it passes packets on to
  kNicToHost,       // NIC rules that hand over (goto chain, trap) and the demux program
  kRetireNic,       // NIC rules and demux programs the plan dropped: the host has taken over
  kRetireTables,    // u32 tables the plan dropped, once their rules and links are gone
  kRetireXdp,       // XDP entries no longer wanted, before the tc entries behind them
  kRetireEntries,   // continuation and host entries no longer wanted
  kRetireQdiscs,    // clsact qdiscs vfsteer added that nothing is left on
  kAfterCommit,     // once the state is saved: programs, tunnel devices, the datapath
};
std::string_view name(Phase phase);

struct Change {
  Op op = Op::kAdd;
  Phase phase = Phase::kPrepare;
  Object object;              // add, replace: what the kernel should hold; remove: what it holds
  std::optional<Object> was;  // replace: what it held
  Key key() const { return keyOf(object); }
  std::string describe() const;
};

struct ChangeSet {
  std::vector<Change> changes;
  bool empty() const { return changes.empty(); }
  // Everything but the changes that wait for the commit.
  bool changesKernelBeforeCommit() const;
};

// What `change` leaves in the kernel, applied to `model`. Program ids the
// kernel would assign are made up (fresh, distinct) but consistent: an
// entry added after a new datapath holds the new datapath's id.
void applyToModel(ObservedState& model, const Change& change);

// The change that undoes `change` (for a replace: put back what was there).
Change inverse(const Change& change);

}  // namespace vfsteer::engine
