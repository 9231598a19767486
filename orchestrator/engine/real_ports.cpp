// The ports backed by the real kernel.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <optional>

#include "engine/ports.hpp"
#include "vfsteer/netlink/ethtool_rxnfc.hpp"

namespace vfsteer::engine {

namespace {

class RealNetlink : public NetlinkPort {
 public:
  explicit RealNetlink(netlink::Socket s) : sock_(std::move(s)) {}
  Result<std::vector<netlink::RequestOutcome>> transact(std::vector<netlink::Message> batch) override {
    return sock_.transact(batch);
  }
  Result<std::vector<netlink::RawMessage>> dump(netlink::Message request) override {
    return sock_.dump(std::move(request));
  }

 private:
  netlink::Socket sock_;
};

class RealDatapath : public DatapathPort {
 public:
  RealDatapath(std::string dir, std::optional<representors::Datapath> dp)
      : dir_(std::move(dir)), dp_(std::move(dp)) {}

  const std::string& dir() const override { return dir_; }
  bool present() const override { return dp_.has_value(); }
  Status create() override {
    VFSTEER_TRY(representors::Datapath::ensureBpffs());
    VFSTEER_ASSIGN_OR_RETURN(auto dp, representors::Datapath::create(dir_));
    dp_.emplace(std::move(dp));
    return okStatus();
  }
  Status destroy() override {
    if (!dp_) return okStatus();
    VFSTEER_TRY(dp_->destroy());
    dp_.reset();
    return okStatus();
  }
  int ingressFd() const override { return dp_ ? dp_->ingressFd() : -1; }
  uint32_t ingressProgId() const override { return dp_ ? dp_->ingressProgId() : 0; }
  int continueFd() const override { return dp_ ? dp_->continueFd() : -1; }
  uint32_t continueProgId() const override { return dp_ ? dp_->continueProgId() : 0; }
  int xdpFd() const override { return dp_ ? dp_->xdpFd() : -1; }
  uint32_t xdpProgId() const override { return dp_ ? dp_->xdpProgId() : 0; }
  bool usesItsMaps(uint32_t progId) const override { return dp_ && dp_->usesItsMaps(progId); }
  uint32_t activeGeneration() const override { return dp_ ? dp_->activeGeneration() : 0; }
  uint32_t classifierProgId(uint32_t gen) const override { return dp_ ? dp_->classifierProgId(gen) : 0; }
  Result<representors::HostTables> readGeneration(uint32_t gen) const override {
    if (!dp_) return representors::HostTables{};
    return dp_->readGeneration(gen);
  }
  Status writeGeneration(uint32_t gen, const representors::HostTables& t) override {
    if (!dp_) return missing();
    return dp_->writeGeneration(gen, t);
  }
  Status activate(uint32_t gen) override {
    if (!dp_) return missing();
    return dp_->activate(gen);
  }
  Status clearGeneration(uint32_t gen) override {
    if (!dp_) return missing();
    return dp_->clearGeneration(gen);
  }
  Status loadUserProgram(const representors::UserProgram& p) override {
    if (!dp_) return missing();
    return dp_->loadUserProgram(p);
  }
  Status unloadUserProgram(uint32_t slot) override {
    if (!dp_) return missing();
    return dp_->unloadUserProgram(slot);
  }
  std::vector<uint32_t> userProgramSlots() const override {
    return dp_ ? dp_->userProgramSlots() : std::vector<uint32_t>{};
  }
  Status resetChainCounters(uint32_t id) override {
    if (!dp_) return missing();
    return dp_->resetChainCounters(id);
  }
  Result<representors::ChainCounters> chainCounters(uint32_t id) const override {
    if (!dp_) return missing();
    return dp_->chainCounters(id);
  }
  Result<representors::GlobalCounters> globalCounters() const override {
    if (!dp_) return missing();
    return dp_->globalCounters();
  }

 private:
  Error missing() const {
    return Error(ErrorCode::kNotFound, "no host datapath is loaded in " + dir_);
  }
  std::string dir_;
  std::optional<representors::Datapath> dp_;
};

class RealDevice : public DevicePort {
 public:
  Result<uint16_t> numVfs(const std::string& pf) override {
    std::ifstream in(path(pf));
    int n = -1;
    if (!(in >> n) || n < 0)
      return Error(ErrorCode::kNotSupported, pf + " has no sriov_numvfs (" + path(pf) + "): it is not an SR-IOV PF");
    return static_cast<uint16_t>(n);
  }
  Status setNumVfs(const std::string& pf, uint16_t count) override {
    int fd = ::open(path(pf).c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return Error::fromErrno(errno, "open " + path(pf));
    const std::string text = std::to_string(count);
    ssize_t n = ::write(fd, text.data(), text.size());
    int err = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(text.size()))
      return Error::fromErrno(err, "set " + pf + " sriov_numvfs to " + text);
    return okStatus();
  }

 private:
  static std::string path(const std::string& pf) { return "/sys/class/net/" + pf + "/device/sriov_numvfs"; }
};

class RealPrograms : public ProgramPort {
 public:
  explicit RealPrograms(std::optional<netlink::Netns> ns) : ns_(std::move(ns)) {}
  Result<UniqueFd> loadDemux(const std::vector<bpf_insn>& insns, representors::DemuxHook hook,
                             int offloadIfindex) override {
    if (!ns_ || offloadIfindex == 0) {
      VFSTEER_ASSIGN_OR_RETURN(int fd, representors::loadDemux(insns, hook, offloadIfindex));
      return UniqueFd(fd);
    }
    UniqueFd out;
    VFSTEER_TRY(ns_->runInside([&]() -> Status {
      VFSTEER_ASSIGN_OR_RETURN(int fd, representors::loadDemux(insns, hook, offloadIfindex));
      out = UniqueFd(fd);
      return okStatus();
    }));
    return out;
  }
  Result<uint32_t> programId(int fd) override {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return Error::fromErrno(errno, "read a BPF program's id");
    return info.id;
  }
  Result<UniqueFd> programById(uint32_t id) override {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) return Error::fromErrno(errno, "open BPF program id " + std::to_string(id));
    return UniqueFd(fd);
  }
  Result<UniqueFd> loadXdpRxEntry(const std::string& pinDir, int ifindex) override {
    // The kernel resolves a device-bound program's ifindex in the loader's namespace.
    auto load = [&]() -> Result<UniqueFd> {
      VFSTEER_ASSIGN_OR_RETURN(auto entry, representors::Datapath::loadRxEntry(pinDir, static_cast<uint32_t>(ifindex)));
      return std::move(entry.fd);
    };
    if (!ns_) return load();
    UniqueFd out;
    VFSTEER_TRY(ns_->runInside([&]() -> Status {
      VFSTEER_ASSIGN_OR_RETURN(out, load());
      return okStatus();
    }));
    return out;
  }

 private:
  std::optional<netlink::Netns> ns_;
};

class RealEthtool : public EthtoolPort {
 public:
  explicit RealEthtool(UniqueFd socket) : socket_(std::move(socket)) {}
  Result<std::vector<uint32_t>> flowRuleLocations(const std::string& device) override {
    return netlink::rxnfc::ruleLocations(socket_.get(), device);
  }
  Result<std::optional<netlink::rxnfc::FlowRule>> flowRule(const std::string& device, uint32_t location) override {
    return netlink::rxnfc::readRule(socket_.get(), device, location);
  }
  Status insertFlowRule(const std::string& device, const netlink::rxnfc::FlowRule& rule) override {
    return netlink::rxnfc::insertRule(socket_.get(), device, rule);
  }
  Status deleteFlowRule(const std::string& device, uint32_t location) override {
    return netlink::rxnfc::deleteRule(socket_.get(), device, location);
  }

 private:
  UniqueFd socket_;  // made in the namespace: ethtool's ioctls act in the socket's
};

class RealPorts : public PortFactory {
 public:
  Result<std::unique_ptr<NetlinkPort>> netlink(const std::string& netns, int protocol) override {
    std::optional<netlink::Netns> ns;
    if (!netns.empty()) {
      VFSTEER_ASSIGN_OR_RETURN(auto n, netlink::Netns::byName(netns));
      ns.emplace(std::move(n));
    }
    VFSTEER_ASSIGN_OR_RETURN(auto sock, netlink::Socket::open(protocol, ns ? &*ns : nullptr));
    return std::unique_ptr<NetlinkPort>(new RealNetlink(std::move(sock)));
  }
  Result<std::unique_ptr<DatapathPort>> datapath(const std::string& pinDir) override {
    VFSTEER_ASSIGN_OR_RETURN(auto existing, representors::Datapath::open(pinDir));
    return std::unique_ptr<DatapathPort>(new RealDatapath(pinDir, std::move(existing)));
  }
  std::unique_ptr<DevicePort> device() override { return std::make_unique<RealDevice>(); }
  Result<std::unique_ptr<ProgramPort>> programs(const std::string& netns) override {
    std::optional<netlink::Netns> ns;
    if (!netns.empty()) {
      VFSTEER_ASSIGN_OR_RETURN(auto n, netlink::Netns::byName(netns));
      ns.emplace(std::move(n));
    }
    return std::unique_ptr<ProgramPort>(new RealPrograms(std::move(ns)));
  }
  Result<std::unique_ptr<EthtoolPort>> ethtool(const std::string& netns) override {
    UniqueFd socket;
    auto open = [&socket]() -> Status {
      socket = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      if (socket.get() < 0) return Error::fromErrno(errno, "open a socket for ethtool");
      return okStatus();
    };
    if (netns.empty()) {
      VFSTEER_TRY(open());
    } else {
      VFSTEER_ASSIGN_OR_RETURN(auto ns, netlink::Netns::byName(netns));
      VFSTEER_TRY(ns.runInside(open));
    }
    return std::unique_ptr<EthtoolPort>(new RealEthtool(std::move(socket)));
  }
};

}  // namespace

std::unique_ptr<PortFactory> makeRealPorts() { return std::make_unique<RealPorts>(); }

}  // namespace vfsteer::engine
