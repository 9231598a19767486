#include "transaction.hpp"

namespace vfsteer::orchestrator {

Transaction::~Transaction() { rollback(); }

Status Transaction::step(const std::string& what, const std::function<Status()>& apply,
                         std::function<Status()> undo) {
  Status s = apply();
  if (!s.ok()) return std::move(s).error().addContext(what);
  done_.push_back(what);
  if (undo) undos_.push_back(Undo{what, std::move(undo)});
  return okStatus();
}

void Transaction::record(const std::string& what, std::function<Status()> undo) {
  done_.push_back(what);
  if (undo) undos_.push_back(Undo{what, std::move(undo)});
}

std::vector<std::string> Transaction::rollback() {
  std::vector<std::string> failures;
  for (auto it = undos_.rbegin(); it != undos_.rend(); ++it) {
    Status s = it->fn();
    if (!s.ok()) failures.push_back("undo " + it->what + ": " + s.error().describe());
  }
  undos_.clear();
  return failures;
}

}  // namespace vfsteer::orchestrator
