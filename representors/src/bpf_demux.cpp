#include "vfsteer/representors/bpf_demux.hpp"

#include "bpf_assembler.hpp"

#include <bpf/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <iomanip>
#include <sstream>

namespace vfsteer::representors {

namespace {

using bpfasm::Assembler;
using bpfasm::Label;

// ---------------------------------------------------------------------------
// The scratch area on the stack, filled by the parser, read by the rules.
// Values keep the packet's byte order: a 2- or 4-byte load from the packet
// stored as it is, compared with constants in the same order.

constexpr int16_t kScratch = -80;
constexpr int16_t kHave = kScratch + 0;       // u32: which parts were parsed
constexpr int16_t kEthertype = kScratch + 4;  // u16, after the tags
constexpr int16_t kDmac = kScratch + 8;       // u32 + u16
constexpr int16_t kSmac = kScratch + 16;      // u32 + u16
constexpr int16_t kTag0 = kScratch + 24;      // u16 tpid, u16 tci
constexpr int16_t kTag1 = kScratch + 28;
constexpr int16_t kIpProto = kScratch + 32;   // u8
constexpr int16_t kPorts = kScratch + 36;     // u16 source, u16 destination
constexpr int16_t kSrc4 = kScratch + 40;
constexpr int16_t kDst4 = kScratch + 44;
constexpr int16_t kSrc6 = kScratch + 48;      // 16 bytes
constexpr int16_t kDst6 = kScratch + 64;      // 16 bytes

constexpr int32_t kHaveEth = 1, kHaveTag0 = 2, kHaveTag1 = 4, kHaveIp4 = 8, kHaveIp6 = 16,
                  kHaveL4 = 32;

// Registers: r6 the packet cursor, r7 data_end, r8 the have-bits; r0, r1
// and r5 scratch; r10 the frame pointer.
constexpr int R0 = 0, R1 = 1, R5 = 5, R6 = 6, R7 = 7, R8 = 8, R10 = 10;

// A u16 as the packet holds it, read by a little-endian load.
int32_t wire16(uint16_t hostValue) { return static_cast<int32_t>(htons(hostValue)); }

// if (reg + need > data_end) goto fail;
void requireBytes(Assembler& a, int reg, int32_t need, Label fail) {
  a.movReg(R0, reg);
  a.aluImm(BPF_ADD, R0, need);
  a.jumpReg(BPF_JGT, R0, R7, fail);
}

void setHave(Assembler& a, int32_t bit) { a.aluImm(BPF_OR, R8, bit); }

// L4 ports at r6 when the protocol (in r5) carries them.
void parsePorts(Assembler& a, Label done) {
  Label ports = a.newLabel();
  a.jumpImm(BPF_JEQ, R5, IPPROTO_TCP, ports);
  a.jumpImm(BPF_JEQ, R5, IPPROTO_UDP, ports);
  a.jumpImm(BPF_JEQ, R5, IPPROTO_SCTP, ports);
  a.jumpAlways(done);
  a.bind(ports);
  requireBytes(a, R6, 4, done);
  a.load(BPF_W, R0, R6, 0);
  a.store(BPF_W, R10, R0, kPorts);
  setHave(a, kHaveL4);
}

void parse(Assembler& a, DemuxHook hook, Label parsed) {
  // Context: the packet's bounds.
  const int16_t dataOff = hook == DemuxHook::kTc ? offsetof(__sk_buff, data) : offsetof(xdp_md, data);
  const int16_t endOff = hook == DemuxHook::kTc ? offsetof(__sk_buff, data_end) : offsetof(xdp_md, data_end);
  a.load(BPF_W, R6, R1, dataOff);
  a.load(BPF_W, R7, R1, endOff);
  a.movImm(R8, 0);
  a.movImm(R0, 0);
  for (int16_t off = kScratch; off < 0; off += 8) a.store(BPF_DW, R10, R0, off);

  // Ethernet.
  requireBytes(a, R6, ETH_HLEN, parsed);
  a.load(BPF_W, R0, R6, 0);
  a.store(BPF_W, R10, R0, kDmac);
  a.load(BPF_H, R0, R6, 4);
  a.store(BPF_H, R10, R0, kDmac + 4);
  a.load(BPF_W, R0, R6, 6);
  a.store(BPF_W, R10, R0, kSmac);
  a.load(BPF_H, R0, R6, 10);
  a.store(BPF_H, R10, R0, kSmac + 4);
  a.load(BPF_H, R5, R6, 12);
  a.aluImm(BPF_ADD, R6, ETH_HLEN);
  setHave(a, kHaveEth);

  // Up to two VLAN tags in the packet (r5 holds the next ethertype).
  const int16_t tagSlots[] = {kTag0, kTag1};
  const int32_t tagBits[] = {kHaveTag0, kHaveTag1};
  Label tagsDone = a.newLabel();
  for (int i = 0; i < 2; ++i) {
    Label tagged = a.newLabel();
    a.jumpImm(BPF_JEQ, R5, wire16(ETH_P_8021Q), tagged);
    a.jumpImm(BPF_JEQ, R5, wire16(ETH_P_8021AD), tagged);
    a.jumpAlways(tagsDone);
    a.bind(tagged);
    // Truncated inside a tag: the frame keeps what was parsed so far, and
    // no ethertype, so no rule that looks further can match.
    requireBytes(a, R6, 4, parsed);
    a.store(BPF_H, R10, R5, tagSlots[i]);
    a.load(BPF_H, R0, R6, 0);
    a.store(BPF_H, R10, R0, tagSlots[i] + 2);
    a.load(BPF_H, R5, R6, 2);
    a.aluImm(BPF_ADD, R6, 4);
    setHave(a, tagBits[i]);
  }
  a.bind(tagsDone);
  a.store(BPF_H, R10, R5, kEthertype);

  Label ip6 = a.newLabel();
  a.jumpImm(BPF_JEQ, R5, wire16(ETH_P_IPV6), ip6);
  a.jumpImm(BPF_JNE, R5, wire16(ETH_P_IP), parsed);

  // IPv4: 20 bytes at least, then the options the header length gives.
  requireBytes(a, R6, 20, parsed);
  a.load(BPF_B, R0, R6, 0);
  a.aluImm(BPF_AND, R0, 0x0f);
  a.jumpImm(BPF_JLT, R0, 5, parsed);
  a.load(BPF_B, R5, R6, 9);
  a.store(BPF_B, R10, R5, kIpProto);
  a.load(BPF_W, R1, R6, 12);
  a.store(BPF_W, R10, R1, kSrc4);
  a.load(BPF_W, R1, R6, 16);
  a.store(BPF_W, R10, R1, kDst4);
  setHave(a, kHaveIp4);
  // A fragment after the first carries no ports.
  a.load(BPF_H, R1, R6, 6);
  a.aluImm(BPF_AND, R1, wire16(0x1fff));
  a.jumpImm(BPF_JNE, R1, 0, parsed);
  a.aluImm(BPF_LSH, R0, 2);
  a.aluReg(BPF_ADD, R6, R0);
  parsePorts(a, parsed);
  a.jumpAlways(parsed);

  // IPv6: the fixed header, then up to three hop-by-hop, routing or
  // destination options headers ((length + 1) * 8 bytes each).
  a.bind(ip6);
  requireBytes(a, R6, 40, parsed);
  a.load(BPF_B, R5, R6, 6);
  for (int i = 0; i < 4; ++i) {
    a.load(BPF_W, R0, R6, static_cast<int16_t>(8 + 4 * i));
    a.store(BPF_W, R10, R0, static_cast<int16_t>(kSrc6 + 4 * i));
    a.load(BPF_W, R0, R6, static_cast<int16_t>(24 + 4 * i));
    a.store(BPF_W, R10, R0, static_cast<int16_t>(kDst6 + 4 * i));
  }
  setHave(a, kHaveIp6);
  a.aluImm(BPF_ADD, R6, 40);
  Label final = a.newLabel();
  for (int i = 0; i < 3; ++i) {
    Label ext = a.newLabel();
    a.jumpImm(BPF_JEQ, R5, IPPROTO_HOPOPTS, ext);
    a.jumpImm(BPF_JEQ, R5, IPPROTO_ROUTING, ext);
    a.jumpImm(BPF_JEQ, R5, IPPROTO_DSTOPTS, ext);
    a.jumpAlways(final);
    a.bind(ext);
    requireBytes(a, R6, 8, parsed);  // protocol unknown: no rule with ip_proto matches
    a.load(BPF_B, R5, R6, 0);
    a.load(BPF_B, R0, R6, 1);
    a.aluImm(BPF_ADD, R0, 1);
    a.aluImm(BPF_LSH, R0, 3);
    a.aluReg(BPF_ADD, R6, R0);
  }
  // Still an extension header after three: the protocol stays unknown.
  a.jumpImm(BPF_JEQ, R5, IPPROTO_HOPOPTS, parsed);
  a.jumpImm(BPF_JEQ, R5, IPPROTO_ROUTING, parsed);
  a.jumpImm(BPF_JEQ, R5, IPPROTO_DSTOPTS, parsed);
  a.bind(final);
  a.store(BPF_B, R10, R5, kIpProto);
  // Fragments: the protocol is "fragment", and no ports.
  parsePorts(a, parsed);
  a.jumpAlways(parsed);
}

// The rule tests: each jumps to `next` on a mismatch.
void requireHave(Assembler& a, int32_t bits, Label next) {
  if (bits == 0) return;
  a.load(BPF_W, R0, R10, kHave);
  a.aluImm(BPF_AND, R0, bits);
  a.jumpImm(BPF_JNE, R0, bits, next);
}

void compareMasked(Assembler& a, int size, int16_t slot, uint32_t value, uint32_t mask, Label next) {
  if (mask == 0) return;
  a.load(size, R0, R10, slot);
  const uint32_t full = size == BPF_W ? 0xffffffffu : size == BPF_H ? 0xffffu : 0xffu;
  if ((mask & full) != full) a.aluImm(BPF_AND, R0, static_cast<int32_t>(mask));
  a.jumpImm(BPF_JNE, R0, static_cast<int32_t>(value & mask), next);
}

// Bytes [at, at + n) of an address as a little-endian load sees them.
uint32_t loadWord(const uint8_t* bytes, size_t n) {
  uint32_t v = 0;
  std::memcpy(&v, bytes, n);
  return v;
}

void compareBytes(Assembler& a, int16_t slot, const uint8_t* value, const uint8_t* mask, size_t n,
                  Label next) {
  for (size_t at = 0; at < n;) {
    const size_t chunk = n - at >= 4 ? 4 : 2;
    const int size = chunk == 4 ? BPF_W : BPF_H;
    compareMasked(a, size, static_cast<int16_t>(slot + at), loadWord(value + at, chunk),
                  loadWord(mask + at, chunk), next);
    at += chunk;
  }
}

void compareTag(Assembler& a, int16_t slot, const DemuxRule::Tag& tag, Label next) {
  compareMasked(a, BPF_H, slot, tag.tpid, 0xffff, next);
  compareMasked(a, BPF_H, static_cast<int16_t>(slot + 2), tag.tci, tag.tciMask, next);
}

// True when the rule tests nothing: it takes every packet, and the rules
// after it can never run.
bool unconditional(const DemuxRule& r) {
  return !r.dmac && !r.smac && !r.outer && !r.inner && !r.untagged && !r.ethertype && !r.src4 && !r.dst4 &&
         !r.src6 && !r.dst6 && !r.ipProto && !r.sport && !r.dport;
}

void emitRule(Assembler& a, const DemuxRule& r, int32_t verdict) {
  Label next = a.newLabel();
  int32_t need = 0;
  if (r.dmac || r.smac || r.ethertype) need |= kHaveEth;
  if (r.outer) need |= kHaveTag0;
  if (r.inner) need |= kHaveTag1;
  if (r.src4 || r.dst4) need |= kHaveIp4;
  if (r.src6 || r.dst6) need |= kHaveIp6;
  if (r.sport || r.dport) need |= kHaveL4;
  if (r.ipProto && !(need & (kHaveIp4 | kHaveIp6))) {
    // ip_proto alone: either IP version, which the ethertype test narrows.
    Label ipKnown = a.newLabel();
    a.load(BPF_W, R0, R10, kHave);
    a.jumpImm(BPF_JSET, R0, kHaveIp4 | kHaveIp6, ipKnown);
    a.jumpAlways(next);
    a.bind(ipKnown);
  }
  requireHave(a, need, next);
  if (r.untagged) {
    a.load(BPF_W, R0, R10, kHave);
    a.jumpImm(BPF_JSET, R0, kHaveTag0, next);
  }
  if (r.dmac) compareBytes(a, kDmac, r.dmac->value.data(), r.dmac->mask.data(), 6, next);
  if (r.smac) compareBytes(a, kSmac, r.smac->value.data(), r.smac->mask.data(), 6, next);
  if (r.outer) compareTag(a, kTag0, *r.outer, next);
  if (r.inner) compareTag(a, kTag1, *r.inner, next);
  if (r.ethertype) compareMasked(a, BPF_H, kEthertype, *r.ethertype, 0xffff, next);
  if (r.src4) compareMasked(a, BPF_W, kSrc4, r.src4->first, r.src4->second, next);
  if (r.dst4) compareMasked(a, BPF_W, kDst4, r.dst4->first, r.dst4->second, next);
  if (r.src6) compareBytes(a, kSrc6, r.src6->first.data(), r.src6->second.data(), 16, next);
  if (r.dst6) compareBytes(a, kDst6, r.dst6->first.data(), r.dst6->second.data(), 16, next);
  if (r.ipProto) compareMasked(a, BPF_B, kIpProto, *r.ipProto, 0xff, next);
  if (r.sport) compareMasked(a, BPF_H, kPorts, *r.sport, 0xffff, next);
  if (r.dport) compareMasked(a, BPF_H, kPorts + 2, *r.dport, 0xffff, next);
  a.movImm(R0, verdict);
  a.exit();
  a.bind(next);
}

int32_t dropVerdict(DemuxHook hook) { return hook == DemuxHook::kTc ? TC_ACT_SHOT : XDP_DROP; }
// TC_ACT_UNSPEC: the filter has no opinion and the packet goes on to the
// host's own filters (the host datapath), unchanged.
int32_t passVerdict(DemuxHook hook) { return hook == DemuxHook::kTc ? TC_ACT_UNSPEC : XDP_PASS; }

}  // namespace

std::vector<bpf_insn> compileDemux(const std::vector<DemuxRule>& rules, DemuxHook hook) {
  Assembler a;
  Label parsed = a.newLabel();
  parse(a, hook, parsed);
  a.bind(parsed);
  a.store(BPF_W, R10, R8, kHave);
  for (const DemuxRule& r : rules) {
    emitRule(a, r, r.drop ? dropVerdict(hook) : passVerdict(hook));
    // The verifier refuses code no path reaches.
    if (unconditional(r)) return a.finish();
  }
  a.movImm(R0, passVerdict(hook));
  a.exit();
  return a.finish();
}

Result<int> loadDemux(const std::vector<bpf_insn>& insns, DemuxHook hook, int offloadIfindex) {
  bpfasm::LoadOptions o;
  o.type = hook == DemuxHook::kTc ? BPF_PROG_TYPE_SCHED_CLS : BPF_PROG_TYPE_XDP;
  o.name = "vfsteer_demux";
  o.offloadIfindex = offloadIfindex;
  return bpfasm::loadProgram(insns, o, offloadIfindex ? "the demux program for offload" : "the demux program");
}

std::string demuxFingerprint(const std::vector<bpf_insn>& insns) {
  // FNV-1a over the instruction bytes: a change detector, not a security hash.
  uint64_t h = 0xcbf29ce484222325ull;
  const auto* p = reinterpret_cast<const uint8_t*>(insns.data());
  for (size_t i = 0; i < insns.size() * sizeof(bpf_insn); ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  std::ostringstream out;
  out << std::hex << std::setw(16) << std::setfill('0') << h;
  return out.str();
}

}  // namespace vfsteer::representors
