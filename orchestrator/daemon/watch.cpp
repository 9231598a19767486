#include "daemon/watch.hpp"

#include <linux/rtnetlink.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "vfsteer/netlink/link.hpp"

namespace vfsteer::daemon {

Result<SignalWatch> SignalWatch::open() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return Error(ErrorCode::kInternal, "block signals");
  const int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return Error::fromErrno(errno, "open a signalfd");
  return SignalWatch(fd);
}

SignalWatch::~SignalWatch() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<int> SignalWatch::drain() {
  std::vector<int> out;
  signalfd_siginfo info;
  while (::read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info))
    out.push_back(static_cast<int>(info.ssi_signo));
  return out;
}

Result<FileWatch> FileWatch::open(const std::string& path) {
  const std::filesystem::path p = std::filesystem::absolute(path);
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return Error::fromErrno(errno, "open inotify");
  FileWatch w(fd, p.filename().string());
  const std::string dir = p.parent_path().string();
  if (::inotify_add_watch(fd, dir.c_str(),
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB) < 0)
    return Error::fromErrno(errno, "watch " + dir + " for changes of " + w.name_);
  return w;
}

FileWatch::~FileWatch() {
  if (fd_ >= 0) ::close(fd_);
}

bool FileWatch::drain() {
  bool touched = false;
  alignas(inotify_event) char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) return touched;
    for (ssize_t at = 0; at < n;) {
      const auto* e = reinterpret_cast<const inotify_event*>(buf + at);
      const std::string name = e->len > 0 ? std::string(e->name) : std::string();
      // Our file, a ConfigMap's "..data" swap, or events lost.
      touched |= name == name_ || name.rfind("..", 0) == 0 || (e->mask & IN_Q_OVERFLOW) != 0;
      at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
    }
  }
}

Result<KernelWatch> KernelWatch::open(const std::string& netns) {
  std::optional<netlink::Netns> ns;
  if (!netns.empty()) {
    VFSTEER_ASSIGN_OR_RETURN(ns, netlink::Netns::byName(netns));
  }
  // Subscribed before the dump, so that no link is missed in between.
  VFSTEER_ASSIGN_OR_RETURN(auto monitor, netlink::Monitor::open(ns ? &*ns : nullptr));
  VFSTEER_ASSIGN_OR_RETURN(auto socket, netlink::Socket::open(NETLINK_ROUTE, ns ? &*ns : nullptr));
  VFSTEER_ASSIGN_OR_RETURN(auto links, socket.dump(netlink::link::encodeDumpLinks()));
  std::map<int, std::string> names;
  for (const auto& raw : links)
    if (auto link = netlink::link::decodeLink(raw); link.ok()) names[link->ifindex] = link->name;
  return KernelWatch(std::move(monitor), std::move(names));
}

bool KernelWatch::concerns(const netlink::Notification& n) const {
  using Kind = netlink::Notification::Kind;
  switch (n.kind) {
    case Kind::kOverflow: return true;
    case Kind::kLink: return watched_.contains(n.ifname);
    case Kind::kTc: {
      if (n.ifindex == 0) return true;  // an action: may be one of ours
      auto it = names_.find(n.ifindex);
      return it == names_.end() || watched_.contains(it->second);
    }
  }
  return true;
}

Result<size_t> KernelWatch::drain() {
  VFSTEER_ASSIGN_OR_RETURN(auto notes, monitor_.drain());
  size_t relevant = 0;
  for (const auto& n : notes) {
    ++seen_;
    if (n.kind == netlink::Notification::Kind::kLink) {
      if (n.type == RTM_DELLINK) names_.erase(n.ifindex);
      else if (!n.ifname.empty()) names_[n.ifindex] = n.ifname;
    }
    if (concerns(n)) ++relevant;
  }
  return relevant;
}

}  // namespace vfsteer::daemon
