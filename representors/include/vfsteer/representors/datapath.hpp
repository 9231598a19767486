// The host datapath in the kernel: its programs and maps, pinned under a
// bpffs directory that vfsteer owns, so that they outlive the vfsteer
// process and a later run finds them again.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vfsteer/common/result.hpp"
#include "vfsteer/common/unique_fd.hpp"
#include "vfsteer/representors/bpf_demux.hpp"
#include "vfsteer/representors/host_tables.hpp"

namespace vfsteer::representors {

struct ChainCounters {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  std::vector<uint64_t> stagePackets;  // VFS_MAX_STAGES entries
  std::vector<uint64_t> stageBytes;
};

struct GlobalCounters {
  uint64_t malformed = 0;
  uint64_t unmatched = 0;
  uint64_t policed = 0;
  uint64_t tailcallFailures = 0;
  uint64_t actionErrors = 0;
  uint64_t fromXdp = 0;  // classified by the XDP entry, not again in tc
};

// Whether `object` is a BPF object holding a tc program named `program`
// (opened, not loaded: the verifier has its say at apply).
Status checkUserProgram(const std::string& object, const std::string& program);

// Whether the object's programs read vfsteer's XDP metadata: its BTF
// describes struct vfsteer_meta (vfsteer_meta.h), as it does when a program
// calls vfsteer_meta_of(). Fails when that description is not this
// vfsteer's layout: the stage was built against another vfsteer_meta.h.
Result<bool> readsVfsteerMeta(const std::string& object);

// vfsteer_meta.h as this vfsteer's datapath describes struct vfsteer_meta
// in its BTF, with the constants that go with it: a drop-in for the
// source header, for user stages built elsewhere (`vfsteer metadata header`).
Result<std::string> vfsteerMetaHeader();

class Datapath {
 public:
  // The directory vfsteer pins an instance's objects in (refuses a name
  // that is not an instance name).
  static Result<std::string> pinDir(const std::string& instance);
  // Mounts bpffs on /sys/fs/bpf when nothing is mounted there.
  static Status ensureBpffs();

  // The datapath pinned in `dir`, or nothing when there is none.
  static Result<std::optional<Datapath>> open(const std::string& dir);
  // How the entries parse a frame. kFullOnly turns off the fast parse of
  // untagged IPv4 TCP/UDP/SCTP frames (parse_fast in datapath.bpf.c), so
  // that tests and the bench can hold the fast parse against the full one.
  enum class Parser { kFastThenFull, kFullOnly };
  // Loads the datapath and pins it in `dir` (which must not hold one).
  static Result<Datapath> create(const std::string& dir, Parser parser = Parser::kFastThenFull);

  Datapath(Datapath&&) noexcept;
  Datapath& operator=(Datapath&&) noexcept;
  ~Datapath();

  const std::string& dir() const { return dir_; }
  int ingressFd() const;
  uint32_t ingressProgId() const;
  // The entry for NIC continuations (see VFS_CONT_CLASSID).
  int continueFd() const;
  uint32_t continueProgId() const;
  // The XDP entry (vfs_xdp): runs chains marked VFS_CHAIN_XDP, passes the
  // rest on to the tc entry.
  int xdpFd() const;
  uint32_t xdpProgId() const;
  // The XDP entry that also reads the port's RX metadata (vfs_xdp_rx: the
  // NIC's hash, timestamp and stripped VLAN tag, through the XDP RX
  // metadata kfuncs) into struct vfsteer_meta for the tc entry and user
  // stages. The kernel binds such a program to one device, so each port
  // gets its own, loaded on the maps of the datapath pinned in `dir`; it
  // lives while the fd or an XDP attachment holds it. Call from the
  // namespace that holds `ifindex`; it attaches in native (driver) mode only.
  // Refused (kNotSupported) when `dir` lacks one of this vfsteer's maps.
  struct RxEntry {
    UniqueFd fd;
    uint32_t id = 0;
  };
  static Result<RxEntry> loadRxEntry(const std::string& dir, uint32_t ifindex);
  // Whether program `progId` uses this datapath's maps: only vfsteer loads
  // programs on them (a port's vfs_xdp_rx, the shared entries).
  bool usesItsMaps(uint32_t progId) const;

  uint32_t activeGeneration() const;
  Result<HostTables> readGeneration(uint32_t gen) const;
  // The id of generation `gen`'s specialized classifier, 0 when it has none.
  uint32_t classifierProgId(uint32_t gen) const;
  // Replaces the tables of a generation that is not active, and its
  // classifier (tables.classifier).
  Status writeGeneration(uint32_t gen, const HostTables& tables);
  // The classifier made for `tables` (bpf_classifier.hpp) for one hook,
  // loaded on this datapath's maps; writeGeneration installs it.
  Result<UniqueFd> loadClassifier(const HostTables& tables, DemuxHook hook) const;
  // Makes `gen` active and returns once no packet can still be using the
  // other generation (an RCU grace period).
  Status activate(uint32_t gen);
  // Empties a generation (after it was replaced).
  Status clearGeneration(uint32_t gen);

  // User programs for bpf stages.
  Status loadUserProgram(const UserProgram& p);
  Status unloadUserProgram(uint32_t slot);
  std::vector<uint32_t> userProgramSlots() const;

  Result<ChainCounters> chainCounters(uint32_t chainId) const;
  Status resetChainCounters(uint32_t chainId);
  Result<GlobalCounters> globalCounters() const;

  // Unpins everything and removes the directory; the programs go away once
  // no tc filter holds them.
  Status destroy();

 private:
  struct Fds;
  Datapath(std::string dir, std::unique_ptr<Fds> fds);
  Status installClassifier(uint32_t gen, const HostTables& t);
  std::string dir_;
  std::unique_ptr<Fds> fds_;
};

}  // namespace vfsteer::representors
