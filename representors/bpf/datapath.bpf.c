// SPDX-License-Identifier: GPL-2.0
/* vfsteer's host datapath: the part of each chain the NIC does not run.
 *
 * Attached with cls_bpf (direct action) on tc ingress of the uplink
 * representor and of each VF representor; where a port's chains allow it,
 * also in XDP (vfs_xdp, below), which runs those chains before the kernel
 * builds an skb and passes every other packet on to tc. For every packet it parses
 * Ethernet, up to two VLAN tags (the outer one may already sit in skb
 * metadata), IPv4 or IPv6 (skipping extension headers), TCP/UDP/SCTP ports,
 * and VXLAN/GENEVE with the frame inside; classifies by tuple-space search
 * over the orchestrator's tables (datapath_abi.h), or, for a small policy,
 * tail-calls the classifier generated for it (bpf_classifier.hpp), which
 * runs the simplest chains itself and hands the others' verdict to vfs_run /
 * vfs_run_xdp; then runs the chain's stages.
 * Malformed packets and packets no chain matches take the default path (the
 * host stack, as in switchdev) and are counted. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "datapath_abi.h"

char LICENSE[] SEC("license") = "GPL";

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct vfs_config);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} vfs_config SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, VFS_GENERATIONS * VFS_MAX_TUPLES);
  __type(key, __u32);
  __type(value, struct vfs_tuple);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} vfs_tuples SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, VFS_MAX_RULES);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct vfs_rule_key);
  __type(value, struct vfs_rule);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} vfs_rules SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, VFS_MAX_RULES);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct vfs_compact_rule_key);
  __type(value, struct vfs_rule);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} vfs_rules_compact SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, VFS_GENERATIONS * VFS_MAX_CHAINS);
  __type(key, __u32);
  __type(value, struct vfs_chain);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} vfs_chains SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, VFS_MAX_CHAINS);
  __type(key, __u32);
  __type(value, struct vfs_chain_stats);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} vfs_chain_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, VFS_G_COUNT);
  __type(key, __u32);
  __type(value, __u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} vfs_global_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, VFS_MAX_CHAINS * VFS_MAX_STAGES);
  __type(key, __u32);
  __type(value, struct vfs_bucket);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} vfs_buckets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, VFS_MAX_USER_PROGS + 1);
  __type(key, __u32);
  __type(value, __u32);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} vfs_jmp SEC(".maps");

/* The classifiers made for one policy (bpf_classifier.hpp): slot `gen` holds
 * generation gen's, slot VFS_SPEC_RUN the entry that runs their verdict.
 * An empty slot means the generation classifies with its tables. One array
 * per hook: a program array holds programs of one type. */
struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, VFS_SPEC_SLOTS);
  __type(key, __u32);
  __type(value, __u32);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} vfs_spec_tc SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, VFS_SPEC_SLOTS);
  __type(key, __u32);
  __type(value, __u32);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} vfs_spec_xdp SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, struct vfs_scratch);
  /* Pinned: a specialized classifier and a port's vfs_xdp_rx, loaded
   * later, must use the same scratch as the entries they hand over to. */
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} vfs_scratch SEC(".maps");

#define ETH_P_8021AD_BE bpf_htons(0x88A8)
#define ETH_P_8021Q_BE bpf_htons(0x8100)
#define VFS_DEFAULT_PATH TC_ACT_OK
#define VFS_PULL_LEN 256

static __always_inline void count(__u32 which) {
  __u64 *c = bpf_map_lookup_elem(&vfs_global_stats, &which);
  if (c) *c += 1;
}

/* Parsing --------------------------------------------------------------------- */

#define parsed vfs_parsed

static __always_inline int is_vlan(__u16 proto_be) {
  return proto_be == ETH_P_8021Q_BE || proto_be == ETH_P_8021AD_BE;
}

/* The parser works on offsets from skb->data, each bounded so that the
 * verifier can follow them; headers that would end past VFS_MAX_HDR are
 * treated as malformed. */
#define VFS_MAX_HDR 1024
/* An offset masked in inline assembly: the compiler cannot drop the mask or
 * recompute the offset from an unchecked copy, so the verifier always sees
 * the bound. */
static __always_inline __u64 vfs_bound(__u64 off) {
  asm volatile("%0 &= 0x7ff" : "+r"(off));
  return off;
}
#define VFS_BOUND(off) vfs_bound(off)

/* Fills L3/L4 fields of k from the IP header at `off`. Returns the offset of
 * the L4 header, 0 when there is none to read (not IP, or a non-first
 * fragment), or -1 when the packet is truncated or malformed. */
static __always_inline int parse_ip(void *data, void *data_end, __u32 off, struct vfs_key *k) {
  if (off > VFS_MAX_HDR) return -1;
  off = VFS_BOUND(off);
  if (k->ethertype == bpf_htons(ETH_P_IP)) {
    struct iphdr *ip = data + off;
    if ((void *)(ip + 1) > data_end) return -1;
    if (ip->ihl < 5) return -1;
    __u32 hlen = ip->ihl * 4;
    if ((void *)ip + hlen > data_end) return -1;
    k->src4 = ip->saddr;
    k->dst4 = ip->daddr;
    k->ip_proto = ip->protocol;
    if (ip->frag_off & bpf_htons(0x1fff)) return 0;
    return off + hlen;
  }
  if (k->ethertype == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr *ip6 = data + off;
    if ((void *)(ip6 + 1) > data_end) return -1;
    __builtin_memcpy(k->src6, &ip6->saddr, 16);
    __builtin_memcpy(k->dst6, &ip6->daddr, 16);
    __u8 next = ip6->nexthdr;
    off += sizeof(*ip6);
    /* Up to four extension headers before the transport header. */
    for (int i = 0; i < 4; i++) {
      if (next != 0 && next != 43 && next != 60 && next != 51 && next != 44) break;
      if (off > VFS_MAX_HDR) return -1;
      __u8 *h = data + VFS_BOUND(off);
      if ((void *)(h + 8) > data_end) return -1;
      if (next == 44) {
        /* Fragment header: only the first fragment carries L4. */
        int later = (h[2] << 8 | h[3]) & 0xfff8;
        next = h[0];
        off += 8;
        if (later) {
          k->ip_proto = next;
          return 0;
        }
        continue;
      }
      __u32 len = next == 51 ? ((__u32)h[1] + 2) * 4 : ((__u32)h[1] + 1) * 8;
      next = h[0];
      off += len;
    }
    if (off > VFS_MAX_HDR) return -1;
    k->ip_proto = next;
    return off;
  }
  return 0;
}

/* Parses one Ethernet frame at `off` into k. `accel` is a tag the kernel
 * already moved into skb metadata (tpid << 16 | tci, network order; outer
 * frame only). Returns -1 when malformed, else (tags found inside the frame
 * << 24) | the L4 offset (0 if there is no L4 header). */
static __always_inline int parse_frame_at(void *data, void *data_end, __u32 off, struct vfs_key *k,
                                          __u32 accel) {
  if (off > VFS_MAX_HDR) return -1;
  off = VFS_BOUND(off);
  struct ethhdr *eth = data + off;
  if ((void *)(eth + 1) > data_end) return -1;
  __builtin_memcpy(k->dmac, eth->h_dest, 6);
  __builtin_memcpy(k->smac, eth->h_source, 6);
  __u16 proto = eth->h_proto;
  off += sizeof(*eth);
  int ntags = 0;
  if (accel) {
    k->tpid0 = accel >> 16;
    k->tci0 = accel & 0xffff;
    ntags = 1;
  }
  int inpkt = 0;
  for (int i = 0; i < 2; i++) {
    if (!is_vlan(proto)) break;
    __u16 *tag = data + VFS_BOUND(off); /* TCI, then the next ethertype */
    if ((void *)(tag + 2) > data_end) return -1;
    if (ntags == 0) {
      k->tpid0 = proto;
      k->tci0 = tag[0];
    } else if (ntags == 1) {
      k->tpid1 = proto;
      k->tci1 = tag[0];
    }
    ntags++;
    inpkt++;
    proto = tag[1];
    off += 4;
  }
  k->ethertype = proto;
  int l4 = parse_ip(data, data_end, off, k);
  if (l4 < 0) return -1;
  if (l4 > 0 && (k->ip_proto == IPPROTO_TCP || k->ip_proto == IPPROTO_UDP ||
                 k->ip_proto == IPPROTO_SCTP)) {
    if (l4 > VFS_MAX_HDR) return -1;
    __u16 *ports = data + VFS_BOUND(l4);
    if ((void *)(ports + 2) > data_end) return -1;
    k->sport = ports[0];
    k->dport = ports[1];
  }
  return (inpkt << 24) | l4;
}

/* Global functions: the verifier checks each once, not at every call site. */
__noinline int vfs_parse_frame(struct __sk_buff *skb, __u32 off, struct vfs_key *k, __u32 accel) {
  if (!k) return -1;
  return parse_frame_at((void *)(long)skb->data, (void *)(long)skb->data_end, off, k, accel);
}

/* XDP sees the tags inside the frame, and `accel`: one the NIC took off
 * the frame, as the driver reports it (vfs_xdp_rx), or 0. */
__noinline int vfs_parse_frame_xdp(struct xdp_md *ctx, __u32 off, struct vfs_key *k, __u32 accel) {
  if (!k) return -1;
  return parse_frame_at((void *)(long)ctx->data, (void *)(long)ctx->data_end, off, k, accel);
}

/* The tunnel type the policy gives the outer frame's UDP destination port. */
static __always_inline __u8 tunnel_type(const struct vfs_gen_config *gc, const struct vfs_key *o) {
  __u8 type = VFS_TUN_NONE;
  for (int i = 0; i < VFS_MAX_TUNNEL_PORTS; i++)
    if (gc->tunnel_ports[i].port && gc->tunnel_ports[i].port == o->dport)
      type = gc->tunnel_ports[i].type;
  return type;
}

/* Records the outer frame's parse result `r` (vfs_parse_frame) in p. Returns
 * the offset of the tunnel header to read, its type in *type, when the frame
 * is UDP to a port the policy names as a tunnel; else 0. */
static __always_inline __u32 after_outer(struct parsed *p, const struct vfs_gen_config *gc, int r,
                                         __u8 *type) {
  if (r < 0) {
    p->malformed = 1;
    return 0;
  }
  p->outer_tags_in_packet = r >> 24;
  __u32 l4 = r & 0xffffff;
  if (l4 == 0 || p->outer.ip_proto != IPPROTO_UDP) return 0;
  *type = tunnel_type(gc, &p->outer);
  return *type == VFS_TUN_NONE ? 0 : l4 + sizeof(struct udphdr);
}

/* The offset of the inner Ethernet header after the 8-byte tunnel header
 * `t` at `th` (with p->inner cleared for it), or 0 when the header does not
 * parse: then it is not a tunnel. */
static __always_inline __u32 before_inner(struct parsed *p, __u8 type, const __u8 *t, __u32 th) {
  __u32 inner_off;
  if (type == VFS_TUN_VXLAN) {
    if (!(t[0] & 0x08)) return 0; /* the VNI is not valid */
    inner_off = th + 8;
  } else {
    /* GENEVE: version 0, options in 4-byte units, Ethernet payload. */
    if ((t[0] >> 6) != 0 || t[2] != 0x65 || t[3] != 0x58) return 0;
    inner_off = th + 8 + (t[0] & 0x3f) * 4;
  }
  __builtin_memset(&p->inner, 0, sizeof(p->inner));
  return inner_off;
}

/* The tunnel keys of an inner frame that parsed. */
static __always_inline void set_tunnel_keys(struct parsed *p, __u8 type, const __u8 *t, __u32 inner_off) {
  struct vfs_key *o = &p->outer;
  struct vfs_key *in = &p->inner;
  in->ifindex = o->ifindex;
  in->tun_type = type;
  in->vni = bpf_htonl(((__u32)t[4] << 16) | ((__u32)t[5] << 8) | t[6]);
  in->tun_port = o->dport;
  if (o->ethertype == bpf_htons(ETH_P_IP)) {
    in->tun_l3 = 4;
    in->tun_src4 = o->src4;
    in->tun_dst4 = o->dst4;
  } else {
    in->tun_l3 = 6;
    __builtin_memcpy(in->tun_src6, o->src6, 16);
    __builtin_memcpy(in->tun_dst6, o->dst6, 16);
  }
  p->has_inner = 1;
  p->inner_off = inner_off;
}

static __always_inline void reset_parsed(struct parsed *p) {
  /* The inner key is cleared only when a tunnel is found. */
  __builtin_memset(&p->outer, 0, sizeof(p->outer));
  p->has_inner = 0;
  p->malformed = 0;
  p->outer_tags_in_packet = 0;
}

/* 0 turns parse_fast off (Datapath::Parser::kFullOnly, for tests and the
 * bench); read-only, so the verifier drops the path not taken. */
const volatile __u32 vfs_fast_parse = 1;

/* Whether the parse reads ports after this IP protocol. */
static __always_inline int has_ports(__u8 proto) {
  return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

/* Whether UDP to `dport` may be a tunnel the policy names. */
static __always_inline int maybe_tunnel(const struct vfs_gen_config *gc, __u8 proto, __u16 dport) {
  if (proto != IPPROTO_UDP) return 0;
#pragma unroll
  for (int i = 0; i < VFS_MAX_TUNNEL_PORTS; i++)
    if (gc->tunnel_ports[i].port && gc->tunnel_ports[i].port == dport) return 1;
  return 0;
}

/* The commonest frames without the full parser's generality: untagged
 * Ethernet; IPv4 that is not a later fragment, or IPv6 without extension
 * headers; TCP, UDP or SCTP, its ports within the linear data; and UDP not
 * to a port the policy names as a tunnel. For such a frame this fills p
 * exactly as reset_parsed and the full parse would (the headers it skips
 * are the ones the frame does not have) and returns 1; for any other frame
 * it returns 0 having written nothing (the caller then resets p and parses
 * in full). It pulls nothing into the linear data: it goes ahead only when
 * its headers are there. Measured: the full parse, a call to a global
 * function that handles tags, extension headers and tunnels, was about a
 * third of a specialized classifier's run (README "Measured"). */
static __always_inline int parse_fast(void *data, void *data_end, __u32 ifindex,
                                      const struct vfs_gen_config *gc, struct parsed *p) {
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end) return 0;
  struct vfs_key *o = &p->outer;
  __u16 *ports;
  __u8 proto;
  if (eth->h_proto == bpf_htons(ETH_P_IP)) {
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end || ip->ihl < 5 || (ip->frag_off & bpf_htons(0x1fff))) return 0;
    proto = ip->protocol;
    ports = (void *)ip + ip->ihl * 4;
    if (!has_ports(proto) || (void *)(ports + 2) > data_end || maybe_tunnel(gc, proto, ports[1])) return 0;
    __builtin_memset(o, 0, sizeof(*o));
    o->src4 = ip->saddr;
    o->dst4 = ip->daddr;
  } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr *ip6 = (void *)(eth + 1);
    if ((void *)(ip6 + 1) > data_end) return 0;
    proto = ip6->nexthdr; /* an extension header is none of the three */
    ports = (void *)(ip6 + 1);
    if (!has_ports(proto) || (void *)(ports + 2) > data_end || maybe_tunnel(gc, proto, ports[1])) return 0;
    __builtin_memset(o, 0, sizeof(*o));
    __builtin_memcpy(o->src6, &ip6->saddr, 16);
    __builtin_memcpy(o->dst6, &ip6->daddr, 16);
  } else {
    return 0;
  }
  o->ifindex = ifindex;
  o->ethertype = eth->h_proto;
  o->ip_proto = proto;
  o->sport = ports[0];
  o->dport = ports[1];
  __builtin_memcpy(o->dmac, eth->h_dest, 6);
  __builtin_memcpy(o->smac, eth->h_source, 6);
  p->has_inner = 0;
  p->malformed = 0;
  p->outer_tags_in_packet = 0;
  return 1;
}

/* Fills p (reset first) from the frame. */
static __always_inline void parse(struct __sk_buff *skb, const struct vfs_gen_config *gc,
                                  struct parsed *p) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  if (vfs_fast_parse && !skb->vlan_present && parse_fast(data, data_end, skb->ingress_ifindex, gc, p)) return;
  reset_parsed(p);
  /* Headers beyond the linear part (a non-linear skb) are pulled in once. */
  if (data + skb->len > data_end && data + VFS_PULL_LEN > data_end)
    bpf_skb_pull_data(skb, skb->len < VFS_PULL_LEN ? skb->len : VFS_PULL_LEN);
  struct vfs_key *o = &p->outer;
  o->ifindex = skb->ingress_ifindex;
  __u32 accel = 0;
  if (skb->vlan_present)
    accel = ((__u32)(__u16)skb->vlan_proto << 16) | bpf_htons((__u16)skb->vlan_tci);
  __u8 type = VFS_TUN_NONE, t[8];
  __u32 th = after_outer(p, gc, vfs_parse_frame(skb, 0, o, accel), &type);
  if (!th || bpf_skb_load_bytes(skb, th, t, sizeof(t))) return;
  __u32 inner_off = before_inner(p, type, t, th);
  if (!inner_off || vfs_parse_frame(skb, inner_off, &p->inner, 0) < 0) return;
  set_tunnel_keys(p, type, t, inner_off);
}

/* The same for XDP: the frame is always linear here; `accel` as in
 * vfs_parse_frame_xdp. */
static __always_inline void parse_xdp(struct xdp_md *ctx, const struct vfs_gen_config *gc,
                                      struct parsed *p, __u32 accel) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  if (vfs_fast_parse && !accel && parse_fast(data, data_end, ctx->ingress_ifindex, gc, p)) return;
  reset_parsed(p);
  struct vfs_key *o = &p->outer;
  o->ifindex = ctx->ingress_ifindex;
  __u8 type = VFS_TUN_NONE, t[8];
  __u32 th = after_outer(p, gc, vfs_parse_frame_xdp(ctx, 0, o, accel), &type);
  if (!th || bpf_xdp_load_bytes(ctx, th, t, sizeof(t))) return;
  __u32 inner_off = before_inner(p, type, t, th);
  if (!inner_off || vfs_parse_frame_xdp(ctx, inner_off, &p->inner, 0) < 0) return;
  set_tunnel_keys(p, type, t, inner_off);
}

/* Classification ----------------------------------------------------------- */

static __always_inline void mask_key(struct vfs_key *out, const struct vfs_key *in,
                                     const struct vfs_key *mask) {
  const __u64 *a = (const __u64 *)in;
  const __u64 *m = (const __u64 *)mask;
  __u64 *o = (__u64 *)out;
#pragma unroll
  for (int i = 0; i < sizeof(struct vfs_key) / 8; i++) o[i] = a[i] & m[i];
}

/* The compact prefix only (VFS_KEY_COMPACT bytes: 5 u64 and a u32). */
static __always_inline void mask_key_compact(__u8 *out, const struct vfs_key *in,
                                             const struct vfs_key *mask) {
  const __u64 *a = (const __u64 *)in;
  const __u64 *m = (const __u64 *)mask;
  __u64 *o = (__u64 *)out;
#pragma unroll
  for (int i = 0; i < VFS_KEY_COMPACT / 8; i++) o[i] = a[i] & m[i];
  ((__u32 *)out)[VFS_KEY_COMPACT / 4 - 1] =
      ((const __u32 *)in)[VFS_KEY_COMPACT / 4 - 1] & ((const __u32 *)mask)[VFS_KEY_COMPACT / 4 - 1];
}

/* The best (lowest priority) rule across the generation's tuples. */
static __always_inline const struct vfs_rule *classify(__u32 gen, __u32 ntuples,
                                                       const struct parsed *p,
                                                       struct vfs_rule_key *rk,
                                                       struct vfs_compact_rule_key *ck) {
  const struct vfs_rule *best = 0;
  rk->gen = gen;
  rk->pad0 = 0;
  ck->gen = gen;
  ck->pad0 = 0;
  for (__u32 i = 0; i < VFS_MAX_TUPLES; i++) {
    if (i >= ntuples) break;
    __u32 idx = gen * VFS_MAX_TUPLES + i;
    const struct vfs_tuple *t = bpf_map_lookup_elem(&vfs_tuples, &idx);
    if (!t) break;
    if (t->inner && !p->has_inner) continue;
    const struct vfs_rule *r;
    if (t->compact) {
      ck->tuple = i;
      mask_key_compact(ck->masked, t->inner ? &p->inner : &p->outer, &t->mask);
      r = bpf_map_lookup_elem(&vfs_rules_compact, ck);
    } else {
      rk->tuple = i;
      mask_key(&rk->masked, t->inner ? &p->inner : &p->outer, &t->mask);
      r = bpf_map_lookup_elem(&vfs_rules, rk);
    }
    if (r && (!best || r->priority < best->priority)) best = r;
  }
  return best;
}

/* Stages -------------------------------------------------------------------- */

/* Frame bytes as on the wire: a tag the kernel lifted into metadata counts. */
static __always_inline __u32 wire_len(struct __sk_buff *skb) {
  return skb->len + (skb->vlan_present ? 4 : 0);
}

static __always_inline __u32 xdp_len(struct xdp_md *ctx) {
  return ctx->data_end - ctx->data;
}

/* Removes the outer Ethernet/IP/UDP/tunnel headers so that the inner frame
 * is the packet. Only outer frames without VLAN tags in the packet are
 * handled (the kernel has already lifted one outer tag into metadata). */
__noinline int vfs_decap(struct __sk_buff *skb, __u32 gen) {
  __u32 zero = 0, one = 1;
  const struct vfs_config *cfg = bpf_map_lookup_elem(&vfs_config, &zero);
  struct vfs_scratch *sc = bpf_map_lookup_elem(&vfs_scratch, &one);
  if (!cfg || !sc || !skb) return -1;
  if (skb->vlan_present && bpf_skb_vlan_pop(skb)) return -1;
  struct parsed *p = &sc->p;
  parse(skb, &cfg->gen[gen & 1], p);
  if (!p->has_inner || p->outer_tags_in_packet) return -1;
  struct ethhdr inner_eth;
  if (bpf_skb_load_bytes(skb, p->inner_off, &inner_eth, sizeof(inner_eth))) return -1;
  /* Remove everything between the outer MAC header and the inner one's end,
   * then put the inner MAC header in its place. */
  int remove = p->inner_off;
  if (bpf_skb_adjust_room(skb, -remove, BPF_ADJ_ROOM_MAC, 0)) return -1;
  if (bpf_skb_store_bytes(skb, 0, &inner_eth, sizeof(inner_eth), 0)) return -1;
  return 0;
}

/* The XDP twin: the inner frame starts at inner_off, so moving the start of
 * the packet there is the whole decap. At most one outer tag, as in tc
 * (where the kernel has lifted that one into metadata). */
__noinline int vfs_decap_xdp(struct xdp_md *ctx, __u32 gen) {
  __u32 zero = 0, one = 1;
  const struct vfs_config *cfg = bpf_map_lookup_elem(&vfs_config, &zero);
  struct vfs_scratch *sc = bpf_map_lookup_elem(&vfs_scratch, &one);
  if (!cfg || !sc) return -1;
  struct parsed *p = &sc->p;
  parse_xdp(ctx, &cfg->gen[gen & 1], p, 0); /* a stripped tag is back in the frame by now */
  if (!p->has_inner || p->outer_tags_in_packet > 1) return -1;
  return bpf_xdp_adjust_head(ctx, p->inner_off) ? -1 : 0;
}

/* Removes the outermost tag (none: nothing to do, as bpf_skb_vlan_pop). */
static __always_inline int xdp_vlan_pop(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end) return -1;
  if (!is_vlan(eth->h_proto)) return 0;
  if (data + sizeof(*eth) + 4 > data_end) return -1;
  __u8 macs[12];
  __builtin_memcpy(macs, data, 12);
  if (bpf_xdp_adjust_head(ctx, 4)) return -1;
  data = (void *)(long)ctx->data;
  data_end = (void *)(long)ctx->data_end;
  if (data + 12 > data_end) return -1;
  __builtin_memcpy(data, macs, 12);
  return 0;
}

/* Inserts a tag as the outermost one. */
static __always_inline int xdp_vlan_push(struct xdp_md *ctx, __u16 tpid_be, __u16 tci) {
  if (bpf_xdp_adjust_head(ctx, -4)) return -1;
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  if (data + 16 > data_end) return -1;
  __u8 macs[12];
  __builtin_memcpy(macs, data + 4, 12);
  __builtin_memcpy(data, macs, 12);
  __u16 *tag = data + 12;
  tag[0] = tpid_be;
  tag[1] = bpf_htons(tci);
  return 0;
}

/* Token bucket: true when the packet conforms. */
static __always_inline int police(__u32 chain_id, __u32 stage, const struct vfs_stage *st,
                                  __u32 len) {
  __u32 idx = chain_id * VFS_MAX_STAGES + stage;
  struct vfs_bucket *b = bpf_map_lookup_elem(&vfs_buckets, &idx);
  if (!b) return 1;
  const __u64 scale = 1000000000ULL; /* tokens are bytes * 1e9 */
  __u64 now = bpf_ktime_get_ns();
  __u64 rate = st->u64;
  __u64 cap = (__u64)st->u32 * scale;
  __u64 need = (__u64)len * scale;
  int ok = 0;
  bpf_spin_lock(&b->lock);
  __u64 elapsed = now - b->last_ns;
  if (b->last_ns == 0 || elapsed > scale) {
    b->tokens = cap;  /* first packet or idle for a second: a full bucket */
  } else {
    __u64 tokens = b->tokens + elapsed * rate;
    b->tokens = tokens > cap ? cap : tokens;
  }
  b->last_ns = now;
  if (b->tokens >= need) {
    b->tokens -= need;
    ok = 1;
  }
  bpf_spin_unlock(&b->lock);
  return ok;
}

/* The chain in a generation's slot and its counters; counts the chain
 * itself when `fresh` (a packet entering from classification or a NIC
 * continuation, not resuming after a bpf stage). */
static __always_inline const struct vfs_chain *chain_at(__u32 gen, __u32 slot, int fresh, __u32 len,
                                                        struct vfs_chain_stats **stats) {
  __u32 idx = gen * VFS_MAX_CHAINS + slot;
  const struct vfs_chain *c = bpf_map_lookup_elem(&vfs_chains, &idx);
  if (!c) return 0;
  __u32 id = c->id;
  *stats = bpf_map_lookup_elem(&vfs_chain_stats, &id);
  if (!*stats) return 0; /* only for an id past the table: a bug */
  if (fresh) {
    (*stats)->packets++;
    (*stats)->bytes += len;
  }
  return c;
}

static __always_inline void count_stage(struct vfs_chain_stats *stats, __u32 i, __u32 len) {
  if (i >= VFS_MAX_STAGES) return;
  stats->stage_packets[i]++;
  stats->stage_bytes[i] += len;
}

/* Runs stages [start, nstages) of a chain. */
static __always_inline int run_chain(struct __sk_buff *skb, __u32 gen, __u32 slot, __u32 start,
                                     int fresh) {
  struct vfs_chain_stats *stats = 0;
  const struct vfs_chain *c = chain_at(gen, slot, fresh, wire_len(skb), &stats);
  if (!c || !stats) return VFS_DEFAULT_PATH;
  __u32 n = c->nstages;
  for (__u32 i = 0; i < VFS_MAX_STAGES; i++) {
    if (i < start) continue;
    if (i >= n) break;
    const struct vfs_stage *st = &c->stages[i];
    count_stage(stats, i, wire_len(skb));
    switch (st->kind) {
      case VFS_ST_VLAN_POP:
        if (bpf_skb_vlan_pop(skb)) goto action_error;
        break;
      case VFS_ST_VLAN_PUSH:
        if (bpf_skb_vlan_push(skb, (__be16)st->u32, st->u16)) goto action_error;
        break;
      case VFS_ST_TUNNEL_DECAP:
        if (vfs_decap(skb, gen)) goto action_error;
        break;
      case VFS_ST_QUEUE:
        skb->queue_mapping = st->u16;
        break;
      case VFS_ST_POLICE:
        if (!police(c->id, i, st, wire_len(skb))) {
          count(VFS_G_POLICED);
          return TC_ACT_SHOT;
        }
        break;
      case VFS_ST_MARK:
        skb->mark = st->u32;
        break;
      case VFS_ST_MIRROR:
        if (bpf_clone_redirect(skb, st->u32, 0)) count(VFS_G_ACTION_ERR);
        break;
      case VFS_ST_DROP:
        return TC_ACT_SHOT;
      case VFS_ST_BPF:
        /* Hand over to the user's program; it continues the chain by tail
         * calling slot VFS_JMP_RESUME (see docs/bpf-stage.md). */
        skb->cb[VFS_CB_MAGIC_WORD] = VFS_CB_MAGIC;
        skb->cb[VFS_CB_CHAIN_WORD] = (gen << 16) | slot;
        skb->cb[VFS_CB_STAGE_WORD] = i + 1;
        bpf_tail_call(skb, &vfs_jmp, st->u32);
        count(VFS_G_TAILCALL);
        return TC_ACT_SHOT;
      case VFS_ST_REDIRECT:
        return bpf_redirect(st->u32, 0);
      case VFS_ST_HOST_QUEUE:
        skb->queue_mapping = st->u16;
        return TC_ACT_OK;
      case VFS_ST_HOST:
        return TC_ACT_OK;
      default:
        goto action_error;
    }
  }
  /* A chain always ends in deliver or drop; falling off the end is a bug. */
action_error:
  count(VFS_G_ACTION_ERR);
  return TC_ACT_SHOT;
}

/* The XDP twin for chains marked VFS_CHAIN_XDP: the orchestrator marks only
 * chains made of the stages below (no skb to set a mark or queue on, no
 * clone for a mirror, no tc program for a bpf stage to tail-call, and a
 * packet handed to the stack would be classified again by tc). One stage:
 * its verdict, or -1 to go on with the next. */
static __noinline int xdp_stage(struct xdp_md *ctx, const struct vfs_chain *c, struct vfs_chain_stats *stats,
                                __u32 gen, __u32 i) {
  if (!ctx || !c || !stats || i >= VFS_MAX_STAGES) goto action_error;
  const struct vfs_stage *st = &c->stages[i];
  count_stage(stats, i, xdp_len(ctx));
  switch (st->kind) {
    case VFS_ST_VLAN_POP:
      if (xdp_vlan_pop(ctx)) goto action_error;
      return -1;
    case VFS_ST_VLAN_PUSH:
      if (xdp_vlan_push(ctx, (__u16)st->u32, st->u16)) goto action_error;
      return -1;
    case VFS_ST_TUNNEL_DECAP:
      if (vfs_decap_xdp(ctx, gen)) goto action_error;
      return -1;
    case VFS_ST_POLICE:
      if (police(c->id, i, st, xdp_len(ctx))) return -1;
      count(VFS_G_POLICED);
      return XDP_DROP;
    case VFS_ST_DROP:
      return XDP_DROP;
    case VFS_ST_REDIRECT:
      return bpf_redirect(st->u32, 0);
    default:
      goto action_error;
  }
action_error:
  count(VFS_G_ACTION_ERR);
  return XDP_DROP;
}

/* The stages written out, not looped over: Linux 6.1's verifier accepts a
 * loop only when its back edge is a jump, and clang lays such a loop out
 * falling through into its head. */
#define VFS_XDP_STAGE(i)                                \
  if ((i) >= n) goto action_error;                      \
  verdict = xdp_stage(ctx, c, stats, gen, (i));         \
  if (verdict >= 0) return verdict;

static __always_inline int run_chain_xdp(struct xdp_md *ctx, const struct vfs_chain *c,
                                         struct vfs_chain_stats *stats, __u32 gen) {
  __u32 n = c->nstages;
  int verdict;
  VFS_XDP_STAGE(0) VFS_XDP_STAGE(1) VFS_XDP_STAGE(2) VFS_XDP_STAGE(3)
  VFS_XDP_STAGE(4) VFS_XDP_STAGE(5) VFS_XDP_STAGE(6) VFS_XDP_STAGE(7)
  VFS_XDP_STAGE(8) VFS_XDP_STAGE(9) VFS_XDP_STAGE(10) VFS_XDP_STAGE(11)
  VFS_XDP_STAGE(12) VFS_XDP_STAGE(13) VFS_XDP_STAGE(14) VFS_XDP_STAGE(15)
  /* A chain always ends in deliver or drop; falling off the end is a bug. */
action_error:
  count(VFS_G_ACTION_ERR);
  return XDP_DROP;
}
_Static_assert(VFS_MAX_STAGES == 16, "run_chain_xdp writes out VFS_MAX_STAGES stages");

/* Entries ------------------------------------------------------------------- */

/* Tail-calls generation gen's specialized classifier, if it has one. The
 * slot is a constant at each call site (bpf_tail_call_static): the JIT then
 * patches in a direct jump, where a variable slot is an indirect one (a
 * retpoline on hosts that need them). */
#define VFS_TAIL_CALL_SPEC(ctx, array, gen)  \
  do {                                       \
    if (gen)                                 \
      bpf_tail_call_static(ctx, array, 1);   \
    else                                     \
      bpf_tail_call_static(ctx, array, 0);   \
  } while (0)

/* The XDP entry's verdict on this frame, if it left one for this port and
 * this generation (struct vfsteer_meta); 0 when tc must classify. */
static __always_inline int handed_over(struct __sk_buff *skb, __u32 gen, __u32 *verdict, __u32 *slot) {
  void *data = (void *)(long)skb->data;
  const struct vfsteer_meta *m = (void *)(long)skb->data_meta;
  if ((void *)(m + 1) > data) return 0;
  if (m->magic != VFSTEER_META_MAGIC || m->verdict == VFS_HO_NONE || m->ifindex != skb->ingress_ifindex ||
      m->gen != gen || m->slot >= VFS_MAX_CHAINS)
    return 0;
  *verdict = m->verdict;
  *slot = m->slot;
  return 1;
}

SEC("tc")
int vfs_ingress(struct __sk_buff *skb) {
  __u32 zero = 0;
  const struct vfs_config *cfg = bpf_map_lookup_elem(&vfs_config, &zero);
  if (!cfg) return VFS_DEFAULT_PATH;
  __u32 gen = cfg->active & 1;
  __u32 verdict = 0, slot = 0;
  if (handed_over(skb, gen, &verdict, &slot)) {
    count(VFS_G_FROM_XDP);
    if (verdict == VFS_HO_CHAIN) return run_chain(skb, gen, slot, 0, 1);
    count(verdict == VFS_HO_UNMATCHED ? VFS_G_UNMATCHED : VFS_G_MALFORMED);
    return VFS_DEFAULT_PATH;
  }
  struct vfs_scratch *sc = bpf_map_lookup_elem(&vfs_scratch, &zero);
  if (!sc) return VFS_DEFAULT_PATH;
  const struct vfs_gen_config *gc = &cfg->gen[gen];
  struct parsed *p = &sc->p;
  parse(skb, gc, p);
  if (p->malformed) {
    count(VFS_G_MALFORMED);
    return VFS_DEFAULT_PATH;
  }
  /* The policy's own classifier, when one was made for this generation;
   * it ends the frame's run itself or goes on in vfs_run. */
  sc->spec.gen = gen;
  sc->spec.accel = 0;
  VFS_TAIL_CALL_SPEC(skb, &vfs_spec_tc, gen);
  const struct vfs_rule *r = classify(gen, gc->ntuples, p, &sc->rk, &sc->ck);
  if (!r) {
    count(VFS_G_UNMATCHED);
    return VFS_DEFAULT_PATH;
  }
  return run_chain(skb, gen, r->chain, 0, 1);
}

/* After a specialized classifier (slot VFS_SPEC_RUN of vfs_spec_tc): runs
 * the chain it chose, as vfs_ingress does after its tables. */
SEC("tc")
int vfs_run(struct __sk_buff *skb) {
  __u32 zero = 0;
  struct vfs_scratch *sc = bpf_map_lookup_elem(&vfs_scratch, &zero);
  if (!sc) return VFS_DEFAULT_PATH;
  if (sc->spec.verdict == VFS_HO_CHAIN && sc->spec.slot < VFS_MAX_CHAINS)
    return run_chain(skb, sc->spec.gen & 1, sc->spec.slot, 0, 1);
  count(VFS_G_UNMATCHED);
  return VFS_DEFAULT_PATH;
}

/* vfsteer's metadata in front of the frame: the room vfs_xdp_rx made, or
 * new room, zeroed. 0 when the driver has no XDP metadata. */
static __always_inline struct vfsteer_meta *meta_room(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  struct vfsteer_meta *m = (void *)(long)ctx->data_meta;
  if ((void *)(m + 1) <= data && m->magic == VFSTEER_META_MAGIC) return m;
  if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*m))) return 0;
  data = (void *)(long)ctx->data;
  m = (void *)(long)ctx->data_meta;
  if ((void *)(m + 1) > data) return 0;
  __builtin_memset(m, 0, sizeof(*m));
  m->magic = VFSTEER_META_MAGIC;
  return m;
}

/* Passes a frame on to tc with the XDP entry's verdict. A driver without
 * XDP metadata has no room for it; tc then classifies the frame itself. */
static __always_inline int pass_to_tc(struct xdp_md *ctx, __u32 gen, __u32 verdict, __u32 slot) {
  struct vfsteer_meta *m = meta_room(ctx);
  if (!m) return XDP_PASS;
  m->ifindex = ctx->ingress_ifindex;
  m->slot = slot;
  m->gen = gen;
  m->verdict = verdict;
  return XDP_PASS;
}

/* The rest of the XDP entry once the frame's chain (in `slot`) is known. */
static __always_inline int xdp_run(struct xdp_md *ctx, __u32 gen, __u32 accel, __u32 slot) {
  struct vfs_chain_stats *stats = 0;
  const struct vfs_chain *c = chain_at(gen, slot, 0, 0, &stats);
  if (!c || !stats) return XDP_PASS;
  if (!(c->flags & VFS_CHAIN_XDP)) return pass_to_tc(ctx, gen, VFS_HO_CHAIN, slot);
  /* An XDP chain ends in a redirect or a drop: the frame leaves with the
   * tag it came with, so one the NIC took off goes back in first, and the
   * stages see the frame as it was on the wire. */
  if (accel && xdp_vlan_push(ctx, accel >> 16, bpf_ntohs(accel & 0xffff))) {
    count(VFS_G_ACTION_ERR);
    return XDP_DROP;
  }
  stats->packets++;
  stats->bytes += xdp_len(ctx);
  return run_chain_xdp(ctx, c, stats, gen);
}

/* XDP, attached in front of vfs_ingress on ports whose chains allow it. It
 * classifies with the same tables; a packet whose best chain is marked
 * VFS_CHAIN_XDP runs that chain here, every other packet (no match,
 * malformed, a chain that needs tc) goes on to vfs_ingress with the verdict
 * in front of it (pass_to_tc), and vfs_ingress counts it there, so each
 * packet is parsed once and counted once. `accel` is a tag the NIC took
 * off the frame (tpid << 16 | tci, network order), or 0. */
static __always_inline int xdp_entry(struct xdp_md *ctx, __u32 accel) {
  __u32 zero = 0;
  const struct vfs_config *cfg = bpf_map_lookup_elem(&vfs_config, &zero);
  if (!cfg) return XDP_PASS;
  struct vfs_scratch *sc = bpf_map_lookup_elem(&vfs_scratch, &zero);
  if (!sc) return XDP_PASS;
  __u32 gen = cfg->active & 1;
  const struct vfs_gen_config *gc = &cfg->gen[gen];
  struct parsed *p = &sc->p;
  parse_xdp(ctx, gc, p, accel);
  if (p->malformed) return pass_to_tc(ctx, gen, VFS_HO_MALFORMED, 0);
  sc->spec.gen = gen;
  sc->spec.accel = accel;
  VFS_TAIL_CALL_SPEC(ctx, &vfs_spec_xdp, gen); /* as in vfs_ingress */
  const struct vfs_rule *r = classify(gen, gc->ntuples, p, &sc->rk, &sc->ck);
  if (!r) return pass_to_tc(ctx, gen, VFS_HO_UNMATCHED, 0);
  return xdp_run(ctx, gen, accel, r->chain);
}

SEC("xdp")
int vfs_xdp(struct xdp_md *ctx) {
  return xdp_entry(ctx, 0);
}

/* After a specialized classifier (slot VFS_SPEC_RUN of vfs_spec_xdp). */
SEC("xdp")
int vfs_run_xdp(struct xdp_md *ctx) {
  __u32 zero = 0;
  struct vfs_scratch *sc = bpf_map_lookup_elem(&vfs_scratch, &zero);
  if (!sc) return XDP_PASS;
  __u32 gen = sc->spec.gen & 1;
  if (sc->spec.verdict != VFS_HO_CHAIN || sc->spec.slot >= VFS_MAX_CHAINS)
    return pass_to_tc(ctx, gen, VFS_HO_UNMATCHED, 0);
  return xdp_run(ctx, gen, sc->spec.accel, sc->spec.slot);
}

#ifdef VFS_RX_METADATA
/* The XDP RX metadata kfuncs (Linux 6.3; the VLAN tag 6.8). A program
 * calling them must be bound to the port's device, so this entry is loaded
 * once per port (Datapath::loadRxEntry); the rest of the datapath is shared. */
enum xdp_rss_hash_type { XDP_RSS_TYPE_NONE = 0 }; /* only the name links to the kernel's */
extern int bpf_xdp_metadata_rx_hash(const struct xdp_md *ctx, __u32 *hash,
                                    enum xdp_rss_hash_type *rss_type) __ksym;
extern int bpf_xdp_metadata_rx_timestamp(const struct xdp_md *ctx, __u64 *timestamp) __ksym;
extern int bpf_xdp_metadata_rx_vlan_tag(const struct xdp_md *ctx, __be16 *vlan_proto, __u16 *vlan_tci) __ksym;

/* vfs_xdp, after writing what the port's driver knows about the frame in
 * front of it (struct vfsteer_meta) for the tc entry and user stages. */
SEC("xdp")
int vfs_xdp_rx(struct xdp_md *ctx) {
  __u32 zero = 0;
  struct vfs_scratch *sc = bpf_map_lookup_elem(&vfs_scratch, &zero);
  if (!sc) return xdp_entry(ctx, 0);
  struct vfsteer_meta *rx = &sc->rx;
  __builtin_memset(rx, 0, sizeof(*rx));
  rx->magic = VFSTEER_META_MAGIC;
  enum xdp_rss_hash_type hash_type = 0;
  __u32 hash = 0, accel = 0;
  __u64 timestamp = 0;
  __be16 vlan_proto = 0;
  __u16 vlan_tci = 0;
  if (!bpf_xdp_metadata_rx_hash(ctx, &hash, &hash_type)) {
    rx->valid |= VFSTEER_META_RX_HASH;
    rx->rx_hash = hash;
    rx->rx_hash_type = hash_type;
  }
  if (!bpf_xdp_metadata_rx_timestamp(ctx, &timestamp)) {
    rx->valid |= VFSTEER_META_RX_TIMESTAMP;
    rx->rx_timestamp = timestamp;
  }
  if (!bpf_xdp_metadata_rx_vlan_tag(ctx, &vlan_proto, &vlan_tci)) {
    rx->valid |= VFSTEER_META_VLAN;
    rx->vlan_proto = vlan_proto;
    rx->vlan_tci = vlan_tci;
    accel = ((__u32)(__u16)vlan_proto << 16) | bpf_htons(vlan_tci);
  }
  struct vfsteer_meta *m = meta_room(ctx);
  if (m) __builtin_memcpy(m, rx, sizeof(*m));
  return xdp_entry(ctx, accel);
}
#endif

/* Entry from a NIC continuation: the NIC ran the chain's first stages; the
 * rest runs here, in the active generation (chain slots are chain ids, the
 * same in both). */
SEC("tc")
int vfs_continue(struct __sk_buff *skb) {
  __u32 minor = skb->tc_classid & 0xffff;
  if (VFS_CONT_ID(minor) == 0) {
    count(VFS_G_ACTION_ERR);
    return TC_ACT_SHOT;
  }
  __u32 zero = 0;
  const struct vfs_config *cfg = bpf_map_lookup_elem(&vfs_config, &zero);
  if (!cfg) return TC_ACT_SHOT;
  __u32 gen = cfg->active & 1;
  return run_chain(skb, gen, VFS_CONT_ID(minor), VFS_CONT_STAGE(minor), 1);
}

/* Re-entry after a user program's stage: the chain, its generation and the
 * next stage come from skb->cb. */
SEC("tc")
int vfs_resume(struct __sk_buff *skb) {
  if (skb->cb[VFS_CB_MAGIC_WORD] != VFS_CB_MAGIC) {
    count(VFS_G_ACTION_ERR);
    return TC_ACT_SHOT;
  }
  __u32 word = skb->cb[VFS_CB_CHAIN_WORD];
  __u32 gen = (word >> 16) & 1;
  __u32 slot = word & 0xffff;
  __u32 next = skb->cb[VFS_CB_STAGE_WORD];
  skb->cb[VFS_CB_MAGIC_WORD] = 0;
  if (slot >= VFS_MAX_CHAINS) return TC_ACT_SHOT;
  return run_chain(skb, gen, slot, next, 0);
}
