// Frames for real-packet tests: a small builder (Ethernet, VLAN, IPv4,
// IPv6, UDP, TCP, VXLAN, GENEVE) and AF_PACKET send/capture inside a
// network namespace. Captures put back the VLAN tag that the kernel lifted
// into metadata, as libpcap does, so a test sees the frame as sent.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "vfsteer/common/result.hpp"

namespace vfsteer::testing {

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;

Mac mac(const char* text);

struct FrameBuilder {
  // Each returns the full frame (headers + payload).
  static Bytes ethernet(const Mac& dst, const Mac& src, uint16_t ethertype, const Bytes& payload);
  // A tag inserted right after the MAC addresses.
  static Bytes tagged(const Bytes& frame, uint16_t tpid, uint16_t tci);
  static Bytes ipv4(const char* src, const char* dst, uint8_t proto, const Bytes& l4);
  static Bytes ipv6(const char* src, const char* dst, uint8_t nextHeader, const Bytes& l4);
  // IPv6 with a hop-by-hop options header before the transport header.
  static Bytes ipv6WithHopByHop(const char* src, const char* dst, uint8_t nextHeader, const Bytes& l4);
  static Bytes udp(uint16_t sport, uint16_t dport, const Bytes& payload);
  static Bytes tcp(uint16_t sport, uint16_t dport, const Bytes& payload);
  static Bytes vxlan(uint32_t vni, const Bytes& innerFrame);
  static Bytes geneve(uint32_t vni, const Bytes& innerFrame, int optionWords = 0);
};

Bytes text(const std::string& s);
// True when `needle` occurs in `frame`.
bool contains(const Bytes& frame, const Bytes& needle);

struct Captured {
  Bytes frame;  // with any VLAN tag from metadata put back in place
  bool hadMetadataTag = false;
};

// Captures frames arriving on `ifname` in namespace `netns`, from creation
// until collect() returns (after `settleMs` of quiet following the last).
// The socket's buffer is made large (tests run as root), but a frame that
// still does not fit is dropped by the kernel, not by the datapath under
// test: a test counting frames checks dropped() is 0 before it blames the
// datapath.
class Capture {
 public:
  static Result<Capture> open(const std::string& netns, const std::string& ifname);
  Capture(Capture&& other) noexcept;
  Capture(const Capture&) = delete;
  ~Capture();
  std::vector<Captured> collect(int settleMs = 300);
  // Frames the capture socket itself dropped since it was opened.
  uint64_t dropped();

 private:
  explicit Capture(int fd) : fd_(fd) {}
  int fd_;
  uint64_t dropped_ = 0;
};

// Sends raw frames out of `ifname` in namespace `netns`.
Status sendFrames(const std::string& netns, const std::string& ifname, const std::vector<Bytes>& frames);

// One BPF_PROG_TEST_RUN of a tc (`tc`) or XDP program on `frame`, as if it
// arrived on lo (ifindex 1). `err` is the syscall's errno (0: it ran);
// `mark` what a tc program left in skb->mark.
struct TestRunOnLo {
  int err = 0;
  uint32_t verdict = 0;
  uint32_t mark = 0;
};
TestRunOnLo testRunOnLo(int prog, bool tc, const Bytes& frame);

}  // namespace vfsteer::testing
