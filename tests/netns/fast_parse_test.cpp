// The host datapath's fast parse (parse_fast in datapath.bpf.c: untagged
// IPv4 and IPv6 TCP/UDP/SCTP frames) against its full parse, run by the
// kernel. Two datapaths with the same tables, one with the fast parse and
// one without (Datapath::Parser::kFullOnly); every frame runs through the
// tc and XDP entries of both, and what each parse left in the per-CPU
// scratch (struct vfs_parsed, poisoned before every run) and the verdict
// must be the same, byte for byte. The frames are the edges of the fast
// parse's conditions (IP header lengths, fragments, protocols, tunnel
// ports, tags, IPv6 extension headers), each cut short at every length,
// and random mutations of them.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "generators.hpp"
#include "host_model.hpp"
#include "packets.hpp"
#include "scratch_netns.hpp"
#include "vfsteer/common/unique_fd.hpp"
#include "vfsteer/representors/datapath.hpp"

namespace vfsteer::testing {
namespace {

using representors::Datapath;
using representors::HostTables;

constexpr uint8_t kPoison = 0xa5;
constexpr uint16_t kVxlanPort = 4789, kGenevePort = 6081;

// A datapath of its own, pinned for the test's life, with one rule (UDP to
// port 5000 of 10.0.0.0, from lo) and the two tunnel ports.
class ParserDatapath {
 public:
  ParserDatapath(const std::string& name, Datapath::Parser parser) {
    dir_ = "/sys/fs/bpf/vfsteer-parse-test-" + name + "-" + std::to_string(getpid());
    auto dp = Datapath::create(dir_, parser);
    if (!dp.ok()) {
      error_ = dp.error().describe();
      return;
    }
    dp_.emplace(std::move(*dp));
    HostTables t = udpTables(1, /*ingress=*/1, /*target=*/0);
    t.tunnelPorts = {{htons(kVxlanPort), VFS_TUN_VXLAN, 0}, {htons(kGenevePort), VFS_TUN_GENEVE, 0}};
    const uint32_t gen = dp_->activeGeneration() ^ 1;
    auto s = dp_->writeGeneration(gen, t);
    if (s.ok()) s = dp_->activate(gen);
    if (!s.ok()) error_ = s.error().describe();
    scratch_ = UniqueFd(bpf_obj_get((dir_ + "/vfs_scratch").c_str()));
    if (!scratch_) error_ = "open " + dir_ + "/vfs_scratch: " + std::strerror(errno);
  }
  ~ParserDatapath() {
    if (dp_) (void)dp_->destroy();
  }
  const std::string& error() const { return error_; }

  struct Run {
    std::optional<uint32_t> verdict;  // none: the kernel refused the frame
    vfs_parsed parsed{};
  };

  // Runs the tc or the XDP entry on `frame` on CPU `cpu` (the test's own).
  Run run(const Bytes& frame, bool tc, int cpu) {
    const size_t cpus = static_cast<size_t>(libbpf_num_possible_cpus());
    const size_t stride = (sizeof(vfs_scratch) + 7) / 8 * 8;
    std::vector<uint8_t> values(cpus * stride, kPoison);
    const uint32_t zero = 0;
    EXPECT_EQ(bpf_map_update_elem(scratch_.get(), &zero, values.data(), BPF_ANY), 0) << std::strerror(errno);
    const TestRunOnLo ran = testRunOnLo(tc ? dp_->ingressFd() : dp_->xdpFd(), tc, frame);
    Run r;
    if (ran.err != 0) {
      // tc's test run wants the whole L3 header of the ethertype a frame names.
      EXPECT_TRUE(ran.err == EINVAL && tc) << std::strerror(ran.err);
      return r;
    }
    r.verdict = ran.verdict;
    EXPECT_EQ(bpf_map_lookup_elem(scratch_.get(), &zero, values.data()), 0) << std::strerror(errno);
    std::memcpy(&r.parsed, &values[static_cast<size_t>(cpu) * stride] + offsetof(vfs_scratch, p), sizeof r.parsed);
    return r;
  }

 private:
  std::string dir_, error_;
  std::optional<Datapath> dp_;
  UniqueFd scratch_;
};

// Keeps the calling thread on one CPU while it lives.
class PinnedToCpu {
 public:
  explicit PinnedToCpu(int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    ok_ = sched_getaffinity(0, sizeof before_, &before_) == 0 && sched_setaffinity(0, sizeof one, &one) == 0;
  }
  ~PinnedToCpu() {
    if (ok_) (void)sched_setaffinity(0, sizeof before_, &before_);
  }
  bool ok() const { return ok_; }

 private:
  cpu_set_t before_{};
  bool ok_ = false;
};

const Mac kDst = mac("02:00:00:00:00:10"), kSrc = mac("02:00:00:00:00:fe");

Bytes ip4(uint8_t proto, const Bytes& l4) {
  return FrameBuilder::ethernet(kDst, kSrc, ETH_P_IP, FrameBuilder::ipv4("10.9.0.1", "10.0.0.0", proto, l4));
}

Bytes ip6(uint8_t proto, const Bytes& l4) {
  return FrameBuilder::ethernet(kDst, kSrc, ETH_P_IPV6, FrameBuilder::ipv6("2001:db8::1", "2001:db8::2", proto, l4));
}

// Frames at and around each condition of the fast parse.
std::vector<Bytes> edgeFrames() {
  const Bytes payload = text("0123456789abcdef");
  const Bytes udp = FrameBuilder::udp(40000, 5000, payload);
  const Bytes inner = ip4(IPPROTO_TCP, FrameBuilder::tcp(1000, 80, payload));
  std::vector<Bytes> frames = {
      ip4(IPPROTO_UDP, udp),
      ip4(IPPROTO_TCP, FrameBuilder::tcp(1000, 80, payload)),
      ip4(IPPROTO_SCTP, udp),  // SCTP's ports are where UDP's are
      ip4(IPPROTO_ICMP, payload),
      ip4(0, payload),
      ip4(IPPROTO_UDP, FrameBuilder::udp(40000, kVxlanPort, FrameBuilder::vxlan(42, inner))),
      ip4(IPPROTO_UDP, FrameBuilder::udp(40000, kGenevePort, FrameBuilder::geneve(7, inner))),
      ip4(IPPROTO_UDP, FrameBuilder::udp(40000, 4790, FrameBuilder::vxlan(42, inner))),  // not a tunnel port
      FrameBuilder::tagged(ip4(IPPROTO_UDP, udp), ETH_P_8021Q, 100),
      ip6(IPPROTO_UDP, udp),
      ip6(IPPROTO_TCP, FrameBuilder::tcp(1000, 80, payload)),
      ip6(IPPROTO_SCTP, udp),
      ip6(58, payload),  // ICMPv6
      ip6(IPPROTO_UDP, FrameBuilder::udp(40000, kVxlanPort, FrameBuilder::vxlan(42, inner))),
      FrameBuilder::ethernet(kDst, kSrc, ETH_P_IPV6,
                             FrameBuilder::ipv6WithHopByHop("2001:db8::1", "2001:db8::2", IPPROTO_UDP, udp)),
      FrameBuilder::tagged(ip6(IPPROTO_UDP, udp), ETH_P_8021AD, 100),
  };
  // A VXLAN header whose VNI is not marked valid: not a tunnel.
  Bytes invalidVni = frames[5];
  invalidVni[ETH_HLEN + 20 + 8] = 0;
  frames.push_back(invalidVni);
  // IP header lengths (the ports then sit where the options would end) and
  // fragment offsets: a first fragment (MF) and DF parse; a later one does not.
  const Bytes base = frames[0];
  for (uint8_t ihl : {0x40, 0x44, 0x46, 0x4f}) {
    Bytes f = base;
    f[ETH_HLEN] = ihl;
    frames.push_back(f);
  }
  for (uint16_t frag : {0x2000, 0x4000, 0x0001, 0x1fff, 0x2001}) {
    Bytes f = base;
    f[ETH_HLEN + 6] = static_cast<uint8_t>(frag >> 8);
    f[ETH_HLEN + 7] = static_cast<uint8_t>(frag);
    frames.push_back(f);
  }
  return frames;
}

TEST(FastParse, LeavesWhatTheFullParseLeaves) {
  VFSTEER_REQUIRE_ROOT();
  // One CPU, so that the scratch read back is the one the runs wrote.
  const int cpu = sched_getcpu();
  ASSERT_GE(cpu, 0);
  PinnedToCpu pinned(cpu);
  ASSERT_TRUE(pinned.ok()) << std::strerror(errno);

  ParserDatapath fast("fast", Datapath::Parser::kFastThenFull);
  ParserDatapath full("full", Datapath::Parser::kFullOnly);
  ASSERT_TRUE(fast.error().empty()) << fast.error();
  ASSERT_TRUE(full.error().empty()) << full.error();

  std::vector<Bytes> frames;
  const std::vector<Bytes> edges = edgeFrames();
  for (const Bytes& f : edges)
    for (size_t len = ETH_HLEN; len <= f.size(); ++len)
      frames.emplace_back(f.begin(), f.begin() + static_cast<long>(len));
  Generator gen(2026);
  for (int i = 0; i < 3000; ++i) {
    Bytes f = edges[static_cast<size_t>(gen.pick(static_cast<int>(edges.size())))];
    for (int flips = 1 + gen.pick(3); flips > 0; --flips)
      f[static_cast<size_t>(gen.pick(static_cast<int>(std::min<size_t>(f.size(), 64))))] =
          static_cast<uint8_t>(gen.pick(256));
    frames.push_back(f);
  }

  // fastShaped: untagged IPv4 or IPv6 TCP/UDP/SCTP by the full parse (later
  // fragments and extension headers among them, which the fast parse
  // leaves to the full one).
  size_t runs = 0, fastShaped = 0, matched = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    for (bool tc : {true, false}) {
      const auto a = fast.run(frames[i], tc, cpu);
      const auto b = full.run(frames[i], tc, cpu);
      const std::string where = std::string(tc ? "tc" : "XDP") + ", frame " + std::to_string(i) + " (" +
                                std::to_string(frames[i].size()) + " bytes)";
      ASSERT_EQ(a.verdict, b.verdict) << where;
      if (!a.verdict) continue;
      ASSERT_EQ(std::memcmp(&a.parsed, &b.parsed, sizeof a.parsed), 0) << where << ": the parses differ";
      ++runs;
      const vfs_key& o = b.parsed.outer;
      fastShaped += !b.parsed.malformed && !b.parsed.has_inner &&
                    (o.ethertype == htons(ETH_P_IP) || o.ethertype == htons(ETH_P_IPV6)) && o.tpid0 == 0 &&
                    (o.ip_proto == IPPROTO_TCP || o.ip_proto == IPPROTO_UDP || o.ip_proto == IPPROTO_SCTP);
      matched += *b.verdict == (tc ? TC_ACT_SHOT : XDP_DROP);
    }
  }
  std::printf("fast parse: %zu frames, %zu runs, %zu of the fast parse's shape, %zu matched the rule\n", frames.size(),
              runs, fastShaped, matched);
  // Both kinds of frame, and the rule's, came up.
  EXPECT_GT(fastShaped, runs / 10);
  EXPECT_LT(fastShaped, runs * 9 / 10);
  EXPECT_GT(matched, 10u);
}

}  // namespace
}  // namespace vfsteer::testing
