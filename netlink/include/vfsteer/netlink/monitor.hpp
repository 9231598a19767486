// Notifications of one namespace's links and tc objects (the rtnetlink
// multicast groups RTNLGRP_LINK and RTNLGRP_TC), read without blocking: what
// `vfsteer run` watches to notice that the kernel moved away from a policy.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vfsteer/common/result.hpp"
#include "vfsteer/netlink/socket.hpp"

namespace vfsteer::netlink {

struct Notification {
  enum class Kind {
    kLink,      // RTM_NEWLINK / RTM_DELLINK (also sent for XDP attach and detach)
    kTc,        // qdiscs, classes, filters, actions
    kOverflow,  // the kernel dropped notifications (ENOBUFS): anything may have changed
  };
  Kind kind = Kind::kLink;
  uint16_t type = 0;    // RTM_*
  int ifindex = 0;      // 0 for actions and overflow
  std::string ifname;   // links only
};

class Monitor {
 public:
  // Subscribes in `ns` (null: the caller's namespace).
  static Result<Monitor> open(const Netns* ns = nullptr);

  Monitor(Monitor&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Monitor& operator=(Monitor&& other) noexcept;
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;
  ~Monitor();

  int fd() const { return fd_; }  // readable when notifications wait (for poll)
  // Every notification queued now, in order; returns at once when none is.
  Result<std::vector<Notification>> drain();

 private:
  explicit Monitor(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace vfsteer::netlink
