#include "engine/journal.hpp"

#include <unistd.h>

namespace vfsteer::engine {

JournalKeeper::JournalKeeper(const StateStore& store, std::string instance, std::string policyFile, Journal recovered,
                             bool dryRun)
    : store_(store),
      instance_(std::move(instance)),
      policyFile_(std::move(policyFile)),
      journal_(recovered),
      recovered_(std::move(recovered)),
      dryRun_(dryRun) {}

Status JournalKeeper::intend(const std::function<void(Journal&)>& add) {
  if (dryRun_) return okStatus();
  add(journal_);
  journal_.pid = static_cast<int>(::getpid());
  journal_.policyFile = policyFile_;
  return store_.saveJournal(instance_, journal_);
}

void JournalKeeper::restore() {
  if (dryRun_) return;
  journal_ = recovered_;
  // Best effort: a journal that says more than is left only makes the next
  // run look for objects that are not there.
  if (recovered_.empty())
    (void)store_.removeJournal(instance_);
  else
    (void)store_.saveJournal(instance_, recovered_);
}

Status JournalKeeper::clear() {
  if (dryRun_) return okStatus();
  journal_ = Journal{};
  return store_.removeJournal(instance_);
}

}  // namespace vfsteer::engine
