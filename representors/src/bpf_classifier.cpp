#include "vfsteer/representors/bpf_classifier.hpp"

#include <linux/pkt_cls.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <set>

#include "bpf_assembler.hpp"

namespace vfsteer::representors {

namespace {

using bpfasm::Assembler;
using bpfasm::Label;

// Registers: r6 the context, r7 the scratch, r8 has_inner, r9 the word a
// binary search tests (in a chain's code: its counters); r0-r4 scratch.
constexpr int R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R6 = 6, R7 = 7, R8 = 8, R9 = 9, R10 = 10;
constexpr size_t kKeyWords = sizeof(vfs_key) / 4;
static_assert(sizeof(vfs_key) % 4 == 0);

int16_t at(size_t offset) { return static_cast<int16_t>(offset); }

std::array<uint32_t, kKeyWords> wordsOf(const vfs_key& k) {
  std::array<uint32_t, kKeyWords> w{};
  std::memcpy(w.data(), &k, sizeof k);
  return w;
}

// Rules in the order the tables would prefer them: lowest priority first,
// ties to the lower tuple (classify() keeps the first tuple's on a tie; one
// tuple never holds two rules a frame can both match).
std::vector<const HostRule*> inPreferenceOrder(const HostTables& t) {
  std::vector<const HostRule*> out;
  for (const auto& r : t.rules) out.push_back(&r);
  std::stable_sort(out.begin(), out.end(), [](const HostRule* a, const HostRule* b) {
    if (a->rule.priority != b->rule.priority) return a->rule.priority < b->rule.priority;
    return a->tuple < b->tuple;
  });
  return out;
}

// Runs of rules shorter than this are tested one after the other; longer
// ones through a binary search on one key word (see emitRun).
constexpr size_t kLinearRun = 4;

// A stage the classifier's own code can run: constants and bpf_redirect,
// nothing that changes the frame's length. `last` when it ends the chain.
bool runsInline(const vfs_stage& st, DemuxHook hook, bool last) {
  switch (st.kind) {
    case VFS_ST_REDIRECT:
    case VFS_ST_DROP:
      return last;
    case VFS_ST_HOST:
    case VFS_ST_HOST_QUEUE:
      return last && hook == DemuxHook::kTc;
    case VFS_ST_MARK:
    case VFS_ST_QUEUE:
      return !last && hook == DemuxHook::kTc;
    default:
      return false;
  }
}

class Compiler {
 public:
  Compiler(const HostTables& t, DemuxHook hook, const ClassifierMaps& maps) : t_(t), hook_(hook), maps_(maps) {}

  std::vector<bpf_insn> compile() {
    Label fail = a_.newLabel();
    run_ = a_.newLabel();
    // r6 = ctx, r7 = &vfs_scratch[0] (this CPU's), r8 = has_inner.
    a_.movReg(R6, R1);
    lookup(maps_.scratch, 0, R7, fail);
    a_.load(BPF_B, R8, R7, at(offsetof(vfs_scratch, p.has_inner)));
    if (!emitRules()) setVerdict(VFS_HO_UNMATCHED, 0);
    a_.bind(run_);
    a_.movReg(R1, R6);
    a_.loadMap(R2, maps_.spec);
    a_.movImm(R3, VFS_SPEC_RUN);
    a_.call(BPF_FUNC_tail_call);
    // Only when the run entry is missing, which Datapath::create prevents.
    a_.bind(fail);
    a_.movImm(R0, hook_ == DemuxHook::kTc ? TC_ACT_OK : XDP_PASS);
    a_.exit();
    for (const auto& [slot, label] : inlineChains_) emitChain(t_.chains[slot], label);
    return a_.finish();
  }

 private:
  // The rules in preference order, as runs of one tuple's consecutive
  // rules. In a run at most one rule can match a frame (a tuple's rules are
  // distinct keys under one mask), so a run's rules may be tested in any
  // order. True when a rule takes every frame (nothing after it can run).
  bool emitRules() {
    const auto rules = inPreferenceOrder(t_);
    for (size_t begin = 0; begin < rules.size();) {
      size_t end = begin + 1;
      while (end < rules.size() && rules[end]->tuple == rules[begin]->tuple) ++end;
      if (rules[begin]->tuple >= t_.tuples.size()) return false;  // writeGeneration refuses such tables first
      const vfs_tuple& tuple = t_.tuples[rules[begin]->tuple];
      if (!tuple.inner && maskedWords(tuple).empty()) {
        // No key bits: its one rule takes every frame, and the verifier
        // refuses code that no path reaches.
        chooseChain(rules[begin]->rule.chain);
        return true;
      }
      Label miss = a_.newLabel();
      if (tuple.inner) a_.jumpImm(BPF_JEQ, R8, 0, miss);
      emitRun({rules.begin() + static_cast<long>(begin), rules.begin() + static_cast<long>(end)}, tuple, miss);
      a_.bind(miss);
      begin = end;
    }
    return false;
  }

  static std::vector<size_t> maskedWords(const vfs_tuple& tuple) {
    std::vector<size_t> out;
    const auto mask = wordsOf(tuple.mask);
    for (size_t w = 0; w < kKeyWords; ++w)
      if (mask[w] != 0) out.push_back(w);
    return out;
  }

  static size_t keyOffset(const vfs_tuple& tuple, size_t word) {
    return (tuple.inner ? offsetof(vfs_scratch, p.inner) : offsetof(vfs_scratch, p.outer)) + 4 * word;
  }

  // A long run: a binary search on the key word whose values tell its
  // rules apart best, then the few rules with the frame's value, one by one.
  void emitRun(const std::vector<const HostRule*>& rules, const vfs_tuple& tuple, Label miss) {
    const auto mask = wordsOf(tuple.mask);
    if (rules.size() < kLinearRun) {
      emitSequence(rules, tuple, miss);
      return;
    }
    size_t word = 0, most = 0;
    for (size_t w : maskedWords(tuple)) {
      std::set<uint32_t> values;
      for (const HostRule* r : rules) values.insert(wordsOf(r->masked)[w] & mask[w]);
      if (values.size() > most) most = values.size(), word = w;
    }
    std::map<uint32_t, std::vector<const HostRule*>> byValue;
    for (const HostRule* r : rules) byValue[wordsOf(r->masked)[word] & mask[word]].push_back(r);
    std::vector<std::pair<uint32_t, std::vector<const HostRule*>>> groups(byValue.begin(), byValue.end());
    a_.load(BPF_W, R9, R7, at(keyOffset(tuple, word)));
    if (mask[word] != 0xffffffffu) a_.aluImm(BPF_AND, R9, static_cast<int32_t>(mask[word]));
    emitSearch(groups, 0, groups.size(), tuple, miss);
  }

  void emitSearch(const std::vector<std::pair<uint32_t, std::vector<const HostRule*>>>& groups, size_t lo,
                  size_t hi, const vfs_tuple& tuple, Label miss) {
    if (hi - lo <= 2) {
      for (size_t g = lo; g < hi; ++g) {
        Label other = a_.newLabel();
        a_.jumpImm(BPF_JNE, R9, static_cast<int32_t>(groups[g].first), other);
        emitSequence(groups[g].second, tuple, miss);
        a_.bind(other);
      }
      a_.jumpAlways(miss);
      return;
    }
    const size_t mid = lo + (hi - lo) / 2;
    Label upper = a_.newLabel();
    a_.jumpImm(BPF_JGE, R9, static_cast<int32_t>(groups[mid].first), upper);
    emitSearch(groups, lo, mid, tuple, miss);
    a_.bind(upper);
    emitSearch(groups, mid, hi, tuple, miss);
  }

  // Each rule in turn: its key words against its constants; the first that
  // matches is the verdict, else on to `miss`.
  void emitSequence(const std::vector<const HostRule*>& rules, const vfs_tuple& tuple, Label miss) {
    const auto mask = wordsOf(tuple.mask);
    for (size_t i = 0; i < rules.size(); ++i) {
      Label next = i + 1 < rules.size() ? a_.newLabel() : miss;
      const auto value = wordsOf(rules[i]->masked);
      for (size_t w : maskedWords(tuple)) {
        a_.load(BPF_W, R0, R7, at(keyOffset(tuple, w)));
        if (mask[w] != 0xffffffffu) a_.aluImm(BPF_AND, R0, static_cast<int32_t>(mask[w]));
        a_.jumpImm(BPF_JNE, R0, static_cast<int32_t>(value[w] & mask[w]), next);
      }
      chooseChain(rules[i]->rule.chain);
      if (i + 1 < rules.size()) a_.bind(next);
    }
  }

  // Whether this classifier runs the chain in `slot` itself, instead of
  // handing it to vfs_run: every stage one runsInline() takes, and in XDP
  // only a chain marked for XDP (vfs_run_xdp passes the others to tc).
  bool inlines(uint32_t slot) const {
    if (slot >= t_.chains.size()) return false;
    const vfs_chain& c = t_.chains[slot];
    if (c.nstages == 0 || c.nstages > VFS_MAX_STAGES) return false;
    if (hook_ == DemuxHook::kXdp && !(c.flags & VFS_CHAIN_XDP)) return false;
    for (size_t i = 0; i < c.nstages; ++i)
      if (!runsInline(c.stages[i], hook_, i + 1 == c.nstages)) return false;
    return true;
  }

  // The verdict for the chain in `slot`, then on to that chain's code here
  // or to vfs_run. The verdict is left in the scratch either way: a chain's
  // code falls back to vfs_run when it cannot go on.
  void chooseChain(uint32_t slot) {
    setVerdict(VFS_HO_CHAIN, slot);
    if (!inlines(slot)) {
      a_.jumpAlways(run_);
      return;
    }
    auto [it, fresh] = inlineChains_.try_emplace(slot, 0);
    if (fresh) it->second = a_.newLabel();
    a_.jumpAlways(it->second);
  }

  // A chain's stages as run_chain()/xdp_run() run them, with its
  // constants: the chain's counters (vfs_chain_stats[id]), then each
  // stage's counters and action.
  void emitChain(const vfs_chain& c, Label start) {
    a_.bind(start);
    const bool tc = hook_ == DemuxHook::kTc;
    // A tag the NIC took off goes back in before an XDP chain: vfs_run_xdp's.
    if (!tc) {
      a_.load(BPF_W, R1, R7, at(offsetof(vfs_scratch, spec.accel)));
      a_.jumpImm(BPF_JNE, R1, 0, run_);
    }
    lookup(maps_.chainStats, c.id, R9, run_);
    // r3 = the frame's length as the datapath counts it (wire_len, xdp_len).
    if (tc) {
      Label untagged = a_.newLabel();
      a_.load(BPF_W, R3, R6, at(offsetof(__sk_buff, len)));
      a_.load(BPF_W, R4, R6, at(offsetof(__sk_buff, vlan_present)));
      a_.jumpImm(BPF_JEQ, R4, 0, untagged);
      a_.aluImm(BPF_ADD, R3, 4);
      a_.bind(untagged);
    } else {
      a_.load(BPF_W, R3, R6, at(offsetof(xdp_md, data_end)));
      a_.load(BPF_W, R4, R6, at(offsetof(xdp_md, data)));
      a_.aluReg(BPF_SUB, R3, R4);
    }
    addTo(offsetof(vfs_chain_stats, packets), -1);
    addTo(offsetof(vfs_chain_stats, bytes), R3);
    for (size_t i = 0; i < c.nstages; ++i) {
      const vfs_stage& st = c.stages[i];
      addTo(offsetof(vfs_chain_stats, stage_packets) + 8 * i, -1);
      addTo(offsetof(vfs_chain_stats, stage_bytes) + 8 * i, R3);
      switch (st.kind) {
        case VFS_ST_MARK:
          a_.movImm(R1, static_cast<int32_t>(st.u32));
          a_.store(BPF_W, R6, R1, at(offsetof(__sk_buff, mark)));
          break;
        case VFS_ST_QUEUE:
        case VFS_ST_HOST_QUEUE:
          a_.movImm(R1, st.u16);
          a_.store(BPF_W, R6, R1, at(offsetof(__sk_buff, queue_mapping)));
          if (st.kind == VFS_ST_HOST_QUEUE) exitWith(TC_ACT_OK);
          break;
        case VFS_ST_HOST:
          exitWith(TC_ACT_OK);
          break;
        case VFS_ST_DROP:
          exitWith(tc ? TC_ACT_SHOT : XDP_DROP);
          break;
        case VFS_ST_REDIRECT:
          a_.movImm(R1, static_cast<int32_t>(st.u32));
          a_.movImm(R2, 0);
          a_.call(BPF_FUNC_redirect);
          a_.exit();
          break;
        default:
          break;  // inlines() took only the kinds above
      }
    }
  }

  // reg = &map[key] (this CPU's, for a per-CPU map), or on to `missing`.
  void lookup(int mapFd, uint32_t key, int reg, Label missing) {
    a_.storeImm(BPF_W, R10, -4, static_cast<int32_t>(key));
    a_.movReg(R2, R10);
    a_.aluImm(BPF_ADD, R2, -4);
    a_.loadMap(R1, mapFd);
    a_.call(BPF_FUNC_map_lookup_elem);
    a_.jumpImm64(BPF_JEQ, R0, 0, missing);
    a_.movReg(reg, R0);
  }

  // *(u64 *)(r9 + offset) += reg, or += 1 for reg -1.
  void addTo(size_t offset, int reg) {
    a_.load(BPF_DW, R1, R9, at(offset));
    if (reg < 0)
      a_.aluImm(BPF_ADD, R1, 1);
    else
      a_.aluReg(BPF_ADD, R1, reg);
    a_.store(BPF_DW, R9, R1, at(offset));
  }

  void exitWith(int32_t verdict) {
    a_.movImm(R0, verdict);
    a_.exit();
  }

  void setVerdict(uint32_t verdict, uint32_t slot) {
    a_.storeImm(BPF_W, R7, at(offsetof(vfs_scratch, spec.verdict)), static_cast<int32_t>(verdict));
    a_.storeImm(BPF_W, R7, at(offsetof(vfs_scratch, spec.slot)), static_cast<int32_t>(slot));
  }

  const HostTables& t_;
  DemuxHook hook_;
  ClassifierMaps maps_;
  Assembler a_;
  Label run_ = 0;
  std::map<uint32_t, Label> inlineChains_;  // slot -> its code
};

}  // namespace

bool specializable(const HostTables& t) { return t.rules.size() <= kSpecializedMaxRules; }

std::vector<bpf_insn> compileClassifier(const HostTables& t, DemuxHook hook, const ClassifierMaps& maps) {
  return Compiler(t, hook, maps).compile();
}

Result<int> loadClassifier(const std::vector<bpf_insn>& insns, DemuxHook hook) {
  bpfasm::LoadOptions o;
  o.type = hook == DemuxHook::kTc ? BPF_PROG_TYPE_SCHED_CLS : BPF_PROG_TYPE_XDP;
  // As libbpf loads the entries that tail-call it: a program array takes
  // programs of its first user's type and attach type only.
  o.expectedAttach = hook == DemuxHook::kTc ? static_cast<bpf_attach_type>(0) : BPF_XDP;
  o.name = "vfs_classify";
  return bpfasm::loadProgram(insns, o, "the policy's classifier");
}

}  // namespace vfsteer::representors
