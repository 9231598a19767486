// Building and reading netlink messages. libmnl writes every header and
// attribute; the buffer grows as needed, so nests are remembered by offset
// (as Open vSwitch's lib/netlink.c does) and a guard never dangles.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vfsteer/common/result.hpp"
#include "vfsteer/netlink/attr_policy.hpp"

namespace vfsteer::netlink {

class Message;

// Closes a nested attribute when it goes out of scope.
class NestGuard {
 public:
  NestGuard(Message& msg, uint32_t offset) : msg_(&msg), offset_(offset) {}
  NestGuard(const NestGuard&) = delete;
  NestGuard& operator=(const NestGuard&) = delete;
  NestGuard(NestGuard&& other) noexcept : msg_(other.msg_), offset_(other.offset_) {
    other.msg_ = nullptr;
  }
  ~NestGuard() { close(); }
  void close();

 private:
  Message* msg_;
  uint32_t offset_;
};

class Message {
 public:
  // The kernel reads one request from one datagram; anything near the
  // socket's send buffer is a bug, not a request.
  static constexpr size_t kMaxSize = 65536;

  Message(uint16_t type, uint16_t flags);
  Message(const Message& other);
  Message& operator=(const Message& other);
  Message(Message&&) noexcept = default;
  Message& operator=(Message&&) noexcept = default;

  // Appends the fixed header that follows nlmsghdr (tcmsg, ifinfomsg,
  // genlmsghdr...). Call it before any attribute.
  template <class T>
  void putHeader(const T& header) {
    if (void* at = putExtraHeader(sizeof(T))) std::memcpy(at, &header, sizeof(T));
  }
  // A copy of that fixed header.
  template <class T>
  T header() const {
    T h;
    std::memcpy(&h, buf_.data() + NLMSG_HDRLEN, sizeof(T));
    return h;
  }

  void putU8(uint16_t type, uint8_t v) { put(type, &v, sizeof v); }
  void putU16(uint16_t type, uint16_t v) { put(type, &v, sizeof v); }
  void putU32(uint16_t type, uint32_t v) { put(type, &v, sizeof v); }
  void putU64(uint16_t type, uint64_t v) { put(type, &v, sizeof v); }
  // Network byte order is the caller's business: pass values already swapped.
  void putBe16(uint16_t type, uint16_t beValue) { putU16(type, beValue); }
  void putBe32(uint16_t type, uint32_t beValue) { putU32(type, beValue); }
  void putFlag(uint16_t type) { put(type, nullptr, 0); }
  // A string with its terminating NUL, as the kernel's NLA_NUL_STRING expects.
  void putStrz(uint16_t type, std::string_view s);
  void put(uint16_t type, const void* data, size_t len);
  template <class T>
  void putStruct(uint16_t type, const T& value) {
    put(type, &value, sizeof value);
  }
  // Raw bytes with no attribute header (aligned), for the few payloads that
  // start with a fixed struct inside a nest (veth's peer ifinfomsg).
  void putRaw(const void* data, size_t len);

  // Opens a nested attribute; `nestedFlag` sets NLA_F_NESTED as iproute2
  // does for some nests.
  [[nodiscard]] NestGuard nest(uint16_t type, bool nestedFlag = false);

  nlmsghdr* nlh() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  const nlmsghdr* nlh() const { return reinterpret_cast<const nlmsghdr*>(buf_.data()); }
  std::span<const uint8_t> bytes() const { return {buf_.data(), nlh()->nlmsg_len}; }
  size_t size() const { return nlh()->nlmsg_len; }
  // True when the message outgrew kMaxSize; such a message must not be sent.
  bool overflowed() const { return overflowed_; }
  // The attribute space of the request, to name the attribute an extended
  // ack points at (set by the encoders; rtnetlink's tc and link messages
  // are known without it).
  void setPolicy(const AttrPolicy* policy) { policy_ = policy; }
  const AttrPolicy* policy() const { return policy_; }

 private:
  friend class NestGuard;
  void* putExtraHeader(size_t len);
  // Makes room for `extra` more bytes; false (and overflowed) past kMaxSize.
  bool reserve(size_t extra);

  std::vector<uint8_t> buf_;
  bool overflowed_ = false;
  const AttrPolicy* policy_ = nullptr;
};

// A received netlink message, owned.
using RawMessage = std::vector<uint8_t>;

// Read-only view of one attribute. Its scalar getters read an attribute an
// AttrTable has checked against its policy, which guarantees the payload's
// length: they are never handed one that is too short.
struct Attr {
  const nlattr* nla = nullptr;

  uint16_t type() const;
  std::span<const uint8_t> payload() const;
  uint8_t u8() const;
  uint16_t u16() const;
  uint32_t u32() const;
  uint64_t u64() const;
  std::string str() const;
  // The payload as a struct; nullopt if it is shorter than T.
  template <class T>
  std::optional<T> as() const {
    auto p = payload();
    if (p.size() < sizeof(T)) return std::nullopt;
    T value;
    std::memcpy(&value, p.data(), sizeof(T));
    return value;
  }
};

// The header of a received message whose nlmsg_len covers `headerLen` bytes
// of fixed header and stays inside the buffer; an error otherwise.
Result<const nlmsghdr*> checkedHeader(const RawMessage& raw, size_t headerLen);

// The attributes of a message after `headerLen` bytes of fixed header, or
// of a nest, that `policy` declares, each checked against it (a payload too
// short for its type is an error naming the attribute); indexed by type,
// the last one winning. Attributes the policy does not declare are not
// read at all.
class AttrTable {
 public:
  // Checks the message's length fields against the buffer first.
  static Result<AttrTable> ofMessage(const RawMessage& raw, size_t headerLen, const AttrPolicy& policy);
  static Result<AttrTable> ofNest(const Attr& nest, const AttrPolicy& policy);

  // Inline: a decoder asks for every attribute it knows, present or not.
  std::optional<Attr> get(uint16_t type) const {
    if (type >= byType_.size() || byType_[type].nla == nullptr) return std::nullopt;
    return byType_[type];
  }
  bool has(uint16_t type) const { return type < byType_.size() && byType_[type].nla != nullptr; }
  // The declared attributes in order, including repeated types (the slots
  // of an action list).
  const std::vector<Attr>& all() const { return all_; }

 private:
  static Result<AttrTable> of(const uint8_t* begin, const uint8_t* end, const AttrPolicy& policy);
  std::vector<Attr> byType_;
  std::vector<Attr> all_;
};

// The path of names to the attribute at `offset` inside `request`, e.g.
// "TCA_OPTIONS > TCA_FLOWER_KEY_IPV4_DST (offset 52)", from the request's
// policy ("attr N" where a space is not known). Used with an extended
// ack's offset, so the operator sees which part the kernel refused.
std::string attributePath(std::span<const uint8_t> request, size_t headerLen, uint32_t offset,
                          const AttrPolicy* policy);

// Generic netlink: a request of `family` with its genl header.
Message genlMessage(uint16_t family, uint8_t cmd, uint8_t version, uint16_t flags);
// The numeric id of a family ("devlink", "netdev"), per kernel boot.
Message encodeGetFamily(const std::string& familyName);
Result<uint16_t> decodeFamilyId(const RawMessage& msg);

}  // namespace vfsteer::netlink
