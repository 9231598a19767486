// A netlink socket bound to one network namespace, with batched requests
// (many in one sendmsg, each ack matched back to its request) and dumps.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "vfsteer/common/result.hpp"
#include "vfsteer/netlink/message.hpp"

struct mnl_socket;

namespace vfsteer::netlink {

// An open reference to a network namespace (a file descriptor).
class Netns {
 public:
  static Result<Netns> current();
  // A namespace made by "ip netns add NAME" (/run/netns/NAME).
  static Result<Netns> byName(const std::string& name);
  // Duplicates `fd` (a /proc/PID/ns/net or bind-mounted namespace).
  static Result<Netns> byFd(int fd, std::string label = "fd");
  // Creates a named namespace as "ip netns add NAME" does (a new namespace
  // bind-mounted on /run/netns/NAME). Fails with kExists if it exists.
  static Result<Netns> create(const std::string& name);
  // Removes a named namespace ("ip netns del NAME"); absent is success.
  static Status remove(const std::string& name);
  // Whether /run/netns/NAME holds a namespace (not only a file).
  static bool exists(const std::string& name);

  Netns(Netns&& other) noexcept;
  Netns& operator=(Netns&& other) noexcept;
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  ~Netns();

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }

  // Runs `fn` on a helper thread that has entered this namespace, so the
  // calling process never changes namespace. Used to create sockets there.
  Status runInside(const std::function<Status()>& fn) const;

 private:
  Netns(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  int fd_ = -1;
  std::string name_;
};

// What happened to one request of a batch.
struct RequestOutcome {
  Status status;                    // ok, or the kernel's error for this request
  std::string warning;              // extack text sent with a successful ack
  std::vector<RawMessage> replies;  // echoed objects (NLM_F_ECHO) or GET answers
};

class Socket {
 public:
  // protocol: NETLINK_ROUTE or NETLINK_GENERIC. `ns` null: the caller's namespace.
  static Result<Socket> open(int protocol, const Netns* ns = nullptr);

  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();

  // Sends every request (each with its own sequence number) in as few
  // sendmsg calls as the socket buffers allow, and returns one outcome per
  // request, in order. Requests carry the flags their encoder chose; one
  // with NLM_F_ACK ends at its ack, one without (a plain GET) at its reply. The kernel processes each request independently:
  // one failing does not stop the others. An Error means the exchange itself
  // broke (socket error, lost acks); then nothing is known about the batch.
  Result<std::vector<RequestOutcome>> transact(std::span<Message> requests);
  // One request; its kernel error becomes the returned error.
  Result<RequestOutcome> request(Message message);
  // A dump (NLM_F_DUMP): every reply message, restarted when the kernel says
  // the dump was interrupted by a concurrent change (NLM_F_DUMP_INTR).
  Result<std::vector<RawMessage>> dump(Message request);

  int protocol() const { return protocol_; }
  // Batches are cut at this many bytes (tests lower it to exercise chunking).
  void setMaxBatchBytes(size_t bytes) { maxBatchBytes_ = bytes; }

 private:
  Socket(mnl_socket* nl, int protocol);
  Status sendChunk(std::span<Message> chunk);
  Status receiveAcks(uint32_t firstSeq, std::span<RequestOutcome> outcomes, std::span<Message> requests);

  mnl_socket* nl_ = nullptr;
  int protocol_ = 0;
  uint32_t portId_ = 0;
  uint32_t seq_ = 0;
  size_t maxBatchBytes_ = 128 * 1024;
  std::vector<uint8_t> rxbuf_;
};

}  // namespace vfsteer::netlink
