// Which `vfsteer run` keeps an instance. While it runs it holds its pid file
// (/run/vfsteer/daemons/INSTANCE.pid) locked; apply, enforce and teardown of
// that instance are refused meanwhile, since the daemon would undo them at
// its next reconcile. The lock dies with the process, so a killed daemon
// never blocks anyone.
#pragma once

#include <optional>
#include <string>

#include "vfsteer/common/result.hpp"

namespace vfsteer::engine {

struct Keeper {
  int pid = 0;
  std::string policyFile;
};

// Held for as long as a `vfsteer run` keeps the instance; the pid file goes
// with it.
class KeeperClaim {
 public:
  KeeperClaim(KeeperClaim&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) { other.fd_ = -1; }
  KeeperClaim(const KeeperClaim&) = delete;
  KeeperClaim& operator=(const KeeperClaim&) = delete;
  KeeperClaim& operator=(KeeperClaim&&) = delete;
  ~KeeperClaim();

 private:
  friend Result<KeeperClaim> claimInstance(const std::string&, const std::string&, const std::string&);
  KeeperClaim(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

// Fails with kConflict, naming the other keeper, when one runs.
Result<KeeperClaim> claimInstance(const std::string& stateRoot, const std::string& instance,
                                  const std::string& policyFile);

// The running keeper of `instance`, if any (a pid file nobody holds is stale).
std::optional<Keeper> keeperOf(const std::string& stateRoot, const std::string& instance);

// What a command that would change a kept instance says instead.
Error keptBy(const std::string& instance, const Keeper& keeper, const std::string& command);

}  // namespace vfsteer::engine
