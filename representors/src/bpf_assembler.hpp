// A small BPF assembler for the programs vfsteer generates (the NIC demux,
// bpf_demux.cpp; a policy's host classifier, bpf_classifier.cpp): raw
// bpf_insn with forward jumps to labels, patched at the end. (The kernel's
// BPF_* instruction macros are not in the uapi.) Internal to representors.
#pragma once

#include <linux/bpf.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "vfsteer/common/result.hpp"

namespace vfsteer::representors::bpfasm {

using Label = size_t;

class Assembler {
 public:
  Label newLabel() {
    labels_.push_back(kUnbound);
    return labels_.size() - 1;
  }
  void bind(Label l) { labels_[l] = code_.size(); }

  void movImm(int dst, int32_t imm) { emit(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
  void movReg(int dst, int src) { emit(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
  void aluImm(int op, int dst, int32_t imm) { emit(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm); }
  void aluReg(int op, int dst, int src) { emit(BPF_ALU64 | op | BPF_X, dst, src, 0, 0); }
  void load(int size, int dst, int src, int16_t off) { emit(BPF_LDX | BPF_MEM | size, dst, src, off, 0); }
  void store(int size, int dst, int src, int16_t off) { emit(BPF_STX | BPF_MEM | size, dst, src, off, 0); }
  void storeImm(int size, int dst, int16_t off, int32_t imm) { emit(BPF_ST | BPF_MEM | size, dst, 0, off, imm); }
  // dst = the map with file descriptor `fd` (a two-instruction load).
  void loadMap(int dst, int fd) {
    emit(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd);
    emit(0, 0, 0, 0, 0);
  }
  void call(int32_t helper) { emit(BPF_JMP | BPF_CALL, 0, 0, 0, helper); }
  // 32-bit compares: every value the generated programs test fits in 32 bits.
  void jumpImm(int op, int dst, int32_t imm, Label to) { jump(BPF_JMP32 | op | BPF_K, dst, 0, imm, to); }
  void jumpImm64(int op, int dst, int32_t imm, Label to) { jump(BPF_JMP | op | BPF_K, dst, 0, imm, to); }
  void jumpReg(int op, int dst, int src, Label to) { jump(BPF_JMP | op | BPF_X, dst, src, 0, to); }
  void jumpAlways(Label to) { jump(BPF_JMP | BPF_JA, 0, 0, 0, to); }
  void exit() { emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

  std::vector<bpf_insn> finish() {
    for (const auto& [at, label] : fixups_)
      code_[at].off = static_cast<int16_t>(static_cast<long>(labels_[label]) - static_cast<long>(at) - 1);
    return std::move(code_);
  }

 private:
  static constexpr size_t kUnbound = ~size_t{0};
  void emit(int code, int dst, int src, int16_t off, int32_t imm) {
    bpf_insn i{};
    i.code = static_cast<uint8_t>(code);
    i.dst_reg = static_cast<uint8_t>(dst) & 0xf;
    i.src_reg = static_cast<uint8_t>(src) & 0xf;
    i.off = off;
    i.imm = imm;
    code_.push_back(i);
  }
  void jump(int code, int dst, int src, int32_t imm, Label to) {
    fixups_.emplace_back(code_.size(), to);
    emit(code, dst, src, 0, imm);
  }
  std::vector<bpf_insn> code_;
  std::vector<size_t> labels_;
  std::vector<std::pair<size_t, Label>> fixups_;
};

// Loads generated instructions. On a refusal the error carries the
// verifier's reason (its last line before the statistics); `what` names
// the program ("the demux program").
struct LoadOptions {
  bpf_prog_type type = BPF_PROG_TYPE_SCHED_CLS;
  bpf_attach_type expectedAttach = static_cast<bpf_attach_type>(0);
  const char* name = "vfsteer";
  int offloadIfindex = 0;  // bound to that NIC unless 0
};
Result<int> loadProgram(const std::vector<bpf_insn>& insns, const LoadOptions& o, const std::string& what);

}  // namespace vfsteer::representors::bpfasm
