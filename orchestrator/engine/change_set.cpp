#include "engine/change_set.hpp"

#include <algorithm>
#include <cstdio>

#include "engine/flower_rules.hpp"

namespace vfsteer::engine {

namespace tc = netlink::tc;

std::string_view name(Phase phase) {
  switch (phase) {
    case Phase::kMakeRoom: return "make room";
    case Phase::kMakeRoomTables: return "make room (u32 tables)";
    case Phase::kPrepare: return "prepare";
    case Phase::kNicStandalone: return "NIC rules that end in the NIC";
    case Phase::kHostTables: return "host tables";
    case Phase::kHostEntries: return "host entries";
    case Phase::kXdpEntries: return "XDP entries";
    case Phase::kNicToHost: return "NIC rules that hand over to the host";
    case Phase::kRetireNic: return "retire NIC rules";
    case Phase::kRetireTables: return "retire u32 tables";
    case Phase::kRetireXdp: return "retire XDP entries";
    case Phase::kRetireEntries: return "retire host entries";
    case Phase::kRetireQdiscs: return "retire qdiscs";
    case Phase::kAfterCommit: return "after commit";
  }
  return "?";
}

namespace {

std::string verb(Op op, const char* add, const char* replace, const char* remove) {
  return op == Op::kAdd ? add : op == Op::kReplace ? replace : remove;
}

std::string placement(const tc::Filter& f) {
  const uint32_t flags = f.flags();
  return "tc priority " + std::to_string(f.priority) +
         (flags & tc::kSkipHw   ? ", skip_hw: emulating the NIC"
          : flags & tc::kSkipSw ? ", skip_sw"
                                : ", for the NIC and, as a tunnel device takes no skip_sw, in software");
}

struct Describe {
  Op op;
  std::string operator()(const Datapath&) const {
    return verb(op, "load the host datapath", "reload the host datapath", "unload the host datapath");
  }
  std::string operator()(const UserProgram& p) const {
    if (op == Op::kRemove) return "unload the bpf program in slot " + std::to_string(p.slot);
    return "load bpf program " + p.program + " from " + p.object + " into slot " + std::to_string(p.slot);
  }
  std::string operator()(const TunnelDevice& t) const {
    if (op == Op::kRemove) return "delete tunnel device " + t.name;
    return "create tunnel device " + t.name + " (" + (t.kind == netlink::link::TunnelKind::kVxlan ? "vxlan" : "geneve") +
           " port " + std::to_string(t.port) + ", external)";
  }
  std::string operator()(const Clsact& c) const {
    return op == Op::kRemove ? "remove the clsact vfsteer added on " + c.device : "add clsact on " + c.device;
  }
  std::string operator()(const U32Table& t) const {
    return verb(op, "add", "replace", "remove") + " u32 table " + tc::u32HandleName(t.filter.handle) + " on " + t.device +
           " (tc priority " + std::to_string(t.filter.priority) + ")";
  }
  std::string operator()(const U32Link& l) const {
    const auto& u = std::get<tc::U32>(l.filter.spec);
    return verb(op, "add", "replace", "remove") + " the u32 link " + tc::u32HandleName(l.filter.handle) + " into table " +
           tc::u32HandleName(u.link.value_or(0)) + " on " + l.device + " (" + placement(l.filter) + ")";
  }
  std::string operator()(const HostTables& h) const {
    const auto chains = std::count_if(h.tables.chains.begin(), h.tables.chains.end(),
                                      [](const vfs_chain& c) { return c.nstages > 0; });
    return "switch the host tables to " + std::to_string(chains) + " chains, " + std::to_string(h.tables.rules.size()) +
           " rules, " + std::to_string(h.tables.tuples.size()) + " match shapes" +
           (h.tables.classifier == representors::HostTables::Classifier::kSpecialized
                ? ", classified by code made for them"
                : "");
  }
  std::string operator()(const NicRule& r) const {
    if (op == Op::kRemove)
      return "remove the NIC rule at tc priority " + std::to_string(r.filter.priority) + " on " + r.device;
    return verb(op, "add", "replace", "") + " the NIC rule of chain " + r.chain + " on " + r.device + " (" +
           placement(r.filter) + ")";
  }
  std::string operator()(const FlowRule& r) const {
    const std::string loc = std::to_string(r.rule.location);
    if (op == Op::kRemove) return "delete the flow rule at location " + loc + " on " + r.device;
    return verb(op, "insert", "replace", "") + " the flow rule of chain " + r.chain + " on " + r.device +
           " (ethtool -N " + r.device + " " + netlink::rxnfc::ethtoolArgs(r.rule) + ")";
  }
  std::string operator()(const DemuxProgram& d) const {
    const std::string where = std::string(hookName(d.hook)) + " on " + d.device;
    if (op == Op::kRemove) return "remove the NIC demux program (" + where + ")";
    std::string how = d.emulated ? "in software and attach it on " + d.device +
                                       " tc ingress (cls_bpf skip_hw, emulating the NIC)"
                      : d.hook == representors::DemuxHook::kTc
                          ? "offloaded to " + d.device + " and attach it on tc ingress (cls_bpf skip_sw)"
                          : "offloaded to " + d.device + " and attach it in XDP offload mode";
    return "load the NIC demux program (" + std::to_string(d.rules) + " rules, " + std::to_string(d.insns.size()) +
           " instructions) " + how;
  }
  std::string operator()(const HostEntry& e) const {
    return verb(op, "attach the host datapath to ", "re-attach the host datapath to ", "detach the host datapath from ") +
           e.device + (op == Op::kRemove ? "" : " ingress");
  }
  std::string operator()(const Continuation& c) const {
    if (op == Op::kRemove)
      return "remove the continuation entry in tc chain " + std::to_string(c.tcChain) + " on " + c.device;
    return "enter the host datapath from tc chain " + std::to_string(c.tcChain) + " on " + c.device +
           " (chain id " + std::to_string(c.chainId) + " resumes at stage " + std::to_string(c.startStage) + ")";
  }
  std::string operator()(const XdpEntry& x) const {
    const std::string what = std::string("XDP entry (") + std::string(policies::name(x.mode)) +
                             (x.rxMetadata ? ", reading RX metadata" : "") + ")";
    return op == Op::kRemove ? "remove the " + what + " from " + x.device : "attach the " + what + " on " + x.device;
  }
};

// Program ids the model hands out: far above what a kernel assigns in a
// machine's lifetime, and distinct.
uint32_t freshId(ObservedState& model) { return ++model.lastModelId; }

}  // namespace

std::string Change::describe() const { return std::visit(Describe{op}, object); }

bool ChangeSet::changesKernelBeforeCommit() const {
  return std::any_of(changes.begin(), changes.end(), [](const Change& c) { return c.phase != Phase::kAfterCommit; });
}

void applyToModel(ObservedState& model, const Change& change) {
  const Key key = change.key();
  if (change.op == Op::kRemove) {
    model.owned.erase(key);
    if (key.kind == Kind::kDatapath) {
      model.datapath = {};
      model.userProgramSlots.clear();
      std::erase_if(model.owned, [](const auto& kv) {
        return kv.first.kind == Kind::kHostTables || kv.first.kind == Kind::kUserProgram;
      });
    }
    if (key.kind == Kind::kUserProgram) model.userProgramSlots.erase(key.index);
    if (key.kind == Kind::kTunnelDevice) model.ifindex.erase(key.device);
    return;
  }
  Object held = change.object;
  std::visit(
      [&](auto& o) {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, Datapath>) {
          model.datapath = {true, freshId(model), freshId(model), freshId(model), 0};
        } else if constexpr (std::is_same_v<T, UserProgram>) {
          model.userProgramSlots.insert(o.slot);
        } else if constexpr (std::is_same_v<T, TunnelDevice>) {
          model.foreignTunnelDevices.erase(o.name);
          if (!model.ifindex.contains(o.name)) model.ifindex[o.name] = IfIndex{static_cast<int>(freshId(model) & 0xffffff)};
        } else if constexpr (std::is_same_v<T, Clsact>) {
          model.foreignClsact.erase(o.device);
        } else if constexpr (std::is_same_v<T, HostTables>) {
          o.freshChainIds.clear();
          model.datapath.activeGeneration ^= 1;
        } else if constexpr (std::is_same_v<T, NicRule>) {
          // The kernel reports a rule for the NIC it kept as in hardware.
          if (meantForNic(o.filter)) markInHw(o.filter, true);
        } else if constexpr (std::is_same_v<T, U32Link>) {
          if (meantForNic(o.filter)) markInHw(o.filter, true);
        } else if constexpr (std::is_same_v<T, DemuxProgram>) {
          o.progId = freshId(model);
          o.inHw = !o.emulated;
          o.insns.clear();
        } else if constexpr (std::is_same_v<T, HostEntry>) {
          o.progId = model.datapath.ingressProgId;
        } else if constexpr (std::is_same_v<T, Continuation>) {
          o.progId = model.datapath.continueProgId;
        } else if constexpr (std::is_same_v<T, XdpEntry>) {
          // A port's own vfs_xdp_rx is a program of its own: executing it
          // gives the real id (Executor::runNetlink).
          if (o.progId == 0) o.progId = o.rxMetadata ? freshId(model) : model.datapath.xdpProgId;
        }
      },
      held);
  model.owned.insert_or_assign(key, std::move(held));
}

Change inverse(const Change& change) {
  Change undo;
  undo.phase = change.phase;
  switch (change.op) {
    case Op::kAdd:
      undo.op = Op::kRemove;
      undo.object = change.object;
      break;
    case Op::kRemove:
      undo.op = Op::kAdd;
      undo.object = change.object;
      break;
    case Op::kReplace:
      undo.op = Op::kReplace;
      undo.object = *change.was;
      undo.was = change.object;
      break;
  }
  return undo;
}

}  // namespace vfsteer::engine
