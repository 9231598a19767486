// The NIC prefix on netdevsim: flower skip_sw refused (fallback to the host
// with the kernel's words, or failure with nothing changed under skip-sw),
// the demux as an offloaded BPF program (cls_bpf skip_sw and XDP offload)
// reported in_hw, and faults injected through netdevsim's debugfs.
#include <gtest/gtest.h>

#include "netdevsim.hpp"
#include "vfsteer/netlink/link.hpp"
#include "vfsteer/netlink/socket.hpp"
#include "vfsteer/representors/bpf_demux.hpp"

namespace vfsteer::testing {
namespace {

using nlohmann::json;

const char* kFlowerRefusal = "netdevsim: only offload of BPF classifiers supported";

class NicTest : public VmTest {
 protected:
  // A PF with two VFs in switchdev mode.
  void SetUp() override {
    VmTest::SetUp();
    if (IsSkipped()) return;
    nsim().setNumVfs(2);
    nsim().setSwitchdev();
  }
  std::string policy(const std::string& chains, const std::string& device = "") {
    return writeFile("version: 1\ndevice:\n  pf: " + nsim().pf() + "\n" + device + "chains:\n" + chains);
  }
  json report() { return reportJson(nsim().pf()); }
  static const json& chain(const json& rep, const std::string& name) { return reportChain(rep, name); }
  // Our filters on the PF's ingress, by priority.
  std::map<int, json> filtersByPrio() {
    std::map<int, json> out;
    for (const auto& f : shJson({"tc", "-j", "filter", "show", "dev", nsim().pf(), "ingress"}))
      if (f.contains("options")) out[f["pref"].get<int>()] = f;
    return out;
  }
  std::vector<std::string> devices() { return nsim().ports(); }
  std::string snapshot() { return kernelSnapshot(nsim(), devices()); }
};

const char* kWebChain = "  - {name: web, priority: 10, match: {ip_proto: tcp, dst_port: 80}, stages: [{deliver: {vf: 0}}]}\n";
const char* kBlockChain = "  - {name: block, priority: 5, match: {ip_proto: udp, dst_port: 9}, stages: [drop]}\n";

// ---- flower (profile mlx5 on netdevsim) -----------------------------------

TEST_F(NicTest, FlowerRefusedFallsBackToTheHostInTheKernelsWords) {
  const auto file = policy(kWebChain);
  auto r = runVfsteer({"apply", "-f", file, "--profile", "mlx5"});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find(std::string("refused: ") + kFlowerRefusal), std::string::npos) << r.out;
  json rep = report();
  const json& web = chain(rep, "web");
  EXPECT_EQ(web["split"], 0);
  EXPECT_NE(web["stages"][0]["reason"].get<std::string>().find(kFlowerRefusal), std::string::npos) << web.dump();
  auto f = filtersByPrio();
  EXPECT_TRUE(f.contains(40000)) << "the host datapath took the chain";
  for (const auto& [prio, filter] : f) EXPECT_NE(filter["kind"], "flower") << "no flower rule is left behind";
  // The refusal is remembered: a second apply does not ask the NIC again.
  auto again = runVfsteer({"apply", "-f", file, "--profile", "mlx5"});
  EXPECT_NE(again.out.find("nothing to change"), std::string::npos) << again.out;
}

TEST_F(NicTest, SkipSwFlowerRefusalFailsAndChangesNothing) {
  const std::string before = snapshot();
  const auto strict = policy("  - {name: web, priority: 10, offload: skip-sw, match: {ip_proto: tcp, dst_port: 80}, "
                             "stages: [{deliver: {vf: 0}}]}\n");
  auto r = runVfsteer({"apply", "-f", strict, "--profile", "mlx5"});
  EXPECT_EQ(r.status, 3) << r.out << r.err;
  EXPECT_NE(r.err.find(kFlowerRefusal), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("chain web is skip-sw and the NIC refused its rule"), std::string::npos) << r.err;
  EXPECT_EQ(snapshot(), before) << "a refused skip-sw apply changes nothing";

  // The same from the command line and on a running system.
  const auto file = policy(kWebChain);
  ASSERT_EQ(runVfsteer({"apply", "-f", file, "--profile", "mlx5"}).status, 0);
  const std::string running = snapshot();
  auto cli = runVfsteer({"apply", "-f", file, "--profile", "mlx5", "--skip-sw", "web", "--retry-refused"});
  EXPECT_EQ(cli.status, 3) << cli.out << cli.err;
  EXPECT_NE(cli.err.find(kFlowerRefusal), std::string::npos) << cli.err;
  EXPECT_EQ(snapshot(), running);
  auto enforce = runVfsteer({"enforce", "skip-sw", "--chain", "web", "--instance", nsim().pf()});
  EXPECT_EQ(enforce.status, 3) << enforce.out << enforce.err;
  EXPECT_NE(enforce.err.find(kFlowerRefusal), std::string::npos) << enforce.err;
  EXPECT_NE(enforce.err.find("skip-sw was not enforced; nothing was changed"), std::string::npos);
  EXPECT_EQ(snapshot(), running);
  // Without --retry-refused the remembered refusal makes the plan fail.
  auto remembered = runVfsteer({"apply", "-f", file, "--profile", "mlx5", "--skip-sw", "web"});
  EXPECT_EQ(remembered.status, 2) << remembered.out << remembered.err;
  EXPECT_EQ(snapshot(), running);
}

// ---- the demux as an offloaded BPF program (profile netdevsim) ---------------

TEST_F(NicTest, BpfDemuxOffloadedAsClsBpfIsInHw) {
  nsim().hwTcOffload(true);
  const auto file = policy(std::string(kBlockChain) + kWebChain);
  auto r = runVfsteer({"apply", "-f", file});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("attach it on tc ingress (cls_bpf skip_sw)"), std::string::npos) << r.out;
  auto f = filtersByPrio();
  ASSERT_TRUE(f.contains(10000)) << "the demux program at the NIC priority";
  const json& opts = f[10000]["options"];
  EXPECT_TRUE(opts.value("skip_sw", false));
  EXPECT_TRUE(opts.value("in_hw", false)) << f[10000].dump();
  EXPECT_EQ(opts["prog"]["name"], "vfsteer_demux");
  EXPECT_EQ(readSysfs(nsim().debugfs() + "/ports/0/bpf_offloaded_id"), std::to_string(opts["prog"]["id"].get<int>()));
  json rep = report();
  EXPECT_TRUE(rep["nic_program"]["in_hw"].get<bool>());
  EXPECT_EQ(chain(rep, "block")["split"], 1) << "the drop runs in the NIC";
  EXPECT_EQ(chain(rep, "web")["handover"], "trap");
  EXPECT_TRUE(chain(rep, "web")["nic_rules"][0]["in_hw"].get<bool>());
  auto again = runVfsteer({"apply", "-f", file});
  EXPECT_NE(again.out.find("nothing to change"), std::string::npos) << again.out;
  auto down = runVfsteer({"teardown", "--instance", nsim().pf()});
  ASSERT_EQ(down.status, 0) << down.err;
  EXPECT_FALSE(filtersByPrio().contains(10000));
  EXPECT_EQ(readSysfs(nsim().debugfs() + "/ports/0/bpf_offloaded_id"), "0");
}

TEST_F(NicTest, BpfDemuxInXdpOffloadModeMovesToClsBpfThroughTheHost) {
  nsim().hwTcOffload(true);
  auto r = runVfsteer({"apply", "-f", policy(std::string(kBlockChain) + kWebChain, "  bpf_offload: xdp\n")});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("in XDP offload mode"), std::string::npos) << r.out;
  json link = shJson({"ip", "-j", "link", "show", "dev", nsim().pf()})[0];
  ASSERT_TRUE(link.contains("xdp")) << link.dump();
  EXPECT_EQ(link["xdp"]["mode"], 3) << "XDP_ATTACHED_HW";
  EXPECT_EQ(link["xdp"]["prog"]["name"], "vfsteer_demux");
  EXPECT_TRUE(report()["nic_program"]["in_hw"].get<bool>());

  // netdevsim holds one offloaded program: the move hands the chains to the
  // host, removes the XDP program, then attaches the cls_bpf one.
  auto moved = runVfsteer({"apply", "-f", policy(std::string(kBlockChain) + kWebChain)});
  ASSERT_EQ(moved.status, 0) << moved.err << moved.out;
  EXPECT_NE(moved.out.find("then, with the host carrying the chains"), std::string::npos) << moved.out;
  EXPECT_FALSE(shJson({"ip", "-j", "link", "show", "dev", nsim().pf()})[0].contains("xdp"));
  auto f = filtersByPrio();
  ASSERT_TRUE(f.contains(10000));
  EXPECT_TRUE(f[10000]["options"].value("in_hw", false));
  json rep = report();
  EXPECT_EQ(rep["nic_program"]["hook"], "cls_bpf");
  EXPECT_EQ(chain(rep, "block")["split"], 1);
}

struct Fault {
  const char* name;
  const char* file;      // debugfs file under the device ("" for hw-tc-offload off)
  const char* hook;      // policy bpf_offload
  const char* expected;  // in the reason
};

class OffloadFault : public NicTest, public ::testing::WithParamInterface<Fault> {
 protected:
  void inject() {
    const Fault& f = GetParam();
    nsim().hwTcOffload(std::string(f.file).empty() ? false : true);
    if (!std::string(f.file).empty()) writeSysfs(nsim().debugfs() + "/" + f.file, "N");
  }
  std::string faultPolicy(bool skipSw) {
    const std::string block = skipSw ? "  - {name: block, priority: 5, offload: skip-sw, match: {ip_proto: udp, dst_port: 9}, stages: [drop]}\n"
                                     : kBlockChain;
    return policy(block + kWebChain, std::string("  bpf_offload: ") + GetParam().hook + "\n");
  }
};

TEST_P(OffloadFault, AutoFallsBackToTheHostWithTheReason) {
  inject();
  auto r = runVfsteer({"apply", "-f", faultPolicy(false)});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("refused"), std::string::npos) << r.out;
  json rep = report();
  const std::string reason = chain(rep, "block")["stages"][0]["reason"];
  EXPECT_NE(reason.find(GetParam().expected), std::string::npos) << reason;
  EXPECT_EQ(chain(rep, "block")["split"], 0) << "the drop runs on the host";
  EXPECT_FALSE(rep.contains("nic_program"));
  EXPECT_FALSE(filtersByPrio().contains(10000));
  EXPECT_FALSE(shJson({"ip", "-j", "link", "show", "dev", nsim().pf()})[0].contains("xdp"));
}

TEST_P(OffloadFault, SkipSwFailsAndChangesNothing) {
  inject();
  const std::string before = snapshot();
  auto r = runVfsteer({"apply", "-f", faultPolicy(true)});
  EXPECT_EQ(r.status, 3) << r.out << r.err;
  EXPECT_NE(r.err.find(GetParam().expected), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("chain block is skip-sw and the NIC refused the demux program"), std::string::npos) << r.err;
  EXPECT_EQ(snapshot(), before);
}

INSTANTIATE_TEST_SUITE_P(
    Netdevsim, OffloadFault,
    ::testing::Values(Fault{"tc_offload_off", "", "cls_bpf", "TC offload is disabled on net device"},
                      Fault{"verifier_refuses", "bpf_bind_verifier_accept", "cls_bpf", "Operation not supported"},
                      Fault{"verifier_refuses_xdp", "bpf_bind_verifier_accept", "xdp", "Operation not supported"},
                      Fault{"tc_offload_refused", "ports/0/bpf_tc_accept", "cls_bpf",
                            "netdevsim configured to reject BPF TC offload"},
                      Fault{"xdp_offload_refused", "ports/0/bpf_xdpoffload_accept", "xdp",
                            "Operation not supported"}),
    [](const ::testing::TestParamInfo<Fault>& fault) { return std::string(fault.param.name); });

TEST_F(NicTest, ForeignXdpOffloadProgramIsLeftAlone) {
  // Someone else's program in the NIC's XDP offload slot.
  auto fd = representors::loadDemux(representors::compileDemux({}, representors::DemuxHook::kXdp),
                                    representors::DemuxHook::kXdp, nsim().pfIfindex());
  ASSERT_TRUE(fd.ok()) << fd.error().describe();
  auto sock = netlink::Socket::open(NETLINK_ROUTE);
  ASSERT_TRUE(sock.ok());
  auto set = sock->request(netlink::link::encodeSetXdp(nsim().pfIfindex(), *fd, netlink::link::XdpMode::kOffload));
  ASSERT_TRUE(set.ok()) << set.error().describe();
  const int foreignId = shJson({"ip", "-j", "link", "show", "dev", nsim().pf()})[0]["xdp"]["prog"]["id"];
  ::close(*fd);

  auto r = runVfsteer({"apply", "-f", policy(std::string(kBlockChain) + kWebChain, "  bpf_offload: xdp\n")});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  json rep = report();
  EXPECT_NE(chain(rep, "block")["stages"][0]["reason"].get<std::string>().find("which vfsteer did not attach"),
            std::string::npos)
      << rep.dump();
  EXPECT_EQ(shJson({"ip", "-j", "link", "show", "dev", nsim().pf()})[0]["xdp"]["prog"]["id"], foreignId);
  auto strict = runVfsteer(
      {"apply", "-f",
       policy("  - {name: block, priority: 5, offload: skip-sw, match: {ip_proto: udp, dst_port: 9}, stages: [drop]}\n",
              "  bpf_offload: xdp\n"),
       "--retry-refused"});
  EXPECT_EQ(strict.status, 3) << strict.out << strict.err;
  ASSERT_EQ(runVfsteer({"teardown", "--instance", nsim().pf()}).status, 0);
  EXPECT_EQ(shJson({"ip", "-j", "link", "show", "dev", nsim().pf()})[0]["xdp"]["prog"]["id"], foreignId)
      << "teardown leaves the foreign program";
}

}  // namespace
}  // namespace vfsteer::testing
