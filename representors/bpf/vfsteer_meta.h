/* What vfsteer's XDP entry leaves in front of every frame it passes on to
 * tc, as XDP metadata: what the NIC's driver knew about the frame (read
 * with the XDP RX metadata kfuncs, on ports whose driver has them) and
 * vfsteer's own classification. A tc program (the host datapath, a user
 * `bpf` stage) reads it from skb->data_meta with vfsteer_meta() in
 * vfsteer_stage.h. Included by BPF C and by C++; 32 bytes, the most XDP
 * metadata the kernel allows. */
#ifndef VFSTEER_META_H
#define VFSTEER_META_H

#ifdef __cplusplus
#include <cstdint>
#define VFSTEER_META_U8 uint8_t
#define VFSTEER_META_U16 uint16_t
#define VFSTEER_META_U32 uint32_t
#define VFSTEER_META_U64 uint64_t
#else
#define VFSTEER_META_U8 __u8
#define VFSTEER_META_U16 __u16
#define VFSTEER_META_U32 __u32
#define VFSTEER_META_U64 __u64
#endif

/* "vfm" and the layout's version in the low byte: a program built for
 * another layout does not mistake this one for its own. */
#define VFSTEER_META_VERSION 1
#define VFSTEER_META_MAGIC (0x76666d00u | VFSTEER_META_VERSION)

/* Bits of `valid`: which fields the driver filled in for this frame. */
#define VFSTEER_META_RX_HASH 0x1      /* rx_hash, rx_hash_type */
#define VFSTEER_META_RX_TIMESTAMP 0x2 /* rx_timestamp */
#define VFSTEER_META_VLAN 0x4         /* vlan_proto, vlan_tci: a tag the NIC took off the frame */

struct vfsteer_meta {
  VFSTEER_META_U32 magic;        /* VFSTEER_META_MAGIC */
  VFSTEER_META_U16 valid;        /* VFSTEER_META_* bits */
  VFSTEER_META_U16 rx_hash_type; /* enum xdp_rss_hash_type (linux/netdevice.h) */
  VFSTEER_META_U32 rx_hash;      /* the NIC's RSS hash */
  VFSTEER_META_U16 vlan_proto;   /* network byte order: 0x8100 or 0x88a8 */
  VFSTEER_META_U16 vlan_tci;     /* host byte order: PCP, DEI, VID */
  VFSTEER_META_U64 rx_timestamp; /* ns, the NIC's hardware clock */
  /* vfsteer's own, for its tc entry: the XDP entry's verdict. */
  VFSTEER_META_U32 ifindex;      /* the port the XDP entry saw the frame on */
  VFSTEER_META_U16 slot;         /* the chain's slot, for VFS_HO_CHAIN */
  VFSTEER_META_U8 gen;           /* the generation of the tables it used */
  VFSTEER_META_U8 verdict;       /* enum vfs_handover_verdict (datapath_abi.h) */
};

#ifdef __cplusplus
static_assert(sizeof(struct vfsteer_meta) == 32, "XDP metadata holds at most 32 bytes");
#else
_Static_assert(sizeof(struct vfsteer_meta) == 32, "XDP metadata holds at most 32 bytes");
#endif

#undef VFSTEER_META_U8
#undef VFSTEER_META_U16
#undef VFSTEER_META_U32
#undef VFSTEER_META_U64

#endif /* VFSTEER_META_H */
