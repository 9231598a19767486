#include "vfsteer/netlink/monitor.hpp"

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vfsteer::netlink {

namespace {

// Room for a burst (1,000 link flaps queue about 1 MB of RTM_NEWLINK);
// past it the kernel reports ENOBUFS, which drain() turns into kOverflow.
constexpr int kReceiveBuffer = 4 * 1024 * 1024;

std::string linkName(const nlmsghdr* nlh) {
  std::string name;
  mnl_attr_parse(
      nlh, sizeof(ifinfomsg),
      [](const nlattr* attr, void* data) -> int {
        if (mnl_attr_get_type(attr) == IFLA_IFNAME && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
          *static_cast<std::string*>(data) = mnl_attr_get_str(attr);
        return MNL_CB_OK;
      },
      &name);
  return name;
}

// One notification, or nothing for a message of another kind.
bool decode(const nlmsghdr* nlh, Notification& out) {
  out = Notification{};
  out.type = nlh->nlmsg_type;
  switch (nlh->nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK: {
      if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return false;
      out.kind = Notification::Kind::kLink;
      out.ifindex = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh))->ifi_index;
      out.ifname = linkName(nlh);
      return true;
    }
    case RTM_NEWQDISC: case RTM_DELQDISC: case RTM_NEWTCLASS: case RTM_DELTCLASS:
    case RTM_NEWTFILTER: case RTM_DELTFILTER: case RTM_NEWCHAIN: case RTM_DELCHAIN: {
      if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(tcmsg))) return false;
      out.kind = Notification::Kind::kTc;
      out.ifindex = static_cast<const tcmsg*>(mnl_nlmsg_get_payload(nlh))->tcm_ifindex;
      return true;
    }
    case RTM_NEWACTION: case RTM_DELACTION:
      out.kind = Notification::Kind::kTc;
      return true;
    default:
      return false;
  }
}

}  // namespace

Result<Monitor> Monitor::open(const Netns* ns) {
  int fd = -1;
  auto create = [&]() -> Status {
    fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
    if (fd < 0) return Error::fromErrno(errno, "open netlink socket");
    return okStatus();
  };
  if (ns) VFSTEER_TRY(ns->runInside(create));
  else VFSTEER_TRY(create());
  Monitor monitor(fd);
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kReceiveBuffer, sizeof kReceiveBuffer) != 0)
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kReceiveBuffer, sizeof kReceiveBuffer);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = RTMGRP_LINK | RTMGRP_TC;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return Error::fromErrno(errno, "subscribe to link and tc notifications");
  return monitor;
}

Monitor& Monitor::operator=(Monitor&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

Monitor::~Monitor() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::vector<Notification>> Monitor::drain() {
  std::vector<Notification> out;
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE * 4);
  for (;;) {
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return out;
      if (errno == ENOBUFS) {
        Notification lost;
        lost.kind = Notification::Kind::kOverflow;
        out.push_back(lost);
        continue;
      }
      return Error::fromErrno(errno, "read link and tc notifications");
    }
    int left = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buffer.data()); mnl_nlmsg_ok(nlh, left);
         nlh = mnl_nlmsg_next(nlh, &left)) {
      Notification note;
      if (decode(nlh, note)) out.push_back(std::move(note));
    }
  }
}

}  // namespace vfsteer::netlink
