// The orchestrator's view of the kernel: small interfaces that netlink/ and
// representors/ implement for real (real_ports.cpp) and that tests wrap to
// inject faults. Every kernel write the orchestrator makes goes through one.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vfsteer/common/result.hpp"
#include "vfsteer/common/unique_fd.hpp"
#include "vfsteer/netlink/ethtool_rxnfc.hpp"
#include "vfsteer/netlink/message.hpp"
#include "vfsteer/netlink/socket.hpp"
#include "vfsteer/representors/bpf_demux.hpp"
#include "vfsteer/representors/datapath.hpp"
#include "vfsteer/representors/host_tables.hpp"

namespace vfsteer::engine {

// A netlink channel into the topology's network namespace.
class NetlinkPort {
 public:
  virtual ~NetlinkPort() = default;
  virtual Result<std::vector<netlink::RequestOutcome>> transact(std::vector<netlink::Message> batch) = 0;
  virtual Result<std::vector<netlink::RawMessage>> dump(netlink::Message request) = 0;
};

// The host datapath pinned in one directory (present or not yet).
class DatapathPort {
 public:
  virtual ~DatapathPort() = default;
  virtual const std::string& dir() const = 0;  // where it is (or would be) pinned
  virtual bool present() const = 0;
  virtual Status create() = 0;
  virtual Status destroy() = 0;
  virtual int ingressFd() const = 0;
  virtual uint32_t ingressProgId() const = 0;
  virtual int continueFd() const = 0;
  virtual uint32_t continueProgId() const = 0;
  virtual int xdpFd() const = 0;
  virtual uint32_t xdpProgId() const = 0;
  // Whether program `id` works on this datapath's maps (a port's vfs_xdp_rx).
  virtual bool usesItsMaps(uint32_t progId) const = 0;
  virtual uint32_t activeGeneration() const = 0;
  virtual Result<representors::HostTables> readGeneration(uint32_t gen) const = 0;
  // The id of the classifier made for generation `gen`'s policy, 0 when it
  // classifies with its tables (cheaper than reading the tables).
  virtual uint32_t classifierProgId(uint32_t gen) const = 0;
  virtual Status writeGeneration(uint32_t gen, const representors::HostTables& tables) = 0;
  virtual Status activate(uint32_t gen) = 0;
  virtual Status clearGeneration(uint32_t gen) = 0;
  virtual Status loadUserProgram(const representors::UserProgram& program) = 0;
  virtual Status unloadUserProgram(uint32_t slot) = 0;
  virtual std::vector<uint32_t> userProgramSlots() const = 0;  // slots holding a program
  virtual Status resetChainCounters(uint32_t chainId) = 0;
  virtual Result<representors::ChainCounters> chainCounters(uint32_t chainId) const = 0;
  virtual Result<representors::GlobalCounters> globalCounters() const = 0;
};

// BPF programs outside the host datapath: the NIC demux program.
class ProgramPort {
 public:
  virtual ~ProgramPort() = default;
  // Loads it bound for offload to `offloadIfindex`, an ifindex in the
  // topology's namespace (the kernel resolves it in the loader's).
  virtual Result<UniqueFd> loadDemux(const std::vector<bpf_insn>& insns, representors::DemuxHook hook,
                                     int offloadIfindex) = 0;
  // The id of the program behind `fd`.
  virtual Result<uint32_t> programId(int fd) = 0;
  // The program with this id, when it still exists.
  virtual Result<UniqueFd> programById(uint32_t id) = 0;
  // A port's own XDP entry that reads RX metadata (vfs_xdp_rx), bound to
  // `ifindex` in the topology's namespace, on the maps of the datapath
  // pinned in `pinDir`.
  virtual Result<UniqueFd> loadXdpRxEntry(const std::string& pinDir, int ifindex) = 0;
};

// Device settings outside netlink: sriov_numvfs in sysfs.
class DevicePort {
 public:
  virtual ~DevicePort() = default;
  virtual Result<uint16_t> numVfs(const std::string& pf) = 0;
  virtual Status setNumVfs(const std::string& pf, uint16_t count) = 0;
};

// ethtool's view of a device (an ioctl, in the topology's namespace).
class EthtoolPort {
 public:
  virtual ~EthtoolPort() = default;
  // Locations of the device's RX flow rules (`ethtool -n`); none when its
  // driver keeps no such rules.
  virtual Result<std::vector<uint32_t>> flowRuleLocations(const std::string& device) = 0;
  // The rule at `location`; nothing when none is there.
  virtual Result<std::optional<netlink::rxnfc::FlowRule>> flowRule(const std::string& device, uint32_t location) = 0;
  // Writes `rule` at its location, replacing the one there (ixgbe, i40e).
  virtual Status insertFlowRule(const std::string& device, const netlink::rxnfc::FlowRule& rule) = 0;
  // A rule not there is kNotFound.
  virtual Status deleteFlowRule(const std::string& device, uint32_t location) = 0;
};

class PortFactory {
 public:
  virtual ~PortFactory() = default;
  // netns "" is the caller's namespace.
  virtual Result<std::unique_ptr<NetlinkPort>> netlink(const std::string& netns, int protocol) = 0;
  virtual Result<std::unique_ptr<DatapathPort>> datapath(const std::string& pinDir) = 0;
  virtual std::unique_ptr<DevicePort> device() = 0;
  virtual Result<std::unique_ptr<ProgramPort>> programs(const std::string& netns) = 0;
  virtual Result<std::unique_ptr<EthtoolPort>> ethtool(const std::string& netns) = 0;
};

std::unique_ptr<PortFactory> makeRealPorts();

}  // namespace vfsteer::engine
