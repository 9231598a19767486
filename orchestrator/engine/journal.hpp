// The journal of one apply: before creating something that carries no mark
// of its owner (a clsact qdisc, a tunnel device, an offloaded demux
// program, an ethtool flow rule), the apply writes it down, so that if it
// dies the next run still knows the object is vfsteer's. An apply that
// completes, or undoes everything, leaves the journal as it found it.
#pragma once

#include <functional>
#include <string>

#include "engine/state.hpp"

namespace vfsteer::engine {

class JournalKeeper {
 public:
  // `recovered`: what an interrupted apply left (empty when none); it
  // stays in the journal until this apply's outcome is recorded.
  JournalKeeper(const StateStore& store, std::string instance, std::string policyFile, Journal recovered, bool dryRun);

  // Adds to the journal and writes it, before the change it describes.
  Status intend(const std::function<void(Journal&)>& add);
  const Journal& journal() const { return journal_; }
  const Journal& recovered() const { return recovered_; }
  // After a rollback: back to what an interrupted run left.
  void restore();
  // After the outcome is in the state: no journal any more.
  Status clear();

 private:
  const StateStore& store_;
  std::string instance_;
  std::string policyFile_;
  Journal journal_;
  Journal recovered_;
  bool dryRun_;
};

}  // namespace vfsteer::engine
