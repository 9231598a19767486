#include "engine/keeper.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <thread>
#include <sstream>

#include "vfsteer/common/paths.hpp"

namespace vfsteer::engine {

namespace {

Keeper readKeeper(int fd) {
  char buf[4096] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  Keeper k;
  std::istringstream in(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0));
  in >> k.pid;
  in.ignore(1);
  std::getline(in, k.policyFile);
  return k;
}

bool sameFile(int fd, const std::string& path) {
  struct stat held {}, named {};
  return ::fstat(fd, &held) == 0 && ::stat(path.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
         held.st_dev == named.st_dev;
}

}  // namespace

KeeperClaim::~KeeperClaim() {
  if (fd_ < 0) return;
  // Unlinked while still held: a newcomer that opened the old file sees it
  // is no longer the named one and starts over (claimInstance).
  ::unlink(path_.c_str());
  ::close(fd_);
  // The directory goes with its last pid file (it fails while others remain).
  ::rmdir(std::filesystem::path(path_).parent_path().c_str());
}

Result<KeeperClaim> claimInstance(const std::string& stateRoot, const std::string& instance,
                                  const std::string& policyFile) {
  VFSTEER_ASSIGN_OR_RETURN(auto path, paths::daemonFile(instance, stateRoot));
  // keeperOf() holds a stale file for an instant: a short wait tells it
  // apart from a keeper that runs.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  for (;;) {
    // Made on every try: the last keeper of another instance removes the
    // directory when it exits (~KeeperClaim).
    VFSTEER_TRY(paths::makePrivateDirs(stateRoot + "/daemons"));
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 && errno == ENOENT && std::chrono::steady_clock::now() < deadline) continue;
    if (fd < 0) return Error::fromErrno(errno, "open " + path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      const Keeper other = readKeeper(fd);
      ::close(fd);
      if (err != EWOULDBLOCK) return Error::fromErrno(err, "lock " + path);
      if (std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      return Error(ErrorCode::kConflict, "another vfsteer run (pid " + std::to_string(other.pid) + ", policy " +
                                             other.policyFile + ") keeps " + instance +
                                             "; stop it first, or edit its policy file");
    }
    if (!sameFile(fd, path)) {  // its last keeper removed it while we waited
      ::close(fd);
      continue;
    }
    const std::string content = std::to_string(::getpid()) + "\n" + policyFile + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, content.data(), content.size(), 0) < 0) {
      const int err = errno;
      ::unlink(path.c_str());
      ::close(fd);
      return Error::fromErrno(err, "write " + path);
    }
    return KeeperClaim(fd, path);
  }
}

std::optional<Keeper> keeperOf(const std::string& stateRoot, const std::string& instance) {
  auto path = paths::daemonFile(instance, stateRoot);
  if (!path.ok()) return std::nullopt;
  int fd = ::open(path->c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<Keeper> keeper;
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) keeper = readKeeper(fd);  // held: its keeper runs
  ::close(fd);
  return keeper;
}

Error keptBy(const std::string& instance, const Keeper& keeper, const std::string& command) {
  return Error(ErrorCode::kConflict,
               instance + " is kept by vfsteer run (pid " + std::to_string(keeper.pid) + ") with policy " +
                   keeper.policyFile + ", which would undo a " + command +
                   " at its next reconcile; edit that file (run applies it within a second), or stop the "
                   "daemon first");
}

}  // namespace vfsteer::engine
