/* What the test programs that read vfsteer's metadata record per frame kind
 * (tests/netns/rx_metadata_test.cpp reads it as struct Seen). */
#ifndef VFSTEER_TEST_META_SEEN_H
#define VFSTEER_TEST_META_SEEN_H

#include <linux/bpf.h>
#include "vfsteer_stage.h"

struct seen {
  __u32 frames;
  __u32 found;           /* vfsteer_meta_of() found vfsteer's metadata */
  __u32 valid;
  __u32 rx_hash;
  __u32 rx_hash_type;
  __u32 skb_hash;        /* the kernel's flow hash of the same frame */
  __u32 vlan_proto;      /* network order, as in the metadata */
  __u32 vlan_tci;
  __u32 skb_vlan_present;
  __u32 skb_vlan_tci;
  __u32 verdict;
  __u32 ifindex;
};

/* Records what vfsteer's metadata and the kernel say about this frame. */
static __always_inline void record_seen(struct __sk_buff *skb, struct seen *s) {
  s->frames++;
  s->skb_hash = bpf_get_hash_recalc(skb);
  s->skb_vlan_present = skb->vlan_present;
  s->skb_vlan_tci = skb->vlan_tci;
  const struct vfsteer_meta *m = vfsteer_meta_of(skb);
  if (!m) return;
  s->found++;
  s->valid = m->valid;
  s->rx_hash = m->rx_hash;
  s->rx_hash_type = m->rx_hash_type;
  s->vlan_proto = m->vlan_proto;
  s->vlan_tci = m->vlan_tci;
  s->verdict = m->verdict;
  s->ifindex = m->ifindex;
}

#endif
