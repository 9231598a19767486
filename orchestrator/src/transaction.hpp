// All-or-nothing changes: each step is done with its undo recorded; if a
// later step fails, or the transaction is dropped without commit, the undos
// run in reverse order.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "vfsteer/common/result.hpp"

namespace vfsteer::orchestrator {

// One change an apply plans: what it is, how to make it, how to undo it
// (empty when nothing needs undoing).
struct PlannedChange {
  std::string what;
  std::function<Status()> apply;
  std::function<Status()> undo;
};

class Transaction {
 public:
  Transaction() = default;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  // Does `apply`; on success remembers `undo` (may be empty for a step that
  // needs none) and the description.
  Status step(const std::string& what, const std::function<Status()>& apply,
              std::function<Status()> undo);
  // Records a change already made (by a caller that had to inspect the
  // kernel's answer itself) so that a rollback undoes it too.
  void record(const std::string& what, std::function<Status()> undo);
  // Keeps everything done so far.
  void commit() { undos_.clear(); }
  // Undoes everything done so far, newest first. Returns the undo failures
  // (empty: the system is as it was).
  std::vector<std::string> rollback();

  const std::vector<std::string>& done() const { return done_; }

 private:
  struct Undo {
    std::string what;
    std::function<Status()> fn;
  };
  std::vector<Undo> undos_;
  std::vector<std::string> done_;
};

}  // namespace vfsteer::orchestrator
