#include "packets.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "vfsteer/netlink/socket.hpp"

namespace vfsteer::testing {

namespace {

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}

uint16_t checksum(const Bytes& b) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < b.size(); i += 2) sum += (b[i] << 8) | b[i + 1];
  if (b.size() % 2) sum += b.back() << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

Bytes addr(int family, const char* text) {
  Bytes out(family == AF_INET ? 4 : 16);
  inet_pton(family, text, out.data());
  return out;
}

// Opens an AF_PACKET socket inside `netns` (namespaces are per socket).
Result<int> packetSocket(const std::string& netns, const std::string& ifname, int& ifindex) {
  VFSTEER_ASSIGN_OR_RETURN(auto ns, netlink::Netns::byName(netns));
  int fd = -1;
  VFSTEER_TRY(ns.runInside([&]() -> Status {
    fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0) return Error::fromErrno(errno, "AF_PACKET socket");
    ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    if (ifindex == 0) return Error(ErrorCode::kNotFound, ifname + " not found in " + netns);
    return okStatus();
  }));
  return fd;
}

}  // namespace

Mac mac(const char* text) {
  Mac m{};
  unsigned v[6];
  std::sscanf(text, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]);
  for (int i = 0; i < 6; ++i) m[i] = static_cast<uint8_t>(v[i]);
  return m;
}

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

bool contains(const Bytes& frame, const Bytes& needle) {
  return std::search(frame.begin(), frame.end(), needle.begin(), needle.end()) != frame.end();
}

Bytes FrameBuilder::ethernet(const Mac& dst, const Mac& src, uint16_t ethertype, const Bytes& payload) {
  Bytes b(dst.begin(), dst.end());
  b.insert(b.end(), src.begin(), src.end());
  put16(b, ethertype);
  b.insert(b.end(), payload.begin(), payload.end());
  // Pad to the Ethernet minimum so that lengths stay predictable.
  while (b.size() < 60) b.push_back(0);
  return b;
}

Bytes FrameBuilder::tagged(const Bytes& frame, uint16_t tpid, uint16_t tci) {
  Bytes b(frame.begin(), frame.begin() + 12);
  put16(b, tpid);
  put16(b, tci);
  b.insert(b.end(), frame.begin() + 12, frame.end());
  return b;
}

Bytes FrameBuilder::ipv4(const char* src, const char* dst, uint8_t proto, const Bytes& l4) {
  Bytes h;
  h.push_back(0x45);
  h.push_back(0);
  put16(h, static_cast<uint16_t>(20 + l4.size()));
  put16(h, 0x1234);
  put16(h, 0x4000);  // don't fragment
  h.push_back(64);
  h.push_back(proto);
  put16(h, 0);
  Bytes s = addr(AF_INET, src), d = addr(AF_INET, dst);
  h.insert(h.end(), s.begin(), s.end());
  h.insert(h.end(), d.begin(), d.end());
  uint16_t c = checksum(h);
  h[10] = static_cast<uint8_t>(c >> 8);
  h[11] = static_cast<uint8_t>(c);
  h.insert(h.end(), l4.begin(), l4.end());
  return h;
}

Bytes FrameBuilder::ipv6(const char* src, const char* dst, uint8_t nextHeader, const Bytes& l4) {
  Bytes h;
  put32(h, 0x60000000);
  put16(h, static_cast<uint16_t>(l4.size()));
  h.push_back(nextHeader);
  h.push_back(64);
  Bytes s = addr(AF_INET6, src), d = addr(AF_INET6, dst);
  h.insert(h.end(), s.begin(), s.end());
  h.insert(h.end(), d.begin(), d.end());
  h.insert(h.end(), l4.begin(), l4.end());
  return h;
}

Bytes FrameBuilder::ipv6WithHopByHop(const char* src, const char* dst, uint8_t nextHeader, const Bytes& l4) {
  Bytes ext{nextHeader, 0, 1, 4, 0, 0, 0, 0};  // next, len 0 (8 bytes), PadN
  ext.insert(ext.end(), l4.begin(), l4.end());
  return ipv6(src, dst, 0 /* hop-by-hop */, ext);
}

Bytes FrameBuilder::udp(uint16_t sport, uint16_t dport, const Bytes& payload) {
  Bytes h;
  put16(h, sport);
  put16(h, dport);
  put16(h, static_cast<uint16_t>(8 + payload.size()));
  put16(h, 0);  // no checksum (allowed for IPv4; the datapath does not check)
  h.insert(h.end(), payload.begin(), payload.end());
  return h;
}

Bytes FrameBuilder::tcp(uint16_t sport, uint16_t dport, const Bytes& payload) {
  Bytes h;
  put16(h, sport);
  put16(h, dport);
  put32(h, 1);
  put32(h, 0);
  h.push_back(0x50);
  h.push_back(0x02);  // SYN
  put16(h, 65535);
  put16(h, 0);
  put16(h, 0);
  h.insert(h.end(), payload.begin(), payload.end());
  return h;
}

Bytes FrameBuilder::vxlan(uint32_t vni, const Bytes& innerFrame) {
  Bytes h{0x08, 0, 0, 0};
  put32(h, vni << 8);
  h.insert(h.end(), innerFrame.begin(), innerFrame.end());
  return h;
}

Bytes FrameBuilder::geneve(uint32_t vni, const Bytes& innerFrame, int optionWords) {
  Bytes h{static_cast<uint8_t>(optionWords & 0x3f), 0, 0x65, 0x58};
  put32(h, vni << 8);
  for (int i = 0; i < optionWords * 4; ++i) h.push_back(0);
  h.insert(h.end(), innerFrame.begin(), innerFrame.end());
  return h;
}

Result<Capture> Capture::open(const std::string& netns, const std::string& ifname) {
  int ifindex = 0;
  VFSTEER_ASSIGN_OR_RETURN(int fd, packetSocket(netns, ifname, ifindex));
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifindex;
  int one = 1;
  // The default buffer (rmem_default, 208 KiB) holds about 230 small frames
  // that nobody reads until collect(); a test streaming frames sends more.
  int bufferBytes = 64 << 20;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0 ||
      ::setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufferBytes, sizeof bufferBytes) != 0) {
    int err = errno;
    ::close(fd);
    return Error::fromErrno(err, "set up the capture on " + ifname);
  }
  return Capture(fd);
}

Capture::Capture(Capture&& other) noexcept : fd_(other.fd_), dropped_(other.dropped_) { other.fd_ = -1; }

uint64_t Capture::dropped() {
  // Reading the statistics resets them, hence the running sum. Counts that
  // cannot be read count as drops: a test must not trust such a capture.
  tpacket_stats stats{};
  socklen_t len = sizeof stats;
  if (::getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &stats, &len) != 0) return UINT64_MAX;
  dropped_ += stats.tp_drops;
  return dropped_;
}

Capture::~Capture() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<Captured> Capture::collect(int settleMs) {
  std::vector<Captured> out;
  uint8_t buf[9000];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(tpacket_auxdata))];
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, settleMs) <= 0) break;
    iovec iov{buf, sizeof buf};
    sockaddr_ll from{};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd_, &msg, 0);
    if (n <= 0) break;
    if (from.sll_pkttype == PACKET_OUTGOING) continue;  // only what arrives
    Captured c;
    c.frame.assign(buf, buf + n);
    for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
      if (cm->cmsg_level != SOL_PACKET || cm->cmsg_type != PACKET_AUXDATA) continue;
      tpacket_auxdata aux;
      std::memcpy(&aux, CMSG_DATA(cm), sizeof aux);
      if (aux.tp_status & TP_STATUS_VLAN_VALID) {
        uint16_t tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid : 0x8100;
        c.frame = FrameBuilder::tagged(c.frame, tpid, static_cast<uint16_t>(aux.tp_vlan_tci));
        c.hadMetadataTag = true;
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

Status sendFrames(const std::string& netns, const std::string& ifname, const std::vector<Bytes>& frames) {
  int ifindex = 0;
  VFSTEER_ASSIGN_OR_RETURN(int fd, packetSocket(netns, ifname, ifindex));
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = ifindex;
  sll.sll_halen = 6;
  for (const auto& f : frames) {
    std::memcpy(sll.sll_addr, f.data(), 6);
    if (::sendto(fd, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&sll), sizeof sll) !=
        static_cast<ssize_t>(f.size())) {
      int err = errno;
      ::close(fd);
      return Error::fromErrno(err, "send on " + ifname);
    }
  }
  ::close(fd);
  return okStatus();
}

TestRunOnLo testRunOnLo(int prog, bool tc, const Bytes& frame) {
  __sk_buff skb{};
  skb.ingress_ifindex = 1;
  skb.ifindex = 1;
  xdp_md xdp{};
  xdp.ingress_ifindex = 1;
  xdp.data_end = static_cast<uint32_t>(frame.size());
  void* ctx = tc ? static_cast<void*>(&skb) : static_cast<void*>(&xdp);
  const auto ctxSize = static_cast<uint32_t>(tc ? sizeof skb : sizeof xdp);
  Bytes out(frame.size() + 256);  // room for a tag or header a program pushes
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_out = out.data(),
              .data_size_in = static_cast<uint32_t>(frame.size()), .data_size_out = static_cast<uint32_t>(out.size()),
              .ctx_in = ctx, .ctx_out = ctx, .ctx_size_in = ctxSize, .ctx_size_out = ctxSize, .repeat = 1);
  TestRunOnLo r;
  if (bpf_prog_test_run_opts(prog, &opts) != 0) {
    r.err = errno;
    return r;
  }
  r.verdict = opts.retval;
  r.mark = tc ? skb.mark : 0;
  return r;
}

}  // namespace vfsteer::testing
