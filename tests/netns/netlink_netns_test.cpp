// The netlink layer on the real kernel: a fresh namespace with veth, clsact,
// u32, cls_bpf and mirred; dumps decode exactly what was added; kernel
// refusals carry the kernel's own text; batches report per request.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/rtnetlink.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "engine/ports.hpp"
#include "scratch_netns.hpp"
#include "vfsteer/netlink/link.hpp"
#include "vfsteer/netlink/netdev.hpp"
#include "vfsteer/netlink/socket.hpp"
#include "vfsteer/netlink/tc.hpp"

namespace vfsteer::netlink {
namespace {

using testing::ScratchNetns;

struct Env {
  ScratchNetns ns;
  std::optional<Socket> socket;
  int va = 0, vb = 0;
  Socket& sock() { return *socket; }
};

std::unique_ptr<Env> makeEnv() {
  auto env = std::make_unique<Env>();
  auto netns = Netns::byName(env->ns.name());
  EXPECT_TRUE(netns.ok());
  auto sock = Socket::open(NETLINK_ROUTE, &*netns);
  EXPECT_TRUE(sock.ok()) << sock.error().describe();
  env->socket.emplace(std::move(*sock));
  env->va = env->ns.ifindex("va");
  env->vb = env->ns.ifindex("vb");
  return env;
}

tc::Filter u32Redirect(int from, int to, uint16_t prio, uint32_t dst) {
  tc::Filter f;
  f.ifindex = from;
  f.priority = prio;
  f.protocol = ETH_P_IP;
  tc::U32 u;
  u.keys.push_back({htonl(dst), 0xffffffff, 16, 0});
  tc::Action a;
  a.op = tc::Mirred{tc::Mirred::Op::kEgressRedirect, static_cast<uint32_t>(to)};
  a.verdict = TC_ACT_STOLEN;
  a.cookie = {0x76, 0x66, 0x73, 0x74};  // "vfst": how vfsteer will mark what it owns
  u.actions.push_back(a);
  f.spec = u;
  return f;
}

std::vector<tc::Filter> dumpFilters(Socket& s, int ifindex, std::optional<uint32_t> chain = {}) {
  auto replies = s.dump(tc::encodeDumpFilters(ifindex, tc::kIngress, chain));
  EXPECT_TRUE(replies.ok()) << replies.error().describe();
  std::vector<tc::Filter> out;
  if (!replies.ok()) return out;
  for (const auto& r : *replies) {
    if (tc::isFilterHead(r)) continue;
    auto f = tc::decodeFilter(r);
    EXPECT_TRUE(f.ok()) << f.error().describe();
    // u32 lists its hash table node too; keep rules only.
    if (f.ok() && !(std::holds_alternative<tc::U32>(f->spec) && std::get<tc::U32>(f->spec).keys.empty()))
      out.push_back(*f);
  }
  return out;
}

int loadPassProgram() {
  // r0 = TC_ACT_OK; exit
  bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, TC_ACT_OK},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  return bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "vfst_pass", "GPL", insns, 2, nullptr);
}

// What apply relies on to send XDP frames to a veth: the netdev family's
// xdp-features, and that a veth takes redirected frames (ndo-xmit) only once
// its peer has NAPI (GRO on).
TEST(NetlinkNetns, XdpFeaturesSayWhenAVethTakesRedirectedFrames) {
  VFSTEER_REQUIRE_ROOT();
  auto env = makeEnv();
  auto netns = Netns::byName(env->ns.name());
  ASSERT_TRUE(netns.ok());
  auto genl = Socket::open(NETLINK_GENERIC, &*netns);
  ASSERT_TRUE(genl.ok()) << genl.error().describe();
  auto family = genl->request(encodeGetFamily(netdev::kFamilyName));
  if (!family.ok()) GTEST_SKIP() << "no netdev netlink family (Linux < 6.3): " << family.error().describe();
  ASSERT_FALSE(family->replies.empty());
  auto id = decodeFamilyId(family->replies[0]);
  ASSERT_TRUE(id.ok()) << id.error().describe();
  auto features = [&](int ifindex) -> uint64_t {
    auto dumped = genl->dump(netdev::encodeDumpDevices(*id));
    EXPECT_TRUE(dumped.ok()) << dumped.error().describe();
    for (const auto& raw : dumped.ok() ? *dumped : std::vector<RawMessage>{}) {
      auto dev = netdev::decodeDevice(raw);
      EXPECT_TRUE(dev.ok()) << dev.error().describe();
      if (dev.ok() && dev->ifindex == ifindex) return dev->xdpFeatures;
    }
    ADD_FAILURE() << "ifindex " << ifindex << " is not in the netdev dump";
    return 0;
  };
  const uint64_t entry = netdev::kXdpBasic | netdev::kXdpRedirect;
  EXPECT_EQ(features(env->va) & entry, entry) << "veth runs XDP in its driver and redirects";
  EXPECT_EQ(features(env->va) & netdev::kXdpNdoXmit, 0u) << "vb has no NAPI yet";
  auto gro = testing::runProgram({"/usr/sbin/ip", "netns", "exec", env->ns.name(), "ethtool", "-K", "vb", "gro", "on"});
  ASSERT_EQ(gro.status, 0) << gro.err;
  EXPECT_NE(features(env->va) & netdev::kXdpNdoXmit, 0u) << "with GRO on vb, va takes XDP frames";
  EXPECT_EQ(features(env->vb) & netdev::kXdpNdoXmit, 0u) << "va's side is unchanged";
}

TEST(NetlinkNetns, SocketInAnotherNamespaceLeavesTheProcessWhereItWas) {
  VFSTEER_REQUIRE_ROOT();
  struct stat before {}, after {};
  ASSERT_EQ(stat("/proc/thread-self/ns/net", &before), 0);
  auto env = makeEnv();
  ASSERT_EQ(stat("/proc/thread-self/ns/net", &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  // The socket sees the namespace's veth, not the host's interfaces.
  auto reply = env->sock().request(link::encodeGetLink(std::string("va")));
  ASSERT_TRUE(reply.ok()) << reply.error().describe();
  ASSERT_EQ(reply->replies.size(), 1u);
  auto info = link::decodeLink(reply->replies[0]);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->name, "va");
  EXPECT_EQ(info->kind, "veth");
  EXPECT_EQ(info->ifindex, env->va);
}

// ethtool's flow rule list, asked in the device's namespace: a veth keeps
// no flow rules (EOPNOTSUPP, an empty list); a name the namespace lacks is
// named. (The VM tier lists rules on the NIC model's ixgbe.)
TEST(NetlinkNetns, FlowRuleLocationsAreAskedInTheDevicesNamespace) {
  VFSTEER_REQUIRE_ROOT();
  ScratchNetns ns;
  auto ethtool = engine::makeRealPorts()->ethtool(ns.name());
  ASSERT_TRUE(ethtool.ok()) << ethtool.error().describe();
  auto none = (*ethtool)->flowRuleLocations("va");
  ASSERT_TRUE(none.ok()) << none.error().describe();
  EXPECT_TRUE(none->empty());
  auto missing = (*ethtool)->flowRuleLocations("vfst-nosuch0");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("no interface named \"vfst-nosuch0\""), std::string::npos);
}

TEST(NetlinkNetns, ClsactU32MirredRoundTripThroughTheKernel) {
  VFSTEER_REQUIRE_ROOT();
  auto env = makeEnv();
  ASSERT_TRUE(env->sock().request(tc::encodeAddQdisc({env->va, "clsact"})).ok());
  auto qdiscs = env->sock().dump(tc::encodeDumpQdiscs(env->va));
  ASSERT_TRUE(qdiscs.ok());
  bool clsact = false;
  for (const auto& r : *qdiscs) clsact |= tc::decodeQdisc(r)->kind == "clsact";
  EXPECT_TRUE(clsact);

  tc::Filter want = u32Redirect(env->va, env->vb, 10, 0x0a000001);
  auto added = env->sock().request(tc::encodeAddFilter(want));
  ASSERT_TRUE(added.ok()) << added.error().describe();

  auto got = dumpFilters(env->sock(), env->va);
  ASSERT_EQ(got.size(), 1u);
  const tc::Filter& f = got[0];
  EXPECT_EQ(f.priority, 10);
  EXPECT_EQ(f.protocol, ETH_P_IP);
  const auto& u = std::get<tc::U32>(f.spec);
  EXPECT_EQ(u.keys, std::get<tc::U32>(want.spec).keys);
  ASSERT_EQ(u.actions.size(), 1u);
  EXPECT_TRUE(u.actions[0].sameConfig(std::get<tc::U32>(want.spec).actions[0]))
      << "mirred target, verdict and cookie come back as sent";
  EXPECT_TRUE(f.notInHw()) << "veth has no hardware";
  // iproute2 reads the same state.
  auto show = env->ns.tc({"-j", "filter", "show", "dev", "va", "ingress"});
  ASSERT_EQ(show.status, 0);
  auto doc = nlohmann::json::parse(show.out);
  EXPECT_EQ(doc.back()["options"]["actions"][0]["to_dev"], "vb");
  EXPECT_EQ(doc.back()["options"]["actions"][0]["cookie"], "76667374");
}

TEST(NetlinkNetns, ClsBpfDirectActionReportsTheProgram) {
  VFSTEER_REQUIRE_ROOT();
  auto env = makeEnv();
  ASSERT_TRUE(env->sock().request(tc::encodeAddQdisc({env->va, "clsact"})).ok());
  int fd = loadPassProgram();
  ASSERT_GE(fd, 0) << "bpf_prog_load: " << strerror(errno);
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  ASSERT_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0);

  tc::Filter f;
  f.ifindex = env->va;
  f.priority = 40000;
  tc::Bpf b;
  b.fd = fd;
  b.name = "vfsteer";
  f.spec = b;
  auto added = env->sock().request(tc::encodeAddFilter(f));
  close(fd);
  ASSERT_TRUE(added.ok()) << added.error().describe();
  auto got = dumpFilters(env->sock(), env->va);
  ASSERT_EQ(got.size(), 1u);
  const auto& gb = std::get<tc::Bpf>(got[0].spec);
  EXPECT_EQ(gb.progId, info.id);
  EXPECT_EQ(gb.name, "vfsteer");
  EXPECT_TRUE(gb.directAction);
  EXPECT_EQ(got[0].protocol, ETH_P_ALL);
}

TEST(NetlinkNetns, SkipSwOnVethIsRefusedOrReportedNotInHw) {
  VFSTEER_REQUIRE_ROOT();
  auto env = makeEnv();
  ASSERT_TRUE(env->sock().request(tc::encodeAddQdisc({env->va, "clsact"})).ok());
  // cls_bpf skip_sw with a program not bound to the device: the kernel
  // refuses, and says why.
  int fd = loadPassProgram();
  ASSERT_GE(fd, 0);
  tc::Filter f;
  f.ifindex = env->va;
  f.priority = 40001;
  tc::Bpf b;
  b.fd = fd;
  b.name = "vfsteer";
  b.flags = tc::kSkipSw;
  f.spec = b;
  auto refused = env->sock().request(tc::encodeAddFilter(f));
  close(fd);
  ASSERT_FALSE(refused.ok());
  // The kernel's whole answer here is the errno (no extack text).
  EXPECT_EQ(refused.error().errnum(), EOPNOTSUPP);
  EXPECT_EQ(refused.error().code(), ErrorCode::kNotSupported);
  EXPECT_NE(refused.error().describe().find("Operation not supported"), std::string::npos);

  // u32 skip_sw is accepted (rc 0) yet lives nowhere: only the flags tell.
  tc::Filter u = u32Redirect(env->va, env->vb, 12, 0x0a000002);
  std::get<tc::U32>(u.spec).flags = tc::kSkipSw;
  ASSERT_TRUE(env->sock().request(tc::encodeAddFilter(u)).ok());
  auto got = dumpFilters(env->sock(), env->va);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].flags() & tc::kSkipSw);
  EXPECT_TRUE(got[0].notInHw());
  EXPECT_FALSE(got[0].inHw());
}

TEST(NetlinkNetns, BatchWithOneBadRequestReportsEachOutcome) {
  VFSTEER_REQUIRE_ROOT();
  auto env = makeEnv();
  ASSERT_TRUE(env->sock().request(tc::encodeAddQdisc({env->va, "clsact"})).ok());
  std::vector<Message> batch;
  batch.push_back(tc::encodeAddFilter(u32Redirect(env->va, env->vb, 10, 0x0a000001)));
  // A chain index past the kernel's limit.
  tc::Filter bad = u32Redirect(env->va, env->vb, 11, 0x0a000002);
  bad.chain = 0x10000000;
  batch.push_back(tc::encodeAddFilter(bad));
  batch.push_back(tc::encodeAddFilter(u32Redirect(env->va, env->vb, 12, 0x0a000003)));
  auto outcomes = env->sock().transact(batch);
  ASSERT_TRUE(outcomes.ok()) << outcomes.error().describe();
  ASSERT_EQ(outcomes->size(), 3u);
  EXPECT_TRUE((*outcomes)[0].status.ok());
  ASSERT_FALSE((*outcomes)[1].status.ok());
  const Error& e = (*outcomes)[1].status.error();
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_EQ(e.code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(e.kernelText(), "Specified chain index exceeds upper limit");
  EXPECT_NE(e.message().find("request 1"), std::string::npos);
  EXPECT_TRUE((*outcomes)[2].status.ok()) << "the kernel went on after the bad request";
  std::vector<uint16_t> prios;
  for (const auto& f : dumpFilters(env->sock(), env->va)) prios.push_back(f.priority);
  EXPECT_EQ(prios, (std::vector<uint16_t>{10, 12}));
}

// More small requests than one sendmsg takes (the kernel refuses over
// UIO_MAXIOV iovecs): the socket cuts them, every one gets its outcome.
TEST(NetlinkNetns, ThousandsOfSmallRequestsInOneBatch) {
  VFSTEER_REQUIRE_ROOT();
  auto env = makeEnv();
  ASSERT_TRUE(env->sock().request(tc::encodeAddQdisc({env->va, "clsact"})).ok());
  std::vector<Message> batch;
  for (int i = 0; i < 3000; ++i) {
    tc::Filter gone = u32Redirect(env->va, env->vb, static_cast<uint16_t>(100 + i), 0);
    gone.spec = tc::U32{};
    batch.push_back(tc::encodeDeleteFilter(gone));
  }
  ASSERT_LT(batch[0].size(), 64u) << "small requests: a byte limit alone would not cut the batch";
  auto outcomes = env->sock().transact(batch);
  ASSERT_TRUE(outcomes.ok()) << outcomes.error().describe();
  ASSERT_EQ(outcomes->size(), 3000u);
  for (const auto& o : *outcomes) {
    ASSERT_FALSE(o.status.ok());
    EXPECT_EQ(o.status.error().errnum(), ENOENT);
  }
}

TEST(NetlinkNetns, BadAttributeIsLocatedInTheRequest) {
  VFSTEER_REQUIRE_ROOT();
  auto env = makeEnv();
  ASSERT_TRUE(env->sock().request(tc::encodeAddQdisc({env->va, "clsact"})).ok());
  // TCA_U32_FLAGS is a u32; send two bytes. The kernel's policy check names
  // the attribute by its offset, which we turn into a path.
  Message m(RTM_NEWTFILTER, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  tcmsg t{};
  t.tcm_ifindex = env->va;
  t.tcm_parent = tc::kIngress;
  t.tcm_info = TC_H_MAKE(10u << 16, htons(ETH_P_IP));
  m.putHeader(t);
  m.putStrz(TCA_KIND, "u32");
  {
    auto opts = m.nest(TCA_OPTIONS);
    m.putU16(TCA_U32_FLAGS, 1);
  }
  auto r = env->sock().request(std::move(m));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().errnum(), ERANGE);
  EXPECT_FALSE(r.error().kernelText().empty());
  EXPECT_EQ(r.error().attribute(), "TCA_OPTIONS > TCA_U32_FLAGS (offset 48)") << r.error().describe();
}

TEST(NetlinkNetns, LargeBatchesAreCutIntoChunksAndAllAcked) {
  VFSTEER_REQUIRE_ROOT();
  auto env = makeEnv();
  ASSERT_TRUE(env->sock().request(tc::encodeAddQdisc({env->va, "clsact"})).ok());
  env->sock().setMaxBatchBytes(1024);  // a few requests per sendmsg
  std::vector<Message> batch;
  for (uint16_t i = 0; i < 200; ++i)
    batch.push_back(tc::encodeAddFilter(u32Redirect(env->va, env->vb, 100 + i, 0x0a000000 + i)));
  auto outcomes = env->sock().transact(batch);
  ASSERT_TRUE(outcomes.ok()) << outcomes.error().describe();
  for (const auto& o : *outcomes) EXPECT_TRUE(o.status.ok());
  EXPECT_EQ(dumpFilters(env->sock(), env->va).size(), 200u);
  // Deleting them by priority, again batched.
  std::vector<Message> del;
  for (uint16_t i = 0; i < 200; ++i) {
    tc::Filter f = u32Redirect(env->va, env->vb, 100 + i, 0);
    del.push_back(tc::encodeDeleteFilter(f));
  }
  auto delOutcomes = env->sock().transact(del);
  ASSERT_TRUE(delOutcomes.ok());
  EXPECT_TRUE(dumpFilters(env->sock(), env->va).empty());
}

}  // namespace
}  // namespace vfsteer::netlink
