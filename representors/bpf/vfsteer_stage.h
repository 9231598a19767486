/* For authors of programs used as vfsteer `bpf` stages (docs/bpf-stage.md).
 *
 *   #include "vfsteer_stage.h"
 *   SEC("tc") int my_stage(struct __sk_buff *skb) {
 *     ...                              // look at or change the packet
 *     return vfsteer_continue(skb);    // go on with the chain's next stage
 *   }
 *
 * Returning anything else ends the chain with that tc verdict
 * (TC_ACT_SHOT drops, TC_ACT_OK passes to the host stack, TC_ACT_REDIRECT
 * after bpf_redirect() sends it). Do not change skb->cb[0..2]: they carry
 * vfsteer's place in the chain (cb[3] and cb[4] are free).
 *
 * What the NIC knew about the packet (RX hash, timestamp, a VLAN tag it
 * took off), where vfsteer's XDP entry could read it, is one load away:
 *
 *   const struct vfsteer_meta *m = vfsteer_meta_of(skb);
 *   if (m && (m->valid & VFSTEER_META_RX_HASH)) ... m->rx_hash ...  */
#ifndef VFSTEER_STAGE_H
#define VFSTEER_STAGE_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "vfsteer_meta.h"

/* vfsteer's program array, found by name in vfsteer's pin directory when
 * vfsteer loads this object. Must match the datapath's definition. */
struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 65);
  __type(key, __u32);
  __type(value, __u32);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} vfs_jmp SEC(".maps");

static __always_inline int vfsteer_continue(struct __sk_buff *skb) {
  bpf_tail_call(skb, &vfs_jmp, 0);
  return TC_ACT_SHOT; /* only reached if vfsteer's resume entry is gone */
}

/* vfsteer's metadata in front of the packet (vfsteer_meta.h), or 0 when
 * there is none: the port runs no XDP entry, its driver keeps no XDP
 * metadata, or an earlier stage rebuilt the packet. Only the fields whose
 * bit is set in `valid` were filled in by the driver. */
static __always_inline const struct vfsteer_meta *vfsteer_meta_of(struct __sk_buff *skb) {
  /* Puts struct vfsteer_meta in the object's BTF (a CO-RE relocation that
   * libbpf resolves to 0: no kernel has the type), where vfsteer finds that
   * the stage reads its metadata and checks the layout at apply. */
  if (bpf_core_type_exists(struct vfsteer_meta)) return 0;
  void *data = (void *)(long)skb->data;
  const struct vfsteer_meta *m = (void *)(long)skb->data_meta;
  if ((void *)(m + 1) > data || m->magic != VFSTEER_META_MAGIC) return 0;
  return m;
}

#endif
