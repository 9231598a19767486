#include "vfsteer/netlink/socket.hpp"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <limits.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/mount.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/genetlink.h>

#include <random>
#include <thread>

#include "vfsteer/common/names.hpp"
#include "vfsteer/netlink/link.hpp"
#include "vfsteer/netlink/tc.hpp"

namespace vfsteer::netlink {

// ---- Netns -----------------------------------------------------------------

Result<Netns> Netns::current() {
  int fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::fromErrno(errno, "open /proc/thread-self/ns/net");
  return Netns(fd, "current");
}

Result<Netns> Netns::byName(const std::string& name) {
  if (!names::isNetnsName(name))
    return Error(ErrorCode::kInvalidInput, names::quoted(name) + " is not a network namespace name");
  const std::string path = "/run/netns/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT)
      return Error(ErrorCode::kNotFound, "no network namespace \"" + name + "\" (" + path + ")");
    return Error::fromErrno(err, "open " + path);
  }
  return Netns(fd, name);
}

bool Netns::exists(const std::string& name) {
  // A file with a namespace mounted on it: one left without (its mount gone)
  // names no namespace and cannot be entered.
  struct statfs st {};
  return names::isNetnsName(name) && ::statfs(("/run/netns/" + name).c_str(), &st) == 0 &&
         st.f_type == NSFS_MAGIC;
}

namespace {

// iproute2's convention, which `ip netns add` sets up when it is not yet in
// place: /run/netns is a mount point of its own with shared propagation.
// Namespaces mounted on files in it are then visible, and removable, from
// every mount namespace; and a later `ip netns add` does not mount
// /run/netns over itself, which would hide namespaces mounted beneath (they
// could no longer be removed: EBUSY).
Status shareNetnsDir() {
  constexpr const char* kDir = "/run/netns";
  if (::mkdir(kDir, 0755) != 0 && errno != EEXIST) return Error::fromErrno(errno, std::string("create ") + kDir);
  if (::mount("", kDir, "none", MS_SHARED | MS_REC, nullptr) == 0) return okStatus();
  if (errno != EINVAL) return Error::fromErrno(errno, std::string("make ") + kDir + " a shared mount");
  // Not a mount point yet: mount it over itself first.
  if (::mount(kDir, kDir, "none", MS_BIND | MS_REC, nullptr) != 0)
    return Error::fromErrno(errno, std::string("bind-mount ") + kDir + " over itself");
  if (::mount("", kDir, "none", MS_SHARED | MS_REC, nullptr) != 0)
    return Error::fromErrno(errno, std::string("make ") + kDir + " a shared mount");
  return okStatus();
}

}  // namespace

Result<Netns> Netns::create(const std::string& name) {
  if (!names::isNetnsName(name))
    return Error(ErrorCode::kInvalidInput, names::quoted(name) + " is not a network namespace name");
  VFSTEER_TRY(shareNetnsDir());
  const std::string path = "/run/netns/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) {
    if (errno == EEXIST) return Error(ErrorCode::kExists, "network namespace " + name + " exists");
    return Error::fromErrno(errno, "create " + path);
  }
  ::close(fd);
  // A helper thread gets the new namespace; its /proc entry is bind-mounted
  // on the file so the namespace outlives the thread.
  Status made;
  std::thread worker([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      made = Error::fromErrno(errno, "unshare(CLONE_NEWNET)");
      return;
    }
    if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0)
      made = Error::fromErrno(errno, "bind-mount the new namespace on " + path);
  });
  worker.join();
  if (!made.ok()) {
    ::unlink(path.c_str());
    return std::move(made).error();
  }
  return byName(name);
}

Status Netns::remove(const std::string& name) {
  if (!names::isNetnsName(name))
    return Error(ErrorCode::kInvalidInput, names::quoted(name) + " is not a network namespace name");
  const std::string path = "/run/netns/" + name;
  if (::access(path.c_str(), F_OK) != 0) return okStatus();
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL)
    return Error::fromErrno(errno, "unmount " + path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Error::fromErrno(errno, "remove " + path);
  return okStatus();
}

Result<Netns> Netns::byFd(int fd, std::string label) {
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return Error::fromErrno(errno, "duplicate namespace fd");
  return Netns(copy, std::move(label));
}

Netns::Netns(Netns&& other) noexcept : fd_(other.fd_), name_(std::move(other.name_)) {
  other.fd_ = -1;
}

Netns& Netns::operator=(Netns&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    name_ = std::move(other.name_);
    other.fd_ = -1;
  }
  return *this;
}

Netns::~Netns() {
  if (fd_ >= 0) ::close(fd_);
}

Status Netns::runInside(const std::function<Status()>& fn) const {
  // setns() applies to the calling thread only; a short-lived thread enters
  // the namespace, runs fn and exits, leaving every other thread where it was.
  Status result;
  std::thread worker([&] {
    if (::setns(fd_, CLONE_NEWNET) != 0) {
      result = Error::fromErrno(errno, "enter network namespace " + name_);
      return;
    }
    result = fn();
  });
  worker.join();
  return result;
}

// ---- Socket ----------------------------------------------------------------

namespace {

int setIntOption(int fd, int level, int name, int value) {
  return ::setsockopt(fd, level, name, &value, sizeof value);
}

// Length of the fixed header after nlmsghdr, for locating a bad attribute.
size_t fixedHeaderLen(int protocol, uint16_t type) {
  if (protocol == NETLINK_GENERIC) return GENL_HDRLEN;
  if (type >= RTM_NEWLINK && type <= RTM_SETLINK) return sizeof(ifinfomsg);
  if (type >= RTM_NEWQDISC && type <= RTM_GETTFILTER) return sizeof(tcmsg);
  if (type >= RTM_NEWCHAIN && type <= RTM_GETCHAIN) return sizeof(tcmsg);
  if (type >= RTM_NEWACTION && type <= RTM_GETACTION) return sizeof(tcamsg);
  return 0;
}

// The attribute space of a request: the one its encoder named, else the
// rtnetlink space its type implies.
const AttrPolicy* policyOf(const Message& m, int protocol) {
  if (m.policy()) return m.policy();
  if (protocol != NETLINK_ROUTE) return nullptr;
  const uint16_t type = m.nlh()->nlmsg_type;
  if (type >= RTM_NEWLINK && type <= RTM_SETLINK) return &link::attrPolicy();
  if (type >= RTM_NEWQDISC && type <= RTM_GETTFILTER) return &tc::attrPolicy();
  return nullptr;
}

struct KernelError {
  int error = 0;  // negative errno, 0 for an ack
  std::string message;
  std::optional<uint32_t> offset;
};

// Parses NLMSG_ERROR: the errno and the extended-ack TLVs that follow the
// echoed request header (capped, thanks to NETLINK_CAP_ACK).
KernelError parseError(const nlmsghdr* nlh) {
  KernelError ke;
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(nlmsgerr)) {
    ke.error = -EPROTO;
    return ke;
  }
  ke.error = err->error;
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return ke;
  size_t off = sizeof(nlmsgerr);
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) off += err->msg.nlmsg_len - sizeof(nlmsghdr);
  const auto* base = static_cast<const uint8_t*>(mnl_nlmsg_get_payload(nlh));
  const uint8_t* p = base + MNL_ALIGN(off);
  const uint8_t* end = reinterpret_cast<const uint8_t*>(nlh) + nlh->nlmsg_len;
  while (p + sizeof(nlattr) <= end) {
    const auto* nla = reinterpret_cast<const nlattr*>(p);
    if (nla->nla_len < sizeof(nlattr) || p + nla->nla_len > end) break;
    Attr a{nla};
    if (a.type() == NLMSGERR_ATTR_MSG) ke.message = a.str();
    if (a.type() == NLMSGERR_ATTR_OFFS) ke.offset = a.u32();
    p += MNL_ALIGN(nla->nla_len);
  }
  return ke;
}

}  // namespace

Result<Socket> Socket::open(int protocol, const Netns* ns) {
  int fd = -1;
  auto create = [&]() -> Status {
    fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    if (fd < 0) return Error::fromErrno(errno, "open netlink socket");
    return okStatus();
  };
  if (ns) VFSTEER_TRY(ns->runInside(create));
  else VFSTEER_TRY(create());

  // Extended acks carry the kernel's own words; capped acks keep replies
  // small; strict checking makes the kernel validate dump requests.
  setIntOption(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
  setIntOption(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
  setIntOption(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
  // Room for the acks of a whole batch. FORCE works for root; the plain
  // option is the fallback (the kernel caps it at rmem_max).
  const int rcvbuf = 8 * 1024 * 1024;
  if (setIntOption(fd, SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf) != 0)
    setIntOption(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf);
  setIntOption(fd, SOL_SOCKET, SO_SNDBUF, 1024 * 1024);

  mnl_socket* nl = mnl_socket_fdopen(fd);
  if (!nl) {
    int err = errno;
    ::close(fd);
    return Error::fromErrno(err, "wrap netlink socket");
  }
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    int err = errno;
    mnl_socket_close(nl);
    return Error::fromErrno(err, "bind netlink socket");
  }
  return Socket(nl, protocol);
}

Socket::Socket(mnl_socket* nl, int protocol) : nl_(nl), protocol_(protocol) {
  portId_ = mnl_socket_get_portid(nl);
  // Sequence numbers start random, as the kernel's YNL does, so that replies
  // to an earlier socket with the same port id can never be mistaken for ours.
  seq_ = static_cast<uint32_t>(std::random_device{}());
  rxbuf_.resize(256 * 1024);
}

Socket::Socket(Socket&& other) noexcept
    : nl_(other.nl_),
      protocol_(other.protocol_),
      portId_(other.portId_),
      seq_(other.seq_),
      maxBatchBytes_(other.maxBatchBytes_),
      rxbuf_(std::move(other.rxbuf_)) {
  other.nl_ = nullptr;
}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    if (nl_) mnl_socket_close(nl_);
    nl_ = other.nl_;
    protocol_ = other.protocol_;
    portId_ = other.portId_;
    seq_ = other.seq_;
    maxBatchBytes_ = other.maxBatchBytes_;
    rxbuf_ = std::move(other.rxbuf_);
    other.nl_ = nullptr;
  }
  return *this;
}

Socket::~Socket() {
  if (nl_) mnl_socket_close(nl_);
}

Status Socket::sendChunk(std::span<Message> chunk) {
  std::vector<iovec> iov;
  iov.reserve(chunk.size());
  size_t total = 0;
  for (auto& m : chunk) {
    iov.push_back({m.nlh(), m.size()});
    total += m.size();
  }
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  msghdr msg{};
  msg.msg_name = &kernel;
  msg.msg_namelen = sizeof kernel;
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  ssize_t sent = ::sendmsg(mnl_socket_get_fd(nl_), &msg, 0);
  if (sent < 0) return Error::fromErrno(errno, "send netlink batch");
  if (static_cast<size_t>(sent) != total)
    return Error(ErrorCode::kInternal, "short netlink send");
  return okStatus();
}

Status Socket::receiveAcks(uint32_t firstSeq, std::span<RequestOutcome> outcomes,
                           std::span<Message> requests) {
  size_t pending = outcomes.size();
  std::vector<bool> done(outcomes.size(), false);
  while (pending > 0) {
    ssize_t n = mnl_socket_recvfrom(nl_, rxbuf_.data(), rxbuf_.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS)
        return Error(ErrorCode::kRetryable,
                     "netlink acks were lost (receive buffer full); the batch outcome is unknown");
      return Error::fromErrno(errno, "receive netlink acks");
    }
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(rxbuf_.data());
    int len = static_cast<int>(n);
    for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
      if (nlh->nlmsg_pid != portId_ && nlh->nlmsg_pid != 0) continue;
      uint32_t index = nlh->nlmsg_seq - firstSeq;
      if (index >= outcomes.size() || done[index]) continue;  // not ours
      RequestOutcome& out = outcomes[index];
      if (nlh->nlmsg_type != NLMSG_ERROR) {
        const auto* bytes = reinterpret_cast<const uint8_t*>(nlh);
        out.replies.emplace_back(bytes, bytes + nlh->nlmsg_len);
        // A request sent without NLM_F_ACK (a plain GET) ends with its reply.
        if (!(requests[index].nlh()->nlmsg_flags & NLM_F_ACK)) {
          done[index] = true;
          --pending;
        }
        continue;
      }
      KernelError ke = parseError(nlh);
      if (ke.error == 0) {
        out.warning = ke.message;
      } else {
        const Message& req = requests[index];
        std::string attr;
        if (ke.offset)
          attr = attributePath(req.bytes(), fixedHeaderLen(protocol_, req.nlh()->nlmsg_type), *ke.offset,
                               policyOf(req, protocol_));
        out.status = Error::fromErrno(-ke.error, "request " + std::to_string(index) +
                                                     " of the batch failed",
                                      ke.message, attr);
      }
      done[index] = true;
      --pending;
    }
  }
  return okStatus();
}

Result<std::vector<RequestOutcome>> Socket::transact(std::span<Message> requests) {
  std::vector<RequestOutcome> outcomes(requests.size());
  for (auto& m : requests) {
    if (m.overflowed())
      return Error(ErrorCode::kInternal, "a netlink request grew past " +
                                             std::to_string(Message::kMaxSize) + " bytes");
  }
  // Cut the batch where the next message would pass the byte limit, and
  // never send more requests at once than one sendmsg takes: each is an
  // iovec, and the kernel refuses more than UIO_MAXIOV (1024) with EMSGSIZE.
  constexpr size_t kMaxRequestsPerChunk = IOV_MAX;
  size_t begin = 0;
  while (begin < requests.size()) {
    size_t end = begin, bytes = 0;
    while (end < requests.size() && end - begin < kMaxRequestsPerChunk &&
           (end == begin || bytes + requests[end].size() <= maxBatchBytes_)) {
      bytes += requests[end].size();
      ++end;
    }
    const uint32_t firstSeq = seq_;
    for (size_t i = begin; i < end; ++i) {
      nlmsghdr* h = requests[i].nlh();
      h->nlmsg_flags |= NLM_F_REQUEST;
      h->nlmsg_seq = seq_++;
      h->nlmsg_pid = 0;
    }
    auto chunk = requests.subspan(begin, end - begin);
    VFSTEER_TRY(sendChunk(chunk));
    VFSTEER_TRY(receiveAcks(firstSeq, std::span(outcomes).subspan(begin, end - begin), chunk));
    begin = end;
  }
  return outcomes;
}

Result<RequestOutcome> Socket::request(Message message) {
  VFSTEER_ASSIGN_OR_RETURN(auto outcomes, transact(std::span(&message, 1)));
  RequestOutcome out = std::move(outcomes[0]);
  if (!out.status.ok()) {
    Error e = std::move(out.status).error();
    return Error::fromErrno(e.errnum(), "the kernel refused the request", e.kernelText(),
                            e.attribute());
  }
  return out;
}

Result<std::vector<RawMessage>> Socket::dump(Message request) {
  constexpr int kAttempts = 8;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    nlmsghdr* h = request.nlh();
    h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_DUMP;
    h->nlmsg_pid = 0;
    h->nlmsg_seq = seq_++;
    const uint32_t seq = h->nlmsg_seq;
    VFSTEER_TRY(sendChunk(std::span(&request, 1)));
    std::vector<RawMessage> out;
    bool interrupted = false, finished = false;
    while (!finished) {
      ssize_t n = mnl_socket_recvfrom(nl_, rxbuf_.data(), rxbuf_.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Error::fromErrno(errno, "receive netlink dump");
      }
      const auto* nlh = reinterpret_cast<const nlmsghdr*>(rxbuf_.data());
      int len = static_cast<int>(n);
      for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
        if (nlh->nlmsg_seq != seq) continue;
        if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
        if (nlh->nlmsg_type == NLMSG_DONE) {
          // DONE carries an errno when the dump itself failed.
          if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int)) {
            int err = *static_cast<const int*>(mnl_nlmsg_get_payload(nlh));
            if (err < 0) return Error::fromErrno(-err, "the kernel stopped the dump");
          }
          finished = true;
          break;
        }
        if (nlh->nlmsg_type == NLMSG_ERROR) {
          KernelError ke = parseError(nlh);
          if (ke.error == 0) continue;
          return Error::fromErrno(-ke.error, "the kernel refused the dump", ke.message);
        }
        const auto* bytes = reinterpret_cast<const uint8_t*>(nlh);
        out.emplace_back(bytes, bytes + nlh->nlmsg_len);
      }
    }
    if (!interrupted) return out;
  }
  return Error(ErrorCode::kRetryable, "the dump was interrupted by concurrent changes " +
                                          std::to_string(kAttempts) + " times");
}

}  // namespace vfsteer::netlink
