#include "vfsteer/representors/datapath.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include "vfsteer/common/paths.hpp"
#include "vfsteer/representors/bpf_classifier.hpp"
#include "vfsteer_datapath.skel.h"
#include "vfsteer_datapath_rx.skel.h"

namespace vfsteer::representors {

namespace fs = std::filesystem;

namespace {

constexpr const char* kBpffs = "/sys/fs/bpf";
constexpr const char* kMapNames[] = {"vfs_config",      "vfs_tuples",       "vfs_rules", "vfs_rules_compact",
                                     "vfs_chains",      "vfs_chain_stats",  "vfs_global_stats",
                                     "vfs_buckets",     "vfs_jmp",          "vfs_spec_tc",
                                     "vfs_spec_xdp",    "vfs_scratch"};
constexpr const char* kProgramNames[] = {"vfs_ingress", "vfs_resume", "vfs_continue",
                                         "vfs_xdp",     "vfs_run",    "vfs_run_xdp"};
constexpr uint32_t kXdpDevBoundOnly = 1U << 6;  // BPF_F_XDP_DEV_BOUND_ONLY, uapi linux/bpf.h (Linux 6.3)

// libbpf's messages (verifier logs included) go here instead of stderr, so
// that a refusal can be reported once, with its reason, by the caller.
thread_local std::string tLibbpfLog;

int captureLibbpf(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[1024];
  int n = vsnprintf(buf, sizeof buf, fmt, args);
  tLibbpfLog += buf;
  return n;
}

struct LibbpfLogScope {
  LibbpfLogScope() {
    tLibbpfLog.clear();
    libbpf_set_print(captureLibbpf);
  }
};

// The last lines of libbpf's log: the verifier's reason is at the end.
std::string libbpfTail(size_t maxLines = 12) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < tLibbpfLog.size()) {
    size_t end = tLibbpfLog.find('\n', start);
    if (end == std::string::npos) end = tLibbpfLog.size();
    if (end > start) lines.push_back(tLibbpfLog.substr(start, end - start));
    start = end + 1;
  }
  std::string out;
  size_t from = lines.size() > maxLines ? lines.size() - maxLines : 0;
  for (size_t i = from; i < lines.size(); ++i) out += (out.empty() ? "" : "\n") + lines[i];
  return out;
}

Error bpfError(int err, const std::string& what) {
  if (err >= __LIBBPF_ERRNO__START) {
    // libbpf's own codes (a bad ELF, a bad relocation): its words, not the kernel's.
    char text[128] = {};
    libbpf_strerror(err, text, sizeof text);
    const std::string tail = libbpfTail();
    return Error(ErrorCode::kInvalidInput, what + " (" + text + ")" + (tail.empty() ? "" : ": " + tail));
  }
  return Error::fromErrno(err, what, libbpfTail());
}

size_t possibleCpus() {
  int n = libbpf_num_possible_cpus();
  return n > 0 ? static_cast<size_t>(n) : 1;
}

static_assert(VFS_MAX_STAGES <= 16 && VFS_MAX_CHAINS <= 4096 &&
                  VFS_CONT_CLASSID(VFS_MAX_CHAINS - 1, VFS_MAX_STAGES - 1) <= ((VFS_CONT_CLASSID_MAJOR << 16) | 0xffff),
              "datapath_abi.h: a continuation's chain id and stage must fit a classid minor");
static_assert(sizeof(vfs_key) == 120 && offsetof(vfs_key, dmac) == VFS_KEY_COMPACT,
              "datapath_abi.h: the compact part of vfs_key must end where dmac starts");

}  // namespace

struct Datapath::Fds {
  int config = -1, tuples = -1, rules = -1, compactRules = -1, chains = -1, chainStats = -1,
      globalStats = -1, buckets = -1, jmp = -1, specTc = -1, specXdp = -1, scratch = -1, ingress = -1,
      resume = -1, cont = -1, xdp = -1;
  uint32_t ingressId = 0, contId = 0, xdpId = 0;
  ~Fds() {
    for (int fd : {config, tuples, rules, compactRules, chains, chainStats, globalStats, buckets, jmp, specTc,
                   specXdp, scratch, ingress, resume, cont, xdp})
      if (fd >= 0) ::close(fd);
  }
};

Result<std::string> Datapath::pinDir(const std::string& instance) {
  return paths::instanceDir(paths::kPinRoot, instance);
}

Status Datapath::ensureBpffs() {
  struct statfs st {};
  if (statfs(kBpffs, &st) == 0 && st.f_type == BPF_FS_MAGIC) return okStatus();
  std::error_code ec;
  fs::create_directories(kBpffs, ec);
  if (mount("bpf", kBpffs, "bpf", 0, "mode=0700") != 0)
    return Error::fromErrno(errno, std::string("mount bpffs on ") + kBpffs);
  return okStatus();
}

Datapath::Datapath(std::string dir, std::unique_ptr<Fds> fds) : dir_(std::move(dir)), fds_(std::move(fds)) {}
Datapath::Datapath(Datapath&&) noexcept = default;
Datapath& Datapath::operator=(Datapath&&) noexcept = default;
Datapath::~Datapath() = default;

int Datapath::ingressFd() const { return fds_->ingress; }
uint32_t Datapath::ingressProgId() const { return fds_->ingressId; }
int Datapath::continueFd() const { return fds_->cont; }
uint32_t Datapath::continueProgId() const { return fds_->contId; }
int Datapath::xdpFd() const { return fds_->xdp; }
uint32_t Datapath::xdpProgId() const { return fds_->xdpId; }

namespace {

uint32_t progId(int fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return 0;
  return info.id;
}

}  // namespace

Result<std::optional<Datapath>> Datapath::open(const std::string& dir) {
  if (!fs::exists(dir + "/vfs_ingress")) return std::optional<Datapath>{};
  auto fds = std::make_unique<Fds>();
  auto get = [&](const std::string& name, int& fd) -> Status {
    fd = bpf_obj_get((dir + "/" + name).c_str());
    if (fd < 0) return Error::fromErrno(errno, "open pinned " + dir + "/" + name);
    return okStatus();
  };
  VFSTEER_TRY(get("vfs_config", fds->config));
  VFSTEER_TRY(get("vfs_tuples", fds->tuples));
  VFSTEER_TRY(get("vfs_rules", fds->rules));
  VFSTEER_TRY(get("vfs_rules_compact", fds->compactRules));
  VFSTEER_TRY(get("vfs_chains", fds->chains));
  VFSTEER_TRY(get("vfs_chain_stats", fds->chainStats));
  VFSTEER_TRY(get("vfs_global_stats", fds->globalStats));
  VFSTEER_TRY(get("vfs_buckets", fds->buckets));
  VFSTEER_TRY(get("vfs_jmp", fds->jmp));
  // Absent from a datapath an older vfsteer pinned: it opens (and tears
  // down) all the same, and classifies with its tables only.
  auto getIfPinned = [&](const std::string& name, int& fd) -> Status {
    if (!fs::exists(dir + "/" + name)) return okStatus();
    return get(name, fd);
  };
  VFSTEER_TRY(getIfPinned("vfs_spec_tc", fds->specTc));
  VFSTEER_TRY(getIfPinned("vfs_spec_xdp", fds->specXdp));
  VFSTEER_TRY(getIfPinned("vfs_scratch", fds->scratch));
  VFSTEER_TRY(get("vfs_ingress", fds->ingress));
  VFSTEER_TRY(get("vfs_resume", fds->resume));
  VFSTEER_TRY(get("vfs_continue", fds->cont));
  VFSTEER_TRY(get("vfs_xdp", fds->xdp));
  fds->ingressId = progId(fds->ingress);
  fds->contId = progId(fds->cont);
  fds->xdpId = progId(fds->xdp);
  return std::optional<Datapath>(Datapath(dir, std::move(fds)));
}

Result<Datapath> Datapath::create(const std::string& dir, Parser parser) {
  LibbpfLogScope logScope;
  VFSTEER_TRY(paths::makePrivateDirs(dir));

  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = dir.c_str());
  vfsteer_datapath* skel = vfsteer_datapath__open_opts(&opts);
  if (!skel) return bpfError(errno, "open the embedded datapath object");
  skel->rodata->vfs_fast_parse = parser == Parser::kFastThenFull ? 1 : 0;
  auto fail = [&](int err, const std::string& what) -> Error {
    Error e = bpfError(err, what);
    vfsteer_datapath__destroy(skel);
    // Nothing half-made stays behind.
    for (const char* m : kMapNames) ::unlink((dir + "/" + m).c_str());
    for (const char* p : kProgramNames) ::unlink((dir + "/" + p).c_str());
    ::rmdir(dir.c_str());
    return e;
  };
  if (vfsteer_datapath__load(skel) != 0) return fail(errno, "load the host datapath (verifier)");
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel->obj) {
    const std::string name = bpf_program__name(prog);
    if (bpf_program__pin(prog, (dir + "/" + name).c_str()) != 0) return fail(errno, "pin " + name);
  }
  uint32_t resumeSlot = VFS_JMP_RESUME;
  int resumeFd = bpf_program__fd(skel->progs.vfs_resume);
  if (bpf_map_update_elem(bpf_map__fd(skel->maps.vfs_jmp), &resumeSlot, &resumeFd, BPF_ANY) != 0)
    return fail(errno, "install the resume entry");
  uint32_t runSlot = VFS_SPEC_RUN;
  int runTc = bpf_program__fd(skel->progs.vfs_run), runXdp = bpf_program__fd(skel->progs.vfs_run_xdp);
  if (bpf_map_update_elem(bpf_map__fd(skel->maps.vfs_spec_tc), &runSlot, &runTc, BPF_ANY) != 0 ||
      bpf_map_update_elem(bpf_map__fd(skel->maps.vfs_spec_xdp), &runSlot, &runXdp, BPF_ANY) != 0)
    return fail(errno, "install the entries that run a specialized classifier's verdict");
  vfsteer_datapath__destroy(skel);
  auto opened = open(dir);
  if (!opened.ok()) return std::move(opened).error();
  if (!opened->has_value()) return Error(ErrorCode::kInternal, "pinned datapath vanished");
  return std::move(**opened);
}

Result<Datapath::RxEntry> Datapath::loadRxEntry(const std::string& dir, uint32_t ifindex) {
  LibbpfLogScope logScope;
  if (!fs::exists(dir + "/vfs_config")) return Error(ErrorCode::kNotFound, "no host datapath pinned in " + dir);
  // libbpf would create and pin a map the directory lacks, next to an older
  // vfsteer's datapath whose entries do not use it: refuse instead.
  for (const char* m : kMapNames)
    if (!fs::exists(dir + "/" + m))
      return Error(ErrorCode::kNotSupported,
                   "the host datapath pinned in " + dir + " was loaded by an older vfsteer (it has no " + m +
                       ") and cannot read the driver's RX metadata; run `vfsteer teardown` and apply again to "
                       "reload it");
  // The maps are pinned by name: this object's are the datapath's.
  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = dir.c_str());
  vfsteer_datapath_rx* skel = vfsteer_datapath_rx__open_opts(&opts);
  if (!skel) return bpfError(errno, "open the embedded RX metadata entry");
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel->obj) bpf_program__set_autoload(prog, prog == skel->progs.vfs_xdp_rx);
  bpf_program__set_ifindex(skel->progs.vfs_xdp_rx, ifindex);
  bpf_program__set_flags(skel->progs.vfs_xdp_rx, bpf_program__flags(skel->progs.vfs_xdp_rx) | kXdpDevBoundOnly);
  RxEntry entry;
  if (vfsteer_datapath_rx__load(skel) != 0) {
    Error e = bpfError(errno, "load the RX metadata entry for ifindex " + std::to_string(ifindex));
    vfsteer_datapath_rx__destroy(skel);
    return e;
  }
  entry.fd = UniqueFd(::fcntl(bpf_program__fd(skel->progs.vfs_xdp_rx), F_DUPFD_CLOEXEC, 0));
  vfsteer_datapath_rx__destroy(skel);
  if (!entry.fd) return Error::fromErrno(errno, "keep the RX metadata entry");
  entry.id = progId(entry.fd.get());
  return entry;
}

bool Datapath::usesItsMaps(uint32_t progId) const {
  bpf_map_info config{};
  uint32_t len = sizeof config;
  if (bpf_obj_get_info_by_fd(fds_->config, &config, &len) != 0) return false;
  UniqueFd prog(bpf_prog_get_fd_by_id(progId));
  if (!prog) return false;
  std::vector<uint32_t> maps(64);
  bpf_prog_info info{};
  info.nr_map_ids = static_cast<uint32_t>(maps.size());
  info.map_ids = reinterpret_cast<uint64_t>(maps.data());
  len = sizeof info;
  if (bpf_obj_get_info_by_fd(prog.get(), &info, &len) != 0) return false;
  maps.resize(std::min<size_t>(info.nr_map_ids, maps.size()));
  return std::find(maps.begin(), maps.end(), config.id) != maps.end();
}

uint32_t Datapath::activeGeneration() const {
  uint32_t zero = 0;
  vfs_config cfg{};
  if (bpf_map_lookup_elem(fds_->config, &zero, &cfg) != 0) return 0;
  return cfg.active & 1;
}

namespace {

// Every rule key of one generation in one of the two rule maps.
template <class Key>
Result<std::vector<Key>> ruleKeysOf(int fd, uint32_t gen) {
  std::vector<Key> keys;
  Key cur{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (next.gen == gen) keys.push_back(next);
    cur = next;
    prev = &cur;
  }
  if (errno != ENOENT) return Error::fromErrno(errno, "walk the rule map");
  return keys;
}

vfs_compact_rule_key compactKeyOf(uint8_t gen, const HostRule& r) {
  vfs_compact_rule_key k{};
  k.gen = gen;
  k.tuple = r.tuple;
  std::memcpy(k.masked, &r.masked, VFS_KEY_COMPACT);
  return k;
}

vfs_rule_key fullKeyOf(uint8_t gen, const HostRule& r) {
  vfs_rule_key k{};
  k.gen = gen;
  k.tuple = r.tuple;
  k.masked = r.masked;
  return k;
}

// Writes rules in batches (a few thousand per syscall), one by one on
// kernels without batch updates for the map.
template <class Key>
Status writeRules(int fd, const std::vector<Key>& keys, const std::vector<vfs_rule>& values) {
  constexpr size_t kBatch = 4096;
  for (size_t begin = 0; begin < keys.size(); begin += kBatch) {
    uint32_t count = static_cast<uint32_t>(std::min(kBatch, keys.size() - begin));
    LIBBPF_OPTS(bpf_map_batch_opts, bopts, .elem_flags = BPF_ANY);
    if (bpf_map_update_batch(fd, &keys[begin], &values[begin], &count, &bopts) == 0) continue;
    if (errno != EINVAL && errno != ENOTSUP && errno != EOPNOTSUPP)
      return Error::fromErrno(errno, "write rules");
    for (size_t i = begin; i < begin + kBatch && i < keys.size(); ++i)
      if (bpf_map_update_elem(fd, &keys[i], &values[i], BPF_ANY) != 0)
        return Error::fromErrno(errno, "write rules");
  }
  return okStatus();
}

}  // namespace

Result<HostTables> Datapath::readGeneration(uint32_t gen) const {
  if (gen > 1) return Error(ErrorCode::kInvalidInput, "generation must be 0 or 1");
  HostTables t;
  uint32_t zero = 0;
  vfs_config cfg{};
  if (bpf_map_lookup_elem(fds_->config, &zero, &cfg) != 0) return Error::fromErrno(errno, "read vfs_config");
  const vfs_gen_config& gc = cfg.gen[gen];
  for (uint32_t i = 0; i < gc.ntuples && i < VFS_MAX_TUPLES; ++i) {
    uint32_t idx = gen * VFS_MAX_TUPLES + i;
    vfs_tuple tuple{};
    if (bpf_map_lookup_elem(fds_->tuples, &idx, &tuple) != 0) return Error::fromErrno(errno, "read vfs_tuples");
    t.tuples.push_back(tuple);
  }
  for (uint32_t i = 0; i < gc.nchains && i < VFS_MAX_CHAINS; ++i) {
    uint32_t idx = gen * VFS_MAX_CHAINS + i;
    vfs_chain chain{};
    if (bpf_map_lookup_elem(fds_->chains, &idx, &chain) != 0) return Error::fromErrno(errno, "read vfs_chains");
    t.chains.push_back(chain);
  }
  for (const auto& tp : gc.tunnel_ports)
    if (tp.port != 0) t.tunnelPorts.push_back(tp);
  if (classifierProgId(gen) != 0) t.classifier = HostTables::Classifier::kSpecialized;
  VFSTEER_ASSIGN_OR_RETURN(auto keys, ruleKeysOf<vfs_rule_key>(fds_->rules, gen));
  for (const auto& k : keys) {
    HostRule r;
    r.tuple = k.tuple;
    r.masked = k.masked;
    if (bpf_map_lookup_elem(fds_->rules, &k, &r.rule) != 0) continue;  // raced with a delete
    t.rules.push_back(r);
  }
  VFSTEER_ASSIGN_OR_RETURN(auto compact, ruleKeysOf<vfs_compact_rule_key>(fds_->compactRules, gen));
  for (const auto& k : compact) {
    HostRule r;
    r.tuple = k.tuple;
    std::memcpy(&r.masked, k.masked, VFS_KEY_COMPACT);
    if (bpf_map_lookup_elem(fds_->compactRules, &k, &r.rule) != 0) continue;
    t.rules.push_back(r);
  }
  return t;
}

uint32_t Datapath::classifierProgId(uint32_t gen) const {
  // A program array's lookup from user space gives the program's id.
  uint32_t id = 0;
  if (fds_->specTc < 0 || bpf_map_lookup_elem(fds_->specTc, &gen, &id) != 0) return 0;
  return id;
}

Status Datapath::writeGeneration(uint32_t gen, const HostTables& t) {
  if (gen > 1) return Error(ErrorCode::kInvalidInput, "generation must be 0 or 1");
  if (gen == activeGeneration())
    return Error(ErrorCode::kInternal, "refusing to rewrite the active generation in place");
  if (t.tuples.size() > VFS_MAX_TUPLES)
    return Error(ErrorCode::kNotSupported,
                 "the policy needs " + std::to_string(t.tuples.size()) +
                     " distinct match shapes; the host datapath handles " +
                     std::to_string(VFS_MAX_TUPLES));
  if (t.chains.size() > VFS_MAX_CHAINS)
    return Error(ErrorCode::kNotSupported, "more than " + std::to_string(VFS_MAX_CHAINS) +
                                               " host chains");
  if (t.tunnelPorts.size() > VFS_MAX_TUNNEL_PORTS)
    return Error(ErrorCode::kNotSupported, "more than " + std::to_string(VFS_MAX_TUNNEL_PORTS) +
                                               " tunnel UDP ports");
  if (t.rules.size() > VFS_MAX_RULES / 2)
    return Error(ErrorCode::kNotSupported, std::to_string(t.rules.size()) +
                                               " host rules; the host datapath holds " +
                                               std::to_string(VFS_MAX_RULES / 2));
  VFSTEER_TRY(clearGeneration(gen));
  for (size_t i = 0; i < t.tuples.size(); ++i) {
    uint32_t idx = gen * VFS_MAX_TUPLES + static_cast<uint32_t>(i);
    if (bpf_map_update_elem(fds_->tuples, &idx, &t.tuples[i], BPF_ANY) != 0)
      return Error::fromErrno(errno, "write vfs_tuples");
  }
  for (size_t i = 0; i < t.chains.size(); ++i) {
    uint32_t idx = gen * VFS_MAX_CHAINS + static_cast<uint32_t>(i);
    if (bpf_map_update_elem(fds_->chains, &idx, &t.chains[i], BPF_ANY) != 0)
      return Error::fromErrno(errno, "write vfs_chains");
  }
  // Each rule goes to the map its tuple's key length selects.
  std::vector<vfs_rule_key> fullKeys;
  std::vector<vfs_rule> fullValues;
  std::vector<vfs_compact_rule_key> compactKeys;
  std::vector<vfs_rule> compactValues;
  for (const auto& r : t.rules) {
    if (r.tuple >= t.tuples.size())
      return Error(ErrorCode::kInternal, "a rule names tuple " + std::to_string(r.tuple) + " of " +
                                             std::to_string(t.tuples.size()));
    if (t.tuples[r.tuple].compact) {
      compactKeys.push_back(compactKeyOf(static_cast<uint8_t>(gen), r));
      compactValues.push_back(r.rule);
    } else {
      fullKeys.push_back(fullKeyOf(static_cast<uint8_t>(gen), r));
      fullValues.push_back(r.rule);
    }
  }
  VFSTEER_TRY(writeRules(fds_->rules, fullKeys, fullValues));
  VFSTEER_TRY(writeRules(fds_->compactRules, compactKeys, compactValues));
  uint32_t zero = 0;
  vfs_config cfg{};
  if (bpf_map_lookup_elem(fds_->config, &zero, &cfg) != 0) return Error::fromErrno(errno, "read vfs_config");
  vfs_gen_config& gc = cfg.gen[gen];
  gc = vfs_gen_config{};
  gc.ntuples = static_cast<uint32_t>(t.tuples.size());
  gc.nchains = static_cast<uint32_t>(t.chains.size());
  for (size_t i = 0; i < t.tunnelPorts.size(); ++i) gc.tunnel_ports[i] = t.tunnelPorts[i];
  if (bpf_map_update_elem(fds_->config, &zero, &cfg, BPF_ANY) != 0)
    return Error::fromErrno(errno, "write vfs_config");
  if (t.classifier == HostTables::Classifier::kSpecialized) VFSTEER_TRY(installClassifier(gen, t));
  return okStatus();
}

Status Datapath::installClassifier(uint32_t gen, const HostTables& t) {
  if (!specializable(t))
    return Error(ErrorCode::kInternal, std::to_string(t.rules.size()) + " host rules are too many to specialize (" +
                                           std::to_string(kSpecializedMaxRules) + " at most)");
  for (auto [hook, array] : {std::pair{DemuxHook::kTc, fds_->specTc}, std::pair{DemuxHook::kXdp, fds_->specXdp}}) {
    VFSTEER_ASSIGN_OR_RETURN(UniqueFd prog, loadClassifier(t, hook));
    int fd = prog.get();
    if (bpf_map_update_elem(array, &gen, &fd, BPF_ANY) != 0)
      return Error::fromErrno(errno, "install the policy's classifier");
  }
  return okStatus();
}

Result<UniqueFd> Datapath::loadClassifier(const HostTables& t, DemuxHook hook) const {
  if (fds_->specTc < 0 || fds_->specXdp < 0 || fds_->scratch < 0)
    return Error(ErrorCode::kNotSupported,
                 "the host datapath pinned in " + dir_ +
                     " was loaded by an older vfsteer and cannot run a classifier made for the policy; set "
                     "device.host_classifier: tables, or run `vfsteer teardown` and apply again to reload it");
  ClassifierMaps maps;
  maps.scratch = fds_->scratch;
  maps.spec = hook == DemuxHook::kTc ? fds_->specTc : fds_->specXdp;
  maps.chainStats = fds_->chainStats;
  VFSTEER_ASSIGN_OR_RETURN(int fd, representors::loadClassifier(compileClassifier(t, hook, maps), hook));
  return UniqueFd(fd);
}

namespace {

// Returns after an RCU grace period: the kernel calls synchronize_rcu() on
// every update of a map-in-map, precisely so that no program still runs
// with the previous value. Every packet reads the active generation once,
// under RCU, so afterwards none uses the old one.
Status waitForRcuGracePeriod() {
  int inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "vfs_sync_in", 4, 4, 1, nullptr);
  if (inner < 0) return Error::fromErrno(errno, "create RCU barrier map");
  LIBBPF_OPTS(bpf_map_create_opts, opts, .inner_map_fd = static_cast<uint32_t>(inner));
  int outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "vfs_sync", 4, 4, 1, &opts);
  if (outer < 0) {
    int err = errno;
    ::close(inner);
    return Error::fromErrno(err, "create RCU barrier map");
  }
  uint32_t zero = 0;
  int rc = bpf_map_update_elem(outer, &zero, &inner, BPF_ANY);
  int err = errno;
  ::close(outer);
  ::close(inner);
  if (rc != 0) return Error::fromErrno(err, "wait for an RCU grace period");
  return okStatus();
}

}  // namespace

Status Datapath::activate(uint32_t gen) {
  uint32_t zero = 0;
  vfs_config cfg{};
  if (bpf_map_lookup_elem(fds_->config, &zero, &cfg) != 0) return Error::fromErrno(errno, "read vfs_config");
  cfg.active = gen & 1;
  if (bpf_map_update_elem(fds_->config, &zero, &cfg, BPF_ANY) != 0)
    return Error::fromErrno(errno, "switch the active generation");
  return waitForRcuGracePeriod();
}

Status Datapath::clearGeneration(uint32_t gen) {
  VFSTEER_ASSIGN_OR_RETURN(auto keys, ruleKeysOf<vfs_rule_key>(fds_->rules, gen));
  for (const auto& k : keys)
    if (bpf_map_delete_elem(fds_->rules, &k) != 0 && errno != ENOENT)
      return Error::fromErrno(errno, "delete from vfs_rules");
  VFSTEER_ASSIGN_OR_RETURN(auto compact, ruleKeysOf<vfs_compact_rule_key>(fds_->compactRules, gen));
  for (const auto& k : compact)
    if (bpf_map_delete_elem(fds_->compactRules, &k) != 0 && errno != ENOENT)
      return Error::fromErrno(errno, "delete from vfs_rules_compact");
  uint32_t zero = 0;
  vfs_config cfg{};
  if (bpf_map_lookup_elem(fds_->config, &zero, &cfg) != 0) return Error::fromErrno(errno, "read vfs_config");
  if ((cfg.active & 1) == gen && (cfg.gen[gen].ntuples || cfg.gen[gen].nchains))
    return Error(ErrorCode::kInternal, "refusing to clear the active generation");
  for (int array : {fds_->specTc, fds_->specXdp})
    if (array >= 0 && bpf_map_delete_elem(array, &gen) != 0 && errno != ENOENT)
      return Error::fromErrno(errno, "remove the policy's classifier");
  cfg.gen[gen] = vfs_gen_config{};
  if (bpf_map_update_elem(fds_->config, &zero, &cfg, BPF_ANY) != 0)
    return Error::fromErrno(errno, "write vfs_config");
  return okStatus();
}

namespace {

// Opens a bpf stage's object with only `program` to be loaded; checks it is
// there and is a tc program. The caller closes the object.
Result<std::pair<bpf_object*, bpf_program*>> openUserObject(const std::string& object, const std::string& program,
                                                             const char* pinRoot) {
  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pinRoot);
  bpf_object* obj = bpf_object__open_file(object.c_str(), &opts);
  if (!obj) {
    Error e = bpfError(errno, "open BPF object " + object);
    return Error(ErrorCode::kInvalidInput, e.describe() + "; is it an object built with clang -target bpf?");
  }
  bpf_program* wanted = nullptr;
  bpf_program* prog;
  std::string names;
  bpf_object__for_each_program(prog, obj) {
    const bool match = program == bpf_program__name(prog);
    bpf_program__set_autoload(prog, match);
    if (match) wanted = prog;
    names += (names.empty() ? "" : ", ") + std::string(bpf_program__name(prog));
  }
  if (!wanted) {
    bpf_object__close(obj);
    return Error(ErrorCode::kInvalidInput, "no program named \"" + program + "\" in " + object +
                                               "; its programs: " + (names.empty() ? "none" : names));
  }
  if (bpf_program__type(wanted) != BPF_PROG_TYPE_SCHED_CLS) {
    bpf_object__close(obj);
    return Error(ErrorCode::kInvalidInput,
                 "program \"" + program + "\" in " + object + " is not a tc program (SEC(\"tc\"))");
  }
  return std::pair{obj, wanted};
}

}  // namespace

Status checkUserProgram(const std::string& object, const std::string& program) {
  LibbpfLogScope logScope;
  VFSTEER_ASSIGN_OR_RETURN(auto opened, openUserObject(object, program, nullptr));
  bpf_object__close(opened.first);
  return okStatus();
}

Result<bool> readsVfsteerMeta(const std::string& object) {
  btf* types = btf__parse_elf(object.c_str(), nullptr);
  if (!types) return false;  // no BTF: nothing says it reads the metadata
  struct Field {
    const char* name;
    size_t offset;
  };
  static constexpr Field kLayout[] = {
      {"magic", offsetof(vfsteer_meta, magic)},       {"valid", offsetof(vfsteer_meta, valid)},
      {"rx_hash_type", offsetof(vfsteer_meta, rx_hash_type)}, {"rx_hash", offsetof(vfsteer_meta, rx_hash)},
      {"vlan_proto", offsetof(vfsteer_meta, vlan_proto)}, {"vlan_tci", offsetof(vfsteer_meta, vlan_tci)},
      {"rx_timestamp", offsetof(vfsteer_meta, rx_timestamp)}, {"ifindex", offsetof(vfsteer_meta, ifindex)},
      {"slot", offsetof(vfsteer_meta, slot)},         {"gen", offsetof(vfsteer_meta, gen)},
      {"verdict", offsetof(vfsteer_meta, verdict)}};
  const int id = btf__find_by_name_kind(types, "vfsteer_meta", BTF_KIND_STRUCT);
  if (id < 0) {
    btf__free(types);
    return false;
  }
  const btf_type* t = btf__type_by_id(types, id);
  bool same = t->size == sizeof(vfsteer_meta) && btf_vlen(t) == std::size(kLayout);
  const btf_member* m = btf_members(t);
  for (size_t i = 0; same && i < std::size(kLayout); ++i, ++m) {
    const char* name = btf__name_by_offset(types, m->name_off);
    same = name && std::strcmp(name, kLayout[i].name) == 0 &&
           btf_member_bit_offset(t, static_cast<uint32_t>(i)) == kLayout[i].offset * 8;
  }
  btf__free(types);
  if (!same)
    return Error(ErrorCode::kInvalidInput,
                 object + " was built against another layout of struct vfsteer_meta than this vfsteer writes "
                          "(version " + std::to_string(VFSTEER_META_VERSION) +
                          "); rebuild it with this vfsteer's vfsteer_meta.h");
  return true;
}

Result<std::string> vfsteerMetaHeader() {
  LibbpfLogScope logScope;
  size_t size = 0;
  const void* elf = vfsteer_datapath__elf_bytes(&size);
  bpf_object* obj = bpf_object__open_mem(elf, size, nullptr);
  if (!obj) return bpfError(errno, "open the embedded datapath object");
  const btf* types = bpf_object__btf(obj);
  const int id = types ? btf__find_by_name_kind(types, "vfsteer_meta", BTF_KIND_STRUCT) : -1;
  if (id < 0) {
    bpf_object__close(obj);
    return Error(ErrorCode::kInternal, "the datapath's BTF does not describe struct vfsteer_meta");
  }
  std::string dumped;
  auto print = [](void* out, const char* fmt, va_list args) {
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, args);
    *static_cast<std::string*>(out) += buf;
  };
  btf_dump* dump = btf_dump__new(types, print, &dumped, nullptr);
  const int err = dump ? btf_dump__dump_type(dump, static_cast<uint32_t>(id)) : -errno;
  if (dump) btf_dump__free(dump);
  bpf_object__close(obj);
  if (err) return Error::fromErrno(-err, "write struct vfsteer_meta from the datapath's BTF");
  char constants[512];
  std::snprintf(constants, sizeof constants,
                "#define VFSTEER_META_VERSION %d\n#define VFSTEER_META_MAGIC 0x%08xu\n"
                "#define VFSTEER_META_RX_HASH 0x%x\n#define VFSTEER_META_RX_TIMESTAMP 0x%x\n"
                "#define VFSTEER_META_VLAN 0x%x\n",
                VFSTEER_META_VERSION, VFSTEER_META_MAGIC, VFSTEER_META_RX_HASH, VFSTEER_META_RX_TIMESTAMP,
                VFSTEER_META_VLAN);
  return "/* vfsteer_meta.h, written by `vfsteer metadata header` from the BTF of\n"
         " * vfsteer's host datapath: what its XDP entry leaves in front of each frame\n"
         " * it passes on to tc (docs/nic-metadata.md). Put it where your stage finds\n"
         " * vfsteer_meta.h, next to vfsteer_stage.h, which reads it with\n"
         " * vfsteer_meta_of(). A stage built against another layout is refused at apply. */\n"
         "#ifndef VFSTEER_META_H\n#define VFSTEER_META_H\n\n" +
         std::string(constants) + "\n" + dumped + "\n#endif /* VFSTEER_META_H */\n";
}

Status Datapath::loadUserProgram(const UserProgram& p) {
  LibbpfLogScope logScope;
  if (p.slot == VFS_JMP_RESUME || p.slot > VFS_MAX_USER_PROGS)
    return Error(ErrorCode::kInvalidInput, "bad program slot " + std::to_string(p.slot));
  // The object finds the datapath's program array (and pins its own maps)
  // under our directory.
  VFSTEER_ASSIGN_OR_RETURN(auto opened, openUserObject(p.object, p.program, dir_.c_str()));
  auto [obj, wanted] = opened;
  if (bpf_object__load(obj) != 0) {
    Error e = bpfError(errno, "load program \"" + p.program + "\" from " + p.object);
    bpf_object__close(obj);
    return e;
  }
  int fd = bpf_program__fd(wanted);
  const std::string pin = dir_ + "/user_" + std::to_string(p.slot);
  ::unlink(pin.c_str());
  if (bpf_obj_pin(fd, pin.c_str()) != 0) {
    Error e = bpfError(errno, "pin " + pin);
    bpf_object__close(obj);
    return e;
  }
  if (bpf_map_update_elem(fds_->jmp, &p.slot, &fd, BPF_ANY) != 0) {
    Error e = bpfError(errno, "install program \"" + p.program + "\" in the datapath");
    ::unlink(pin.c_str());
    bpf_object__close(obj);
    return e;
  }
  bpf_object__close(obj);
  return okStatus();
}

Status Datapath::unloadUserProgram(uint32_t slot) {
  if (bpf_map_delete_elem(fds_->jmp, &slot) != 0 && errno != ENOENT)
    return Error::fromErrno(errno, "remove program slot " + std::to_string(slot));
  ::unlink((dir_ + "/user_" + std::to_string(slot)).c_str());
  return okStatus();
}

std::vector<uint32_t> Datapath::userProgramSlots() const {
  std::vector<uint32_t> slots;
  for (uint32_t slot = 1; slot <= VFS_MAX_USER_PROGS; ++slot)
    if (fs::exists(dir_ + "/user_" + std::to_string(slot))) slots.push_back(slot);
  return slots;
}

Result<ChainCounters> Datapath::chainCounters(uint32_t chainId) const {
  std::vector<vfs_chain_stats> perCpu(possibleCpus());
  if (bpf_map_lookup_elem(fds_->chainStats, &chainId, perCpu.data()) != 0)
    return Error::fromErrno(errno, "read counters of chain id " + std::to_string(chainId));
  ChainCounters c;
  c.stagePackets.assign(VFS_MAX_STAGES, 0);
  c.stageBytes.assign(VFS_MAX_STAGES, 0);
  for (const auto& s : perCpu) {
    c.packets += s.packets;
    c.bytes += s.bytes;
    for (size_t i = 0; i < VFS_MAX_STAGES; ++i) {
      c.stagePackets[i] += s.stage_packets[i];
      c.stageBytes[i] += s.stage_bytes[i];
    }
  }
  return c;
}

Status Datapath::resetChainCounters(uint32_t chainId) {
  std::vector<vfs_chain_stats> zero(possibleCpus());
  if (bpf_map_update_elem(fds_->chainStats, &chainId, zero.data(), BPF_ANY) != 0)
    return Error::fromErrno(errno, "reset counters of chain id " + std::to_string(chainId));
  std::vector<vfs_bucket> buckets(1);
  for (uint32_t s = 0; s < VFS_MAX_STAGES; ++s) {
    uint32_t idx = chainId * VFS_MAX_STAGES + s;
    vfs_bucket b{};
    if (bpf_map_update_elem(fds_->buckets, &idx, &b, BPF_ANY) != 0)
      return Error::fromErrno(errno, "reset police state");
  }
  return okStatus();
}

Result<GlobalCounters> Datapath::globalCounters() const {
  GlobalCounters g;
  std::vector<uint64_t> perCpu(possibleCpus());
  auto read = [&](uint32_t which, uint64_t& out) -> Status {
    if (bpf_map_lookup_elem(fds_->globalStats, &which, perCpu.data()) != 0)
      return Error::fromErrno(errno, "read global counters");
    out = 0;
    for (uint64_t v : perCpu) out += v;
    return okStatus();
  };
  VFSTEER_TRY(read(VFS_G_MALFORMED, g.malformed));
  VFSTEER_TRY(read(VFS_G_UNMATCHED, g.unmatched));
  VFSTEER_TRY(read(VFS_G_POLICED, g.policed));
  VFSTEER_TRY(read(VFS_G_TAILCALL, g.tailcallFailures));
  VFSTEER_TRY(read(VFS_G_ACTION_ERR, g.actionErrors));
  VFSTEER_TRY(read(VFS_G_FROM_XDP, g.fromXdp));
  return g;
}

Status Datapath::destroy() {
  std::error_code ec;
  // Everything in the directory is ours: the datapath's pins, user program
  // pins and the maps user objects pinned by name.
  for (const auto& entry : fs::directory_iterator(dir_, ec)) ::unlink(entry.path().c_str());
  if (::rmdir(dir_.c_str()) != 0 && errno != ENOENT)
    return Error::fromErrno(errno, "remove " + dir_);
  // vfsteer's pin root too, once no instance is left in it (fails, and
  // stays, while one is).
  ::rmdir(fs::path(dir_).parent_path().c_str());
  return okStatus();
}

bool HostTables::sameAs(const HostTables& o) const {
  auto bytesEq = [](const auto& a, const auto& b) {
    return a.size() == b.size() &&
           (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(a[0])) == 0);
  };
  if (classifier != o.classifier || !bytesEq(tuples, o.tuples) || !bytesEq(chains, o.chains) ||
      !bytesEq(tunnelPorts, o.tunnelPorts))
    return false;
  if (rules.size() != o.rules.size()) return false;
  // Field bytes only: HostRule itself has padding after `tuple`.
  auto key = [](const HostRule& r) {
    std::string k(1, static_cast<char>(r.tuple));
    k.append(reinterpret_cast<const char*>(&r.masked), sizeof r.masked);
    k.append(reinterpret_cast<const char*>(&r.rule), sizeof r.rule);
    return k;
  };
  std::set<std::string> mine;
  for (const auto& r : rules) mine.insert(key(r));
  for (const auto& r : o.rules)
    if (!mine.contains(key(r))) return false;
  return true;
}

}  // namespace vfsteer::representors
