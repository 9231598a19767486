// What `vfsteer run` waits for, each as a file descriptor to poll: signals,
// the policy file's directory, and the link and tc notifications of the
// namespace it manages, reduced to "something that concerns us changed".
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "vfsteer/common/result.hpp"
#include "vfsteer/netlink/monitor.hpp"

namespace vfsteer::daemon {

// SIGTERM, SIGINT and SIGHUP, blocked for the whole process and read from a
// signalfd. Open it before any thread starts, so that every thread inherits
// the blocked mask and no signal is delivered anywhere else.
class SignalWatch {
 public:
  static Result<SignalWatch> open();
  SignalWatch(SignalWatch&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  SignalWatch(const SignalWatch&) = delete;
  SignalWatch& operator=(const SignalWatch&) = delete;
  ~SignalWatch();
  int fd() const { return fd_; }
  std::vector<int> drain();  // the signals received since the last call

 private:
  explicit SignalWatch(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// The directory of a file, watched with inotify: editors and config managers
// replace a file by renaming a new one over it, and Kubernetes swaps a
// ConfigMap's files by renaming a "..data" symlink, so a watch on the file
// itself would go stale. Whether the content changed is the caller's to
// check; this only says when to look.
class FileWatch {
 public:
  static Result<FileWatch> open(const std::string& path);
  FileWatch(FileWatch&& other) noexcept : fd_(other.fd_), name_(std::move(other.name_)) { other.fd_ = -1; }
  FileWatch(const FileWatch&) = delete;
  FileWatch& operator=(const FileWatch&) = delete;
  ~FileWatch();
  int fd() const { return fd_; }
  bool drain();  // true when something happened that may have changed the file

 private:
  FileWatch(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  int fd_ = -1;
  std::string name_;
};

// Link and tc notifications of one namespace, counted when they concern a
// watched device: a link event by its name, a tc event by its device's
// ifindex (learnt from link events and the initial dump). A tc event of a
// device not seen yet, and a lost notification (overflow), count: when in
// doubt, reconcile.
class KernelWatch {
 public:
  static Result<KernelWatch> open(const std::string& netns);
  int fd() const { return monitor_.fd(); }
  void watch(std::set<std::string> devices) { watched_ = std::move(devices); }
  // How many notifications since the last call concern a watched device.
  Result<size_t> drain();
  size_t seen() const { return seen_; }  // every notification read, for the log

 private:
  KernelWatch(netlink::Monitor monitor, std::map<int, std::string> names)
      : monitor_(std::move(monitor)), names_(std::move(names)) {}
  bool concerns(const netlink::Notification& n) const;

  netlink::Monitor monitor_;
  std::map<int, std::string> names_;  // ifindex → name, of every link in the namespace
  std::set<std::string> watched_;
  size_t seen_ = 0;
};

}  // namespace vfsteer::daemon
