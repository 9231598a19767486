#include "faulty_ports.hpp"

#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

namespace vfsteer::testing {

using namespace engine;

Status FaultPlan::point(const std::string& what) {
  ++count_;
  points_.push_back(what);
  if (count_ != failAt_) return okStatus();
  fired_ = true;
  if (action_ == Action::kKill) ::kill(::getpid(), SIGKILL);
  // As the kernel would say it: errno and extack text.
  const std::string text = "injected fault at point " + std::to_string(count_) + " (" + what + ")";
  return Error::fromErrno(EIO, text, text);
}

namespace {

// A request that only reads: an rtnetlink GET, a generic netlink GET
// (devlink's GET commands and the controller's GETFAMILY). Decided by the
// message type alone: NLM_F_DUMP shares its bits with NLM_F_EXCL and
// NLM_F_REPLACE, which writes carry.
bool readsOnly(const netlink::Message& m, int protocol) {
  const nlmsghdr* h = m.nlh();
  if (protocol == NETLINK_ROUTE) return h->nlmsg_type >= 16 && (h->nlmsg_type - 16) % 4 == 2;
  if (m.size() < NLMSG_HDRLEN + GENL_HDRLEN) return false;
  const auto* g = reinterpret_cast<const genlmsghdr*>(reinterpret_cast<const uint8_t*>(h) + NLMSG_HDRLEN);
  if (h->nlmsg_type == GENL_ID_CTRL) return g->cmd == CTRL_CMD_GETFAMILY;
  // DEVLINK_CMD_GET, _PORT_GET, _ESWITCH_GET, _RATE_GET
  return g->cmd == 1 || g->cmd == 5 || g->cmd == 29 || g->cmd == 74;
}

// What a dump request asks for: the ifindex of its tcmsg or ifinfomsg
// (both start with a family byte, padding, then the ifindex).
FaultPlan::Dump dumpOf(const netlink::Message& m, int protocol) {
  const nlmsghdr* h = m.nlh();
  const auto* payload = reinterpret_cast<const uint8_t*>(h) + NLMSG_HDRLEN;
  if (protocol != NETLINK_ROUTE) return {protocol, payload[0], 0};  // genlmsghdr.cmd
  int ifindex = 0;
  if (m.size() >= NLMSG_HDRLEN + 8) std::memcpy(&ifindex, payload + 4, sizeof ifindex);
  return {protocol, h->nlmsg_type, ifindex};
}

class FaultyNetlink : public NetlinkPort {
 public:
  FaultyNetlink(std::unique_ptr<NetlinkPort> inner, int protocol, FaultPlan& plan)
      : inner_(std::move(inner)), protocol_(protocol), plan_(plan) {}
  // Each write request of a batch is a fault point of its own; the one that
  // fails is not sent, the others are (the kernel treats the requests of a
  // batch independently).
  Result<std::vector<netlink::RequestOutcome>> transact(std::vector<netlink::Message> batch) override {
    std::vector<std::optional<Error>> injected(batch.size());
    std::vector<netlink::Message> sent;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!readsOnly(batch[i], protocol_)) {
        Status s = plan_.point("netlink request " + std::to_string(i + 1) + " of " + std::to_string(batch.size()) +
                               " (type " + std::to_string(batch[i].nlh()->nlmsg_type) + ")");
        if (!s.ok()) {
          injected[i] = s.error();
          continue;
        }
      }
      sent.push_back(std::move(batch[i]));
    }
    std::vector<netlink::RequestOutcome> replies;
    if (!sent.empty()) {
      VFSTEER_ASSIGN_OR_RETURN(replies, inner_->transact(std::move(sent)));
    }
    std::vector<netlink::RequestOutcome> out(batch.size());
    for (size_t i = 0, next = 0; i < batch.size(); ++i) {
      if (injected[i]) out[i].status = *injected[i];
      else out[i] = std::move(replies[next++]);
    }
    return out;
  }
  Result<std::vector<netlink::RawMessage>> dump(netlink::Message request) override {
    plan_.dumped(dumpOf(request, protocol_));
    return inner_->dump(std::move(request));
  }

 private:
  std::unique_ptr<NetlinkPort> inner_;
  int protocol_;
  FaultPlan& plan_;
};

class FaultyDatapath : public DatapathPort {
 public:
  FaultyDatapath(std::unique_ptr<DatapathPort> inner, FaultPlan& plan) : inner_(std::move(inner)), plan_(plan) {}
  const std::string& dir() const override { return inner_->dir(); }
  bool present() const override { return inner_->present(); }
  Status create() override {
    VFSTEER_TRY(plan_.point("datapath create"));
    return inner_->create();
  }
  Status destroy() override {
    VFSTEER_TRY(plan_.point("datapath destroy"));
    return inner_->destroy();
  }
  int ingressFd() const override { return inner_->ingressFd(); }
  uint32_t ingressProgId() const override { return inner_->ingressProgId(); }
  int continueFd() const override { return inner_->continueFd(); }
  uint32_t continueProgId() const override { return inner_->continueProgId(); }
  int xdpFd() const override { return inner_->xdpFd(); }
  uint32_t xdpProgId() const override { return inner_->xdpProgId(); }
  bool usesItsMaps(uint32_t progId) const override { return inner_->usesItsMaps(progId); }
  uint32_t activeGeneration() const override { return inner_->activeGeneration(); }
  Result<representors::HostTables> readGeneration(uint32_t gen) const override { return inner_->readGeneration(gen); }
  uint32_t classifierProgId(uint32_t gen) const override { return inner_->classifierProgId(gen); }
  Status writeGeneration(uint32_t gen, const representors::HostTables& t) override {
    VFSTEER_TRY(plan_.point("map write, generation " + std::to_string(gen)));
    return inner_->writeGeneration(gen, t);
  }
  Status activate(uint32_t gen) override {
    VFSTEER_TRY(plan_.point("map write, activate generation " + std::to_string(gen)));
    return inner_->activate(gen);
  }
  Status clearGeneration(uint32_t gen) override {
    VFSTEER_TRY(plan_.point("map write, clear generation " + std::to_string(gen)));
    return inner_->clearGeneration(gen);
  }
  Status loadUserProgram(const representors::UserProgram& p) override {
    VFSTEER_TRY(plan_.point("program load " + p.program));
    return inner_->loadUserProgram(p);
  }
  Status unloadUserProgram(uint32_t slot) override {
    VFSTEER_TRY(plan_.point("program unload, slot " + std::to_string(slot)));
    return inner_->unloadUserProgram(slot);
  }
  std::vector<uint32_t> userProgramSlots() const override { return inner_->userProgramSlots(); }
  Status resetChainCounters(uint32_t id) override {
    VFSTEER_TRY(plan_.point("map write, counters of chain " + std::to_string(id)));
    return inner_->resetChainCounters(id);
  }
  Result<representors::ChainCounters> chainCounters(uint32_t id) const override { return inner_->chainCounters(id); }
  Result<representors::GlobalCounters> globalCounters() const override { return inner_->globalCounters(); }

 private:
  std::unique_ptr<DatapathPort> inner_;
  FaultPlan& plan_;
};

class FaultyDevice : public DevicePort {
 public:
  FaultyDevice(std::unique_ptr<DevicePort> inner, FaultPlan& plan) : inner_(std::move(inner)), plan_(plan) {}
  Result<uint16_t> numVfs(const std::string& pf) override { return inner_->numVfs(pf); }
  Status setNumVfs(const std::string& pf, uint16_t n) override {
    VFSTEER_TRY(plan_.point("sysfs sriov_numvfs " + std::to_string(n)));
    return inner_->setNumVfs(pf, n);
  }

 private:
  std::unique_ptr<DevicePort> inner_;
  FaultPlan& plan_;
};

class FaultyPrograms : public ProgramPort {
 public:
  FaultyPrograms(std::unique_ptr<ProgramPort> inner, FaultPlan& plan) : inner_(std::move(inner)), plan_(plan) {}
  Result<UniqueFd> loadDemux(const std::vector<bpf_insn>& insns, representors::DemuxHook hook,
                             int offloadIfindex) override {
    VFSTEER_TRY(plan_.point("demux program load"));
    return inner_->loadDemux(insns, hook, offloadIfindex);
  }
  Result<uint32_t> programId(int fd) override { return inner_->programId(fd); }
  Result<UniqueFd> programById(uint32_t id) override { return inner_->programById(id); }
  Result<UniqueFd> loadXdpRxEntry(const std::string& pinDir, int ifindex) override {
    VFSTEER_TRY(plan_.point("XDP RX entry load"));
    return inner_->loadXdpRxEntry(pinDir, ifindex);
  }

 private:
  std::unique_ptr<ProgramPort> inner_;
  FaultPlan& plan_;
};

class FaultyEthtool : public EthtoolPort {
 public:
  FaultyEthtool(std::unique_ptr<EthtoolPort> inner, FaultPlan& plan) : inner_(std::move(inner)), plan_(plan) {}
  Result<std::vector<uint32_t>> flowRuleLocations(const std::string& device) override {
    return inner_->flowRuleLocations(device);
  }
  Result<std::optional<netlink::rxnfc::FlowRule>> flowRule(const std::string& device, uint32_t location) override {
    return inner_->flowRule(device, location);
  }
  Status insertFlowRule(const std::string& device, const netlink::rxnfc::FlowRule& rule) override {
    VFSTEER_TRY(plan_.point("ethtool insert flow rule at " + std::to_string(rule.location)));
    return inner_->insertFlowRule(device, rule);
  }
  Status deleteFlowRule(const std::string& device, uint32_t location) override {
    VFSTEER_TRY(plan_.point("ethtool delete flow rule at " + std::to_string(location)));
    return inner_->deleteFlowRule(device, location);
  }

 private:
  std::unique_ptr<EthtoolPort> inner_;
  FaultPlan& plan_;
};

class FaultyPorts : public PortFactory {
 public:
  explicit FaultyPorts(FaultPlan& plan) : real_(makeRealPorts()), plan_(plan) {}
  Result<std::unique_ptr<NetlinkPort>> netlink(const std::string& netns, int protocol) override {
    VFSTEER_ASSIGN_OR_RETURN(auto inner, real_->netlink(netns, protocol));
    return std::unique_ptr<NetlinkPort>(new FaultyNetlink(std::move(inner), protocol, plan_));
  }
  Result<std::unique_ptr<DatapathPort>> datapath(const std::string& pinDir) override {
    VFSTEER_ASSIGN_OR_RETURN(auto inner, real_->datapath(pinDir));
    return std::unique_ptr<DatapathPort>(new FaultyDatapath(std::move(inner), plan_));
  }
  std::unique_ptr<DevicePort> device() override { return std::make_unique<FaultyDevice>(real_->device(), plan_); }
  Result<std::unique_ptr<ProgramPort>> programs(const std::string& netns) override {
    VFSTEER_ASSIGN_OR_RETURN(auto inner, real_->programs(netns));
    return std::unique_ptr<ProgramPort>(new FaultyPrograms(std::move(inner), plan_));
  }
  Result<std::unique_ptr<engine::EthtoolPort>> ethtool(const std::string& netns) override {
    VFSTEER_ASSIGN_OR_RETURN(auto inner, real_->ethtool(netns));
    return std::unique_ptr<EthtoolPort>(new FaultyEthtool(std::move(inner), plan_));
  }

 private:
  std::unique_ptr<PortFactory> real_;
  FaultPlan& plan_;
};

}  // namespace

std::unique_ptr<PortFactory> makeFaultyPorts(FaultPlan& plan) { return std::make_unique<FaultyPorts>(plan); }

}  // namespace vfsteer::testing
