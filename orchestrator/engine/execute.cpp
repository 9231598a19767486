#include "engine/execute.hpp"

#include <linux/netlink.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <thread>

#include "engine/flower_rules.hpp"
#include "engine/requests.hpp"

namespace vfsteer::engine {

namespace tc = netlink::tc;
namespace lk = netlink::link;
using representors::DemuxHook;

namespace {

bool isNetlink(Kind kind) {
  switch (kind) {
    case Kind::kClsact:
    case Kind::kU32Table:
    case Kind::kU32Link:
    case Kind::kNicRule:
    case Kind::kHostEntry:
    case Kind::kContinuation:
    case Kind::kXdpEntry: return true;
    default: return false;
  }
}

lk::XdpMode linkMode(policies::HostXdp mode) {
  return mode == policies::HostXdp::kNative ? lk::XdpMode::kDriver : lk::XdpMode::kGeneric;
}

// A filter as the kernel reported it, made fit to be sent again (an undo):
// without what only the kernel sets.
tc::Filter resendable(tc::Filter f) {
  auto clean = [](auto& spec) {
    spec.flags &= tc::kSkipSw | tc::kSkipHw;
    for (auto& a : spec.actions) a.index = 0;
  };
  if (auto* fl = std::get_if<tc::Flower>(&f.spec)) clean(*fl);
  if (auto* u = std::get_if<tc::U32>(&f.spec)) clean(*u);
  return f;
}

// The filter of a change the NIC must hold (in_hw): NIC rules and u32
// links; nothing for other objects.
template <class O>  // Object or const Object
auto* nicFilterOf(O& o) {
  decltype(&std::get_if<NicRule>(&o)->filter) none = nullptr;
  if (auto* r = std::get_if<NicRule>(&o)) return &r->filter;
  if (auto* l = std::get_if<U32Link>(&o)) return &l->filter;
  return none;
}

std::vector<std::string> chainsOf(const Change& c) {
  if (const auto* r = std::get_if<NicRule>(&c.object)) return {r->chain};
  if (const auto* r = std::get_if<FlowRule>(&c.object)) return {r->chain};
  if (const auto* d = std::get_if<DemuxProgram>(&c.object)) return d->chains;
  return {};
}

bool refusable(const Change& c) {
  if (c.op == Op::kRemove) return false;
  if (const auto* r = std::get_if<NicRule>(&c.object)) return !r->skipSw;
  if (const auto* r = std::get_if<FlowRule>(&c.object)) return !r->skipSw;
  if (const auto* d = std::get_if<DemuxProgram>(&c.object)) return d->skipSwChain.empty();
  return false;
}

// The request of one netlink change on `ifindex`.
struct Encode {
  const Change& c;
  int ifindex;
  const std::string& instance;
  DatapathPort& dp;
  const std::function<int(uint32_t, int)>& fdOf;
  netlink::Message operator()(const Clsact&) const {
    return c.op == Op::kRemove ? tc::encodeDeleteQdisc({ifindex, "clsact"}) : tc::encodeAddQdisc({ifindex, "clsact"});
  }
  netlink::Message operator()(const NicRule& r) const {
    tc::Filter f = resendable(r.filter);
    f.ifindex = ifindex;
    if (c.op == Op::kRemove) return tc::encodeDeleteFilter(f);
    // In place of the rule there (which may differ in a key but not in
    // priority and protocol).
    if (c.op == Op::kReplace) f.handle = std::get<NicRule>(*c.was).filter.handle;
    netlink::Message m = tc::encodeAddFilter(f, c.op == Op::kReplace);
    // The kernel echoes the filter it made, with its in_hw flag: no dump
    // per rule to learn whether the NIC took it.
    if (meantForNic(f)) m.nlh()->nlmsg_flags |= NLM_F_ECHO;
    return m;
  }
  netlink::Message operator()(const U32Table& t) const { return u32Node(t.filter); }
  netlink::Message operator()(const U32Link& l) const { return u32Node(l.filter); }
  // Tables and links are only added and removed (relayU32).
  netlink::Message u32Node(const tc::Filter& node) const {
    tc::Filter f = resendable(node);
    f.ifindex = ifindex;
    if (c.op == Op::kRemove) return tc::encodeDeleteFilter(f);
    netlink::Message m = tc::encodeAddFilter(f);
    if (!std::get<tc::U32>(f.spec).divisor && meantForNic(f)) m.nlh()->nlmsg_flags |= NLM_F_ECHO;
    return m;
  }
  netlink::Message operator()(const HostEntry& e) const {
    if (c.op == Op::kRemove) return tc::encodeDeleteFilter(hostEntryFilter(ifindex, -1, instance));
    return tc::encodeAddFilter(hostEntryFilter(ifindex, fdOf(e.progId, dp.ingressFd()), instance),
                               c.op == Op::kReplace);
  }
  netlink::Message operator()(const Continuation& k) const {
    if (c.op == Op::kRemove) return tc::encodeDeleteFilter(continuationFilter(ifindex, k, -1, instance));
    return tc::encodeAddFilter(continuationFilter(ifindex, k, fdOf(k.progId, dp.continueFd()), instance),
                               c.op == Op::kReplace);
  }
  netlink::Message operator()(const XdpEntry& x) const {
    const lk::XdpMode mode = linkMode(x.mode);
    // Only ever vfsteer's program: removal and replacement name the
    // program expected in the slot; an attach needs the slot empty.
    if (c.op == Op::kRemove) return lk::encodeSetXdp(ifindex, -1, mode, fdOf(x.progId, dp.xdpFd()));
    if (c.op == Op::kReplace)
      return lk::encodeSetXdp(ifindex, fdOf(x.progId, dp.xdpFd()), mode,
                              fdOf(std::get<XdpEntry>(*c.was).progId, dp.xdpFd()));
    return lk::encodeSetXdp(ifindex, fdOf(x.progId, dp.xdpFd()), mode);
  }
  netlink::Message operator()(const auto&) const { return netlink::Message(0, 0); }  // not netlink
};

// A refused request's error as the operator reads it: what vfsteer was
// doing, with the kernel's errno, words and attribute.
Error withContext(const Error& e, const std::string& what) {
  return Error::fromErrno(e.errnum(), what, e.kernelText(), e.attribute());
}

// The kernel's words for a refusal, as the report shows them. Some drivers
// refuse with an errno alone (ice and nfp for a rule outside chain 0; tc
// for an in-place replace with another mask): then the errno, said so.
std::string refusalWords(const Error& e) {
  if (!e.kernelText().empty()) return e.kernelText();
  if (e.errnum() != 0) return std::string(std::strerror(e.errnum())) + " (the kernel gave no message)";
  return e.describe();
}

// Deletes the flow rule at `location`; one that is not there is gone
// already. ixgbe answers a delete of an empty location with EINVAL, not
// ENOENT: the list says whether it is there.
Status deleteFlowRule(EthtoolPort& ethtool, const std::string& device, uint32_t location) {
  Status s = ethtool.deleteFlowRule(device, location);
  if (s.ok() || s.error().code() == ErrorCode::kNotFound) return okStatus();
  auto listed = ethtool.flowRuleLocations(device);
  if (listed.ok() && std::find(listed->begin(), listed->end(), location) == listed->end()) return okStatus();
  return s;
}

}  // namespace

Executor::Executor(ExecutePorts ports, std::string instance, ObservedState& model, JournalKeeper& journal)
    : ports_(ports), instance_(std::move(instance)), model_(model), journal_(journal) {}

Executor::~Executor() {
  if (!undos_.empty()) (void)rollback();
}

Result<int> Executor::ifindexOf(const std::string& device) const {
  auto it = model_.ifindex.find(device);
  if (it == model_.ifindex.end()) return Error(ErrorCode::kNotFound, device + " does not exist");
  return it->second.value;  // the netlink codecs take the kernel's int
}

void Executor::record(const Change& change) {
  applyToModel(model_, change);
  done_.push_back(change);
}

void Executor::recordUndo(std::string what, std::function<Status()> fn) {
  undos_.push_back({std::move(what), std::nullopt, std::move(fn)});
}

Result<std::optional<netlink::Message>> Executor::encode(const Change& c, std::vector<UniqueFd>& keepOpen) {
  const Key key = c.key();
  auto index = ifindexOf(key.device);
  if (!index.ok()) {
    if (c.op == Op::kRemove) return std::optional<netlink::Message>();  // gone with its device
    return index.error();
  }
  const int ifindex = *index;
  DatapathPort& dp = ports_.datapath;
  // The program an entry held before, for an undo that puts it back; the
  // datapath's own when it is no longer there.
  const std::function<int(uint32_t, int)> programFd = [&](uint32_t id, int current) -> int {
    if (id == 0) return current;
    auto fd = ports_.programs.programById(id);
    if (!fd.ok()) return current;
    keepOpen.push_back(std::move(*fd));
    return keepOpen.back().get();
  };
  return std::optional<netlink::Message>(std::visit(Encode{c, ifindex, instance_, dp, programFd}, c.object));
}

Result<Change> Executor::withLoadedRxEntry(const Change& c, std::vector<UniqueFd>& keepOpen) {
  VFSTEER_ASSIGN_OR_RETURN(int ifindex, ifindexOf(c.key().device));
  VFSTEER_ASSIGN_OR_RETURN(UniqueFd fd, ports_.programs.loadXdpRxEntry(ports_.datapath.dir(), ifindex));
  VFSTEER_ASSIGN_OR_RETURN(uint32_t id, ports_.programs.programId(fd.get()));
  keepOpen.push_back(std::move(fd));
  Change named = c;
  std::get<XdpEntry>(named.object).progId = id;
  return named;
}

Status Executor::runNetlink(const std::vector<const Change*>& batch, std::vector<Refusal>& refusals) {
  std::vector<UniqueFd> keepOpen;  // program fds the requests name, open until sent
  std::vector<netlink::Message> messages;
  std::vector<const Change*> sent;
  // Changes that name a program loaded here (a port's vfs_xdp_rx): what is
  // recorded, and undone, is the attachment of that program.
  std::vector<Change> loaded;
  loaded.reserve(batch.size());  // `sent` points into it
  for (const Change* c : batch) {
    // A port's own XDP entry that leaves its slot would be freed with it.
    const auto* leaving = c->op == Op::kRemove ? std::get_if<XdpEntry>(&c->object)
                          : c->was               ? std::get_if<XdpEntry>(&*c->was)
                                                 : nullptr;
    if (leaving && leaving->rxMetadata && leaving->progId != 0)
      if (auto fd = ports_.programs.programById(leaving->progId); fd.ok()) detachedRxEntries_.push_back(std::move(*fd));
    const auto* entry = std::get_if<XdpEntry>(&c->object);
    if (entry && entry->rxMetadata && entry->progId == 0 && c->op != Op::kRemove) {
      VFSTEER_ASSIGN_OR_RETURN(Change named, withLoadedRxEntry(*c, keepOpen));
      loaded.push_back(std::move(named));
      c = &loaded.back();
    }
    VFSTEER_ASSIGN_OR_RETURN(auto m, encode(*c, keepOpen));
    if (!m) {
      record(*c);  // nothing left to remove
      continue;
    }
    messages.push_back(std::move(*m));
    sent.push_back(c);
  }
  if (messages.empty()) return okStatus();
  // Qdiscs carry no mark: written down before they exist.
  std::set<std::string> clsact;
  for (const Change* c : sent)
    if (c->op == Op::kAdd && c->key().kind == Kind::kClsact) clsact.insert(c->key().device);
  if (!clsact.empty()) VFSTEER_TRY(journal_.intend([&](Journal& j) { j.clsact.insert(clsact.begin(), clsact.end()); }));

  VFSTEER_ASSIGN_OR_RETURN(auto outcomes, transact(std::move(messages), sent));
  std::optional<Error> failed;
  for (size_t i = 0; i < sent.size(); ++i) {
    const Change& c = *sent[i];
    const auto& outcome = outcomes[i];
    if (!outcome.status.ok()) {
      const Error& e = outcome.status.error();
      // Deleting what is already gone is success.
      if (c.op == Op::kRemove && e.code() == ErrorCode::kNotFound) {
        record(c);
        continue;
      }
      if (refusable(c)) {
        refusals.push_back({chainsOf(c), refusalWords(e), "the NIC refused its rule: " + refusalWords(e)});
        continue;
      }
      if (!failed) {
        failed = withContext(e, c.describe());
        if (const auto* r = std::get_if<NicRule>(&c.object); r && c.op != Op::kRemove)
          failed->addContext("chain " + r->chain + " is skip-sw and the NIC refused its rule");
      }
      continue;
    }
    undos_.push_back({c.describe(), inverse(c), {}});
    record(c);
    const tc::Filter* sentFilter = nicFilterOf(c.object);
    if (c.op == Op::kRemove && sentFilter && std::holds_alternative<tc::U32>(sentFilter->spec))
      noteU32Emptied(c.key().device);
    // A rule for the NIC that the kernel kept must be in hardware: its
    // echo says.
    if (!sentFilter || c.op == Op::kRemove || !meantForNic(*sentFilter)) continue;
    bool inHw = false;
    for (const auto& reply : outcome.replies) {
      auto echoed = tc::decodeFilter(reply);
      inHw |= echoed.ok() && echoed->inHw();
    }
    if (inHw) continue;
    // In the kernel but not in the NIC: the model says so, and the next
    // reconcile removes it.
    markInHw(*nicFilterOf(model_.owned.at(c.key())), false);
    const auto* rule = std::get_if<NicRule>(&c.object);
    const std::string device = rule ? rule->device : c.key().device;
    // cls_u32 offloads a knode with the request's flags, not the filter's
    // (u32_replace_hw_knode(), 6.1 and 6.12): it keeps a skip_sw filter the
    // driver refused, and hands the driver no extack for its reason.
    std::string words = "the kernel accepted the " + std::string(rule ? "rule" : "u32 link") + " on " + device +
                        " but reports it not_in_hw";
    if (std::holds_alternative<tc::U32>(sentFilter->spec))
      words += " (cls_u32 passes on no reason from the driver; ixgbe logs one to the kernel log)";
    if (!rule) {
      if (!failed) failed = Error(ErrorCode::kNotSupported, words);
      continue;
    }
    if (rule->skipSw) {
      if (!failed)
        failed = Error(ErrorCode::kNotSupported, words).addContext("chain " + rule->chain + " is skip-sw and the NIC refused its rule");
      continue;
    }
    refusals.push_back({{rule->chain}, words, "the NIC refused its rule: " + words});
  }
  if (failed) return *failed;
  return okStatus();
}

// When the last rule or link of a u32 priority goes, the kernel deletes the
// priority with its tables (u32_delete(): "last"). The model forgets them,
// and the undo puts them back before the link and rule undos run. Only the
// device's u32 kinds are looked at: a teardown removes every rule, and a
// walk over the whole model per rule made it quadratic.
void Executor::noteU32Emptied(const std::string& device) {
  // Whether `pred` holds for any object of this kind on the device (keys
  // sort by kind, then device).
  auto anyOnDevice = [&](Kind kind, auto pred) {
    for (auto it = model_.owned.lower_bound(Key{kind, device});
         it != model_.owned.end() && it->first.kind == kind && it->first.device == device; ++it)
      if (pred(*it)) return true;
    return false;
  };
  if (anyOnDevice(Kind::kU32Link, [](const auto&) { return true; })) return;
  if (anyOnDevice(Kind::kNicRule, [](const auto& entry) {
        return std::holds_alternative<tc::U32>(std::get<NicRule>(entry.second).filter.spec);
      }))
    return;
  std::vector<Key> tables;
  anyOnDevice(Kind::kU32Table, [&](const auto& entry) {
    tables.push_back(entry.first);
    return false;
  });
  for (const Key& key : tables) {
    Change gone{Op::kRemove, Phase::kMakeRoom, model_.owned.at(key), std::nullopt};
    undos_.push_back({gone.describe() + " (with the last u32 filter)", inverse(gone), {}});
    model_.owned.erase(key);
  }
}

Status Executor::runTunnelDevice(const Change& c) {
  const auto& t = std::get<TunnelDevice>(c.object);
  if (c.op == Op::kRemove) {
    auto ifindex = ifindexOf(t.name);
    if (!ifindex.ok()) return okStatus();
    VFSTEER_TRY(runOne(ports_.route, lk::encodeDeleteLink(*ifindex), "delete " + t.name));
    record(c);
    return okStatus();
  }
  VFSTEER_TRY(journal_.intend([&](Journal& j) { j.tunnelDevices.insert(t.name); }));
  VFSTEER_TRY(runOne(ports_.route, lk::encodeCreateTunnel(t.kind, t.name, t.port), "create " + t.name));
  const std::string name = t.name;
  recordUndo("create tunnel device " + name, [this, name]() -> Status {
    auto replies = requestOne(ports_.route, lk::encodeGetLink(name));
    if (!replies.ok() || replies->empty()) return okStatus();
    VFSTEER_ASSIGN_OR_RETURN(auto info, lk::decodeLink(replies->front()));
    return runOne(ports_.route, lk::encodeDeleteLink(info.ifindex), "delete " + name);
  });
  VFSTEER_ASSIGN_OR_RETURN(auto replies, requestOne(ports_.route, lk::encodeGetLink(name)));
  if (replies.empty()) return Error(ErrorCode::kInternal, name + " vanished after it was created");
  VFSTEER_ASSIGN_OR_RETURN(auto info, lk::decodeLink(replies.front()));
  VFSTEER_TRY(runOne(ports_.route, lk::encodeSetUp(info.ifindex, true), "bring up " + name));
  record(c);
  model_.ifindex[name] = IfIndex{info.ifindex};
  return okStatus();
}

Status Executor::runHostTables(const Change& c) {
  DatapathPort& dp = ports_.datapath;
  const auto& t = std::get<HostTables>(c.object);
  const uint32_t active = dp.activeGeneration();
  const uint32_t standby = active ^ 1;
  // What the standby holds now (normally nothing): the undo puts it back.
  VFSTEER_ASSIGN_OR_RETURN(auto prior, dp.readGeneration(standby));
  for (uint32_t id : t.freshChainIds) VFSTEER_TRY(dp.resetChainCounters(id));
  VFSTEER_TRY(dp.writeGeneration(standby, t.tables));
  recordUndo("write generation " + std::to_string(standby), [&dp, standby, prior]() -> Status {
    if (prior.rules.empty() && prior.chains.empty() && prior.tuples.empty()) return dp.clearGeneration(standby);
    return dp.writeGeneration(standby, prior);
  });
  VFSTEER_TRY(dp.activate(standby));
  recordUndo("switch to generation " + std::to_string(standby), [&dp, active] { return dp.activate(active); });
  // The generation it replaced is cleared once the new one is committed
  // (a new datapath's empty one needs nothing; after a refusal made this
  // run switch twice, the one standing by at the end).
  if (model_.owned.contains(Key{Kind::kHostTables}) || replacedGeneration_) replacedGeneration_ = active;
  record(c);
  return okStatus();
}

Status Executor::runDemuxProgram(const Change& c, std::vector<Refusal>& refusals) {
  const auto& d = std::get<DemuxProgram>(c.object);
  VFSTEER_ASSIGN_OR_RETURN(int ifindex, ifindexOf(d.device));
  const lk::XdpMode offload = lk::XdpMode::kOffload;
  // (Re)attaches program `fd` where `expectedId` is (0: nothing of ours).
  auto attach = [this, ifindex, &d](int fd, uint32_t expectedId) -> Status {
    const std::string what = "attach the NIC demux program to " + d.device + " (" + std::string(hookName(d.hook)) + ")";
    if (d.hook == DemuxHook::kTc) {
      if (fd < 0) return runOne(ports_.route, tc::encodeDeleteFilter(demuxFilter(ifindex, -1, instance_, d.emulated)), what);
      return runOne(ports_.route, tc::encodeAddFilter(demuxFilter(ifindex, fd, instance_, d.emulated), expectedId != 0), what);
    }
    std::optional<UniqueFd> expected;
    if (expectedId) {
      VFSTEER_ASSIGN_OR_RETURN(UniqueFd e, ports_.programs.programById(expectedId));
      expected.emplace(std::move(e));
    }
    return runOne(ports_.route,
                  lk::encodeSetXdp(ifindex, fd, offload, expected ? std::optional<int>(expected->get()) : std::nullopt),
                  what);
  };
  const uint32_t wasId = c.was ? std::get<DemuxProgram>(*c.was).progId : 0;
  if (c.op == Op::kRemove) {
    VFSTEER_TRY(attach(-1, d.progId));
    const DemuxProgram held = d;
    recordUndo("remove the NIC demux program", [this, held, attach]() -> Status {
      VFSTEER_ASSIGN_OR_RETURN(UniqueFd fd, ports_.programs.programById(held.progId));
      return attach(fd.get(), 0);
    });
    record(c);
    return okStatus();
  }
  auto refuse = [&](const Error& e) -> Status {
    if (!d.skipSwChain.empty()) {
      Error out = e;
      return out.addContext("chain " + d.skipSwChain + " is skip-sw and the NIC refused the demux program");
    }
    // The whole error: a load refusal's kernel text is the verifier log's
    // last line, which says little without the errno beside it.
    refusals.push_back({d.chains, e.describe(), "the NIC refused the demux program: " + e.describe()});
    return okStatus();
  };
  // The XDP offload slot holds one program; someone else's is left alone.
  if (d.hook == DemuxHook::kXdp)
    if (auto slot = model_.xdp.find(d.device); slot != model_.xdp.end() && slot->second.offloadProg != 0 &&
                                               slot->second.offloadProg != wasId)
      return refuse(Error(ErrorCode::kConflict, "the XDP offload slot of " + d.device + " holds program id " +
                                                    std::to_string(slot->second.offloadProg) +
                                                    ", which vfsteer did not attach; vfsteer leaves it alone"));
  auto loaded = ports_.programs.loadDemux(d.insns, d.hook, d.emulated ? 0 : ifindex);
  if (!loaded.ok()) return refuse(Error(loaded.error()).addContext("load the demux program for " + d.device));
  UniqueFd fd = std::move(*loaded);
  VFSTEER_ASSIGN_OR_RETURN(uint32_t progId, ports_.programs.programId(fd.get()));
  DemuxProgram loadedRecord = d;
  loadedRecord.progId = progId;
  loadedRecord.insns.clear();
  // An offloaded XDP program is vfsteer's only by its id: written down first.
  VFSTEER_TRY(journal_.intend([&](Journal& j) { j.demuxPrograms.push_back(loadedRecord); }));
  if (Status s = attach(fd.get(), wasId); !s.ok()) return refuse(s.error());
  // Put back what was there: the previous program, or nothing.
  auto restore = [this, attach, wasId, progId]() -> Status {
    if (!wasId) return attach(-1, progId);
    VFSTEER_ASSIGN_OR_RETURN(UniqueFd old, ports_.programs.programById(wasId));
    return attach(old.get(), progId);
  };
  // Accepted is not enough: the kernel must report it in hardware (or, when
  // emulated, in software).
  bool inPlace = false, inHw = false;
  if (d.hook == DemuxHook::kTc) {
    auto filters = ports_.route.dump(tc::encodeDumpFilters(ifindex, tc::kIngress, 0));
    if (filters.ok())
      for (const auto& raw : *filters) {
        auto f = tc::decodeFilter(raw);
        if (!f.ok() || f->handle != kDemuxFilterHandle) continue;
        const auto* b = std::get_if<tc::Bpf>(&f->spec);
        if (b && b->progId == progId && b->name == demuxFilterName(instance_)) {
          inPlace = true;
          inHw = f->inHw();
        }
      }
  } else {
    auto replies = requestOne(ports_.route, lk::encodeGetLink(ifindex));
    if (replies.ok() && !replies->empty()) {
      auto info = lk::decodeLink(replies->front());
      inPlace = inHw = info.ok() && info->xdpOffloadProgId == progId;
    }
  }
  if (!inPlace || !(inHw || d.emulated)) {
    Status undone = restore();
    Error e(ErrorCode::kNotSupported, "the kernel accepted the demux program on " + d.device +
                                          " but does not report it in hardware (not in_hw)");
    if (!undone.ok()) return Error(e.code(), e.describe() + "; putting back the previous state failed too: " + undone.error().describe());
    return refuse(e);
  }
  recordUndo("attach the NIC demux program", restore);
  record(c);
  // The model holds the program's real id.
  std::get<DemuxProgram>(model_.owned.at(c.key())).progId = progId;
  return okStatus();
}

// An ethtool flow rule: one ioctl, no batch, and no words from the driver
// (ixgbe and i40e log theirs in the kernel log). An insert replaces the rule
// at its location, so a replace is one write and its undo another.
Status Executor::runFlowRule(const Change& c, std::vector<Refusal>& refusals) {
  const auto& r = std::get<FlowRule>(c.object);
  if (!ports_.ethtool) return Error(ErrorCode::kInternal, "no ethtool port to " + c.describe());
  EthtoolPort& ethtool = *ports_.ethtool;
  const std::string device = r.device;
  if (c.op == Op::kRemove) {
    Status s = deleteFlowRule(ethtool, device, r.rule.location);
    if (!s.ok()) return withContext(s.error(), c.describe());
    recordUndo(c.describe(), [&ethtool, device, held = r.rule] { return ethtool.insertFlowRule(device, held); });
    record(c);
    return okStatus();
  }
  // The rule is vfsteer's from before the write: if the apply dies right
  // after, the next run finds it as its own.
  VFSTEER_TRY(journal_.intend(
      [&](Journal& j) { j.flowRules[device][r.rule.location].insert(netlink::rxnfc::ethtoolArgs(r.rule)); }));
  if (Status s = ethtool.insertFlowRule(device, r.rule); !s.ok()) {
    const Error& e = s.error();
    // ixgbe and i40e take flow rules only with ntuple filtering on; i40e
    // also answers EOPNOTSUPP for a mask it cannot make.
    const std::string words =
        std::string(std::strerror(e.errnum())) +
        (e.errnum() == EOPNOTSUPP
             ? " (ntuple filtering off, ethtool -K " + device + " ntuple on, or a match the driver cannot make; "
               "the kernel log says which)"
             : " (ethtool carries no message; the driver logs its reason in the kernel log)");
    if (refusable(c)) {
      refusals.push_back({{r.chain}, words, "the NIC refused its flow rule: " + words});
      return okStatus();
    }
    Error failed = withContext(e, c.describe());
    return failed.addContext("chain " + r.chain + " is skip-sw and the NIC refused its flow rule");
  }
  if (c.op == Op::kReplace)
    recordUndo(c.describe(), [&ethtool, device, was = std::get<FlowRule>(*c.was).rule] {
      return ethtool.insertFlowRule(device, was);
    });
  else
    recordUndo(c.describe(), [&ethtool, device, location = r.rule.location] {
      return deleteFlowRule(ethtool, device, location);
    });
  record(c);
  return okStatus();
}

Status Executor::runSingle(const Change& c, std::vector<Refusal>& refusals) {
  DatapathPort& dp = ports_.datapath;
  switch (c.key().kind) {
    case Kind::kDatapath:
      if (c.op == Op::kRemove) {
        VFSTEER_TRY(dp.destroy());
      } else {
        VFSTEER_TRY(dp.create());
        recordUndo("load the host datapath", [&dp] { return dp.destroy(); });
      }
      record(c);
      // The model knows the real program ids from now on.
      model_.datapath = {dp.present(), dp.ingressProgId(), dp.continueProgId(), dp.xdpProgId(), dp.activeGeneration()};
      return okStatus();
    case Kind::kUserProgram: {
      const auto& p = std::get<UserProgram>(c.object);
      if (c.op == Op::kRemove) {
        VFSTEER_TRY(dp.unloadUserProgram(p.slot));
      } else {
        VFSTEER_TRY(dp.loadUserProgram({p.slot, p.object, p.program}));
        recordUndo("load bpf program " + p.program, [&dp, slot = p.slot] { return dp.unloadUserProgram(slot); });
      }
      record(c);
      return okStatus();
    }
    case Kind::kTunnelDevice: return runTunnelDevice(c);
    case Kind::kHostTables: return runHostTables(c);
    case Kind::kDemuxProgram: return runDemuxProgram(c, refusals);
    case Kind::kFlowRule: return runFlowRule(c, refusals);
    default: return Error(ErrorCode::kInternal, "no way to run " + c.describe());
  }
}

Result<std::vector<Refusal>> Executor::run(const ChangeSet& set) {
  std::vector<Refusal> refusals;
  const auto& changes = set.changes;
  size_t i = 0;
  while (i < changes.size() && changes[i].phase != Phase::kAfterCommit) {
    const Phase phase = changes[i].phase;
    // One phase: netlink changes in batches, the rest one by one.
    while (i < changes.size() && changes[i].phase == phase) {
      if (!isNetlink(changes[i].key().kind)) {
        VFSTEER_TRY(runSingle(changes[i], refusals));
        ++i;
        continue;
      }
      std::vector<const Change*> batch;
      while (i < changes.size() && changes[i].phase == phase && isNetlink(changes[i].key().kind))
        batch.push_back(&changes[i++]);
      VFSTEER_TRY(runNetlink(batch, refusals));
    }
    if (!refusals.empty()) break;
  }
  return refusals;
}

Status Executor::runDevice(const std::vector<DeviceChange>& changes, ProvisionPorts& ports) {
  for (const auto& change : changes) {
    const std::string what = describe(change);
    VFSTEER_TRY(applyDeviceChange(change, ports));
    // The ports by value: the caller's ProvisionPorts is gone by the time
    // a later step fails and the undo runs (the ports it names live on).
    recordUndo(what, [change, ports]() mutable { return applyDeviceChange(change, ports, /*undo=*/true); });
    deviceDone_.push_back(what);
  }
  return okStatus();
}

Status Executor::sendUndos(std::vector<Undo>& batch, std::vector<std::string>& leftovers) {
  if (batch.empty()) return okStatus();
  std::vector<UniqueFd> keepOpen;
  std::vector<netlink::Message> messages;
  std::vector<const Undo*> sent;
  for (const auto& u : batch) {
    auto m = encode(*u.change, keepOpen);
    if (!m.ok()) {
      leftovers.push_back(u.what + " (" + m.error().describe() + ")");
      continue;
    }
    if (!*m) continue;
    messages.push_back(std::move(**m));
    sent.push_back(&u);
  }
  std::vector<const Change*> changes;
  for (const auto* u : sent) changes.push_back(&*u->change);
  auto outcomes = transact(std::move(messages), changes);
  if (!outcomes.ok()) {
    for (const auto* u : sent) leftovers.push_back(u->what + " (" + outcomes.error().describe() + ")");
  } else {
    for (size_t i = 0; i < sent.size(); ++i) {
      const auto& s = (*outcomes)[i].status;
      if (s.ok() || (sent[i]->change->op == Op::kRemove && s.error().code() == ErrorCode::kNotFound)) continue;
      leftovers.push_back(sent[i]->what + " (" + s.error().describe() + ")");
    }
  }
  batch.clear();
  return okStatus();
}

// A u32 table whose last link went just before (in the batch before: tables
// are removed in phases of their own) is still in use for a moment: the
// kernel drops a link's hold on its table in deferred work, after an RCU
// grace period (cls_u32.c: u32_delete_key() queues the work that runs
// __u32_destroy_key()), and until then refuses the table's removal with
// EBUSY ("Can not delete in-use filter"). Such removals are sent again,
// waiting a little longer each time (about 4 s in all).
Result<std::vector<netlink::RequestOutcome>> Executor::transact(std::vector<netlink::Message> messages,
                                                                const std::vector<const Change*>& changes) {
  std::map<size_t, netlink::Message> tableRemovals;
  for (size_t i = 0; i < changes.size(); ++i)
    if (changes[i]->op == Op::kRemove && changes[i]->key().kind == Kind::kU32Table)
      tableRemovals.emplace(i, messages[i]);
  VFSTEER_ASSIGN_OR_RETURN(auto outcomes, ports_.route.transact(std::move(messages)));
  for (auto& [i, message] : tableRemovals) {
    for (int attempt = 0; attempt < 12; ++attempt) {
      const Status& s = outcomes.at(i).status;
      if (s.ok() || s.error().code() != ErrorCode::kRetryable) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1 << attempt));
      VFSTEER_ASSIGN_OR_RETURN(auto again, ports_.route.transact({message}));
      outcomes.at(i) = std::move(again.at(0));
    }
  }
  return outcomes;
}

std::vector<std::string> Executor::rollback() {
  std::vector<std::string> leftovers;
  std::vector<Undo> batch;
  for (auto it = undos_.rbegin(); it != undos_.rend(); ++it) {
    if (it->change) {
      batch.push_back(std::move(*it));
      continue;
    }
    (void)sendUndos(batch, leftovers);
    Status s = it->fn();
    if (!s.ok()) leftovers.push_back(it->what + " (" + s.error().describe() + ")");
  }
  (void)sendUndos(batch, leftovers);
  undos_.clear();
  return leftovers;
}

void Executor::commit() { undos_.clear(); }

std::vector<Warning> Executor::finish(const ChangeSet& set) {
  std::vector<Warning> warnings;
  if (replacedGeneration_) {
    if (Status s = ports_.datapath.clearGeneration(*replacedGeneration_); !s.ok())
      warnings.push_back({"clear generation " + std::to_string(*replacedGeneration_), s.error()});
    replacedGeneration_.reset();
  }
  std::vector<Refusal> none;
  for (const auto& c : set.changes) {
    if (c.phase != Phase::kAfterCommit) continue;
    Status s = isNetlink(c.key().kind) ? runNetlink({&c}, none) : runSingle(c, none);
    if (!s.ok()) warnings.push_back({c.describe(), s.error()});
  }
  undos_.clear();  // nothing after the commit is undone
  return warnings;
}

}  // namespace vfsteer::engine
