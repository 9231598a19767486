/* The contract between vfsteer's host datapath (datapath.bpf.c) and the
 * orchestrator that fills its maps. Included by BPF C and by C++.
 *
 * Classification is a tuple-space search: every distinct match shape (which
 * keys a chain uses, with which prefix lengths) is one "tuple" holding a
 * mask; a packet's key is masked per tuple and looked up in one hash map.
 * The cost grows with the number of shapes, not with the number of rules.
 *
 * Tables come in two generations. A new policy is written into the inactive
 * generation, then vfs_config.active flips; a packet reads `active` once and
 * uses that generation to the end (its tail calls carry it), so no packet
 * ever sees half of two policies. */
#ifndef VFSTEER_DATAPATH_ABI_H
#define VFSTEER_DATAPATH_ABI_H

#include "vfsteer_meta.h"

#ifdef __cplusplus
#include <cstdint>
typedef uint8_t vfs_u8;
typedef uint16_t vfs_u16;
typedef uint32_t vfs_u32;
typedef uint64_t vfs_u64;
#else
typedef __u8 vfs_u8;
typedef __u16 vfs_u16;
typedef __u32 vfs_u32;
typedef __u64 vfs_u64;
#endif

#define VFS_GENERATIONS 2
#define VFS_MAX_TUPLES 16
#define VFS_MAX_CHAINS 4096      /* per generation; chain ids 1..4095 (0 unused) */
#define VFS_MAX_STAGES 16        /* per chain */
#define VFS_MAX_RULES 262144     /* both generations */
#define VFS_MAX_TUNNEL_PORTS 4
#define VFS_MAX_USER_PROGS 64    /* bpf stages, prog array slots 1.. */
#define VFS_JMP_RESUME 0         /* prog array slot of the resume entry */

/* A NIC continuation (a NIC rule ran a chain's first stages, then "goto
 * chain C") enters the host datapath through vfs_continue, attached in tc
 * chain C with a cls_bpf classid whose minor names the chain id and the next
 * stage: the kernel copies the classid's low 16 bits into skb->tc_classid
 * before running the program. Chain ids start at 1, so a minor is never 0
 * (no classid). */
#define VFS_CONT_CLASSID_MAJOR 0x7666u
#define VFS_CONT_CLASSID(id, stage) ((VFS_CONT_CLASSID_MAJOR << 16) | ((id) << 4) | (stage))
#define VFS_CONT_ID(minor) (((minor) >> 4) & 0xfff)
#define VFS_CONT_STAGE(minor) ((minor) & 0xf)

/* Tunnel types in keys and config. */
#define VFS_TUN_NONE 0
#define VFS_TUN_VXLAN 1
#define VFS_TUN_GENEVE 2

/* The fields a chain can match. Multi-byte fields are in network order.
 * A VLAN tag that is present has a non-zero tpid.
 *
 * The first VFS_KEY_COMPACT bytes hold what most policies match on (ports,
 * tags, IPv4 and tunnel ids). A match shape that uses nothing beyond them is
 * looked up in a map with that shorter key: the kernel hashes every key
 * byte on each lookup, so a short key is most of the classification cost
 * saved (see bench/host_datapath). */
struct vfs_key {
  vfs_u32 ifindex;   /* the port the packet entered (uplink or VF representor) */
  vfs_u16 ethertype; /* after the tags */
  vfs_u8 ip_proto;
  vfs_u8 tun_type;
  vfs_u16 tpid0;     /* outer tag */
  vfs_u16 tci0;
  vfs_u16 tpid1;     /* inner tag */
  vfs_u16 tci1;
  vfs_u16 sport;
  vfs_u16 dport;
  vfs_u32 vni;
  vfs_u16 tun_port;  /* outer UDP destination port */
  vfs_u8 tun_l3;     /* outer IP version (4 or 6), so outer prefixes cannot cross versions */
  vfs_u8 pad0;
  vfs_u32 src4;
  vfs_u32 dst4;
  vfs_u32 tun_src4;  /* outer IPv4 addresses */
  vfs_u32 tun_dst4;
  /* -- VFS_KEY_COMPACT bytes end here -- */
  vfs_u8 dmac[6];
  vfs_u8 smac[6];
  vfs_u8 src6[16];
  vfs_u8 dst6[16];
  vfs_u8 tun_src6[16]; /* outer IPv6 addresses */
  vfs_u8 tun_dst6[16];
};

#define VFS_KEY_COMPACT 44

/* A tuple: the mask of one match shape. For a tunnel tuple the L2..L4
 * fields are taken from the packet inside the tunnel. */
struct vfs_tuple {
  struct vfs_key mask;
  vfs_u8 inner;    /* 1: L2..L4 from the inner frame */
  vfs_u8 compact;  /* 1: the mask is zero past VFS_KEY_COMPACT; rules in vfs_rules_compact */
  vfs_u8 pad[6];
};

struct vfs_rule_key {
  vfs_u8 gen;
  vfs_u8 tuple;
  vfs_u16 pad0;
  struct vfs_key masked;
};

/* The key of the compact rule map: the same, cut after VFS_KEY_COMPACT. */
struct vfs_compact_rule_key {
  vfs_u8 gen;
  vfs_u8 tuple;
  vfs_u16 pad0;
  vfs_u8 masked[VFS_KEY_COMPACT];
};

struct vfs_rule {
  vfs_u32 priority;  /* lower wins */
  vfs_u32 chain;     /* slot in vfs_chains for this generation */
};

enum vfs_stage_kind {
  VFS_ST_NONE = 0,
  VFS_ST_VLAN_POP = 1,
  VFS_ST_VLAN_PUSH = 2,    /* u16: tci, u32: tpid (network order) */
  VFS_ST_TUNNEL_DECAP = 3,
  VFS_ST_QUEUE = 4,        /* u16: queue */
  VFS_ST_POLICE = 5,       /* u64: rate bytes/s, u32: burst bytes */
  VFS_ST_MARK = 6,         /* u32: mark */
  VFS_ST_MIRROR = 7,       /* u32: ifindex (egress) */
  VFS_ST_DROP = 8,
  VFS_ST_BPF = 9,          /* u32: prog array slot */
  VFS_ST_REDIRECT = 10,    /* u32: ifindex (egress): deliver to a VF or the uplink */
  VFS_ST_HOST = 11,        /* deliver to the host stack */
  VFS_ST_HOST_QUEUE = 12,  /* u16: queue; deliver to the host stack */
};

struct vfs_stage {
  vfs_u8 kind;
  vfs_u8 pad;
  vfs_u16 u16;
  vfs_u32 u32;
  vfs_u64 u64;
};

/* vfs_chain.flags */
#define VFS_CHAIN_XDP 1  /* runs in the XDP hook where one is attached (see vfs_xdp) */

struct vfs_chain {
  vfs_u32 id;       /* stable counter slot (survives policy swaps) */
  vfs_u16 nstages;
  vfs_u16 flags;
  struct vfs_stage stages[VFS_MAX_STAGES];
};

struct vfs_tunnel_port {
  vfs_u16 port;     /* network order; 0: unused */
  vfs_u8 type;
  vfs_u8 pad;
};

/* Per generation: the tuples in use and the tunnel ports to parse. */
struct vfs_gen_config {
  vfs_u32 ntuples;
  vfs_u32 nchains;  /* slots in use (read by vfsteer, not by the datapath) */
  struct vfs_tunnel_port tunnel_ports[VFS_MAX_TUNNEL_PORTS];
};

struct vfs_config {
  vfs_u32 active;   /* generation in use: 0 or 1 */
  vfs_u32 pad;
  struct vfs_gen_config gen[VFS_GENERATIONS];
};

/* Counters (per CPU). One entry per chain id holds the chain and its stages.
 * Bytes are frame bytes as on the wire, VLAN tags included, in either hook. */
struct vfs_chain_stats {
  vfs_u64 packets;
  vfs_u64 bytes;
  vfs_u64 stage_packets[VFS_MAX_STAGES];
  vfs_u64 stage_bytes[VFS_MAX_STAGES];
};

/* Global counters, index in vfs_global_stats. */
enum vfs_global_counter {
  VFS_G_PACKETS = 0,     /* every packet the datapath saw */
  VFS_G_MALFORMED = 1,   /* truncated or malformed: default path */
  VFS_G_UNMATCHED = 2,   /* no chain matched: default path */
  VFS_G_POLICED = 3,     /* dropped by a police stage */
  VFS_G_TAILCALL = 4,    /* a bpf stage's program was missing */
  VFS_G_ACTION_ERR = 5,  /* a helper failed (vlan push/pop, decap, redirect) */
  VFS_G_FROM_XDP = 6,    /* tc took the XDP entry's verdict (vfsteer_meta) */
  VFS_G_COUNT = 8,
};

/* Token bucket state of one police stage: index chain_id * VFS_MAX_STAGES + stage.
 * Shared by all CPUs, so it carries a BPF spin lock. */
struct vfs_bucket {
#ifdef __cplusplus
  vfs_u32 lock;
#else
  struct bpf_spin_lock lock;
#endif
  vfs_u32 pad;
  vfs_u64 tokens;  /* bytes, scaled by 1e9 */
  vfs_u64 last_ns;
};

/* The XDP entry's verdict on a frame it passes on to tc, in the frame's
 * XDP metadata (struct vfsteer_meta, vfsteer_meta.h), so that tc neither
 * parses nor classifies the frame again. tc trusts it only on the port and
 * in the generation it was made for: a frame carried elsewhere with its
 * metadata, or one that crossed a policy swap, is classified afresh. */
enum vfs_handover_verdict {
  VFS_HO_NONE = 0,       /* the driver's fields only: tc classifies */
  VFS_HO_CHAIN = 1,      /* run chain `slot` from its first stage */
  VFS_HO_UNMATCHED = 2,  /* no chain matched: default path */
  VFS_HO_MALFORMED = 3,  /* truncated or malformed: default path */
};

/* Parse results and the rule keys are too big for the 512-byte BPF stack;
 * they live in per-CPU scratch (the map vfs_scratch): slot 0 for
 * classification, slot 1 for decap. Here, not in datapath.bpf.c, because a
 * specialized classifier (bpf_classifier.hpp) reads the parsed keys at
 * these offsets. */
struct vfs_parsed {
  struct vfs_key outer;
  struct vfs_key inner;
  vfs_u8 has_inner;
  vfs_u8 malformed;
  vfs_u8 outer_tags_in_packet; /* VLAN tags still inside the outer frame */
  vfs_u8 pad;
  vfs_u16 inner_off;           /* offset of the inner Ethernet header */
  vfs_u16 pad2;
};

/* A policy's own classifier (slot `gen` of vfs_spec_tc / vfs_spec_xdp) is
 * tail-called by the entry after parsing; it leaves its verdict here and
 * runs the chain itself (the simple ones, bpf_classifier.hpp) or tail-calls
 * slot VFS_SPEC_RUN, which runs it. The entry fills gen and accel first, so
 * both halves work on the same generation and tag. */
#define VFS_SPEC_RUN 2
#define VFS_SPEC_SLOTS 3

struct vfs_spec_handoff {
  vfs_u32 gen;
  vfs_u32 accel;    /* XDP: the tag the NIC took off (tpid << 16 | tci), or 0 */
  vfs_u32 verdict;  /* VFS_HO_CHAIN or VFS_HO_UNMATCHED */
  vfs_u32 slot;     /* the chain, for VFS_HO_CHAIN */
};

struct vfs_scratch {
  struct vfs_parsed p;
  struct vfs_rule_key rk;
  struct vfs_compact_rule_key ck;
  struct vfs_spec_handoff spec;
  /* vfs_xdp_rx assembles the driver's fields here, then copies them in
   * front of the frame. (Being in a map's value also puts the struct in
   * the datapath's BTF, which `vfsteer metadata header` writes out.) */
  struct vfsteer_meta rx;
};

/* skb->cb words carrying the resume state across tail calls. A user
 * program must leave cb[0..2] alone (it may use cb[3] and cb[4]). */
#define VFS_CB_MAGIC 0x76667374u /* "vfst" */
#define VFS_CB_MAGIC_WORD 0
#define VFS_CB_CHAIN_WORD 1      /* gen << 16 | chain slot */
#define VFS_CB_STAGE_WORD 2      /* next stage to run */

#endif /* VFSTEER_DATAPATH_ABI_H */
