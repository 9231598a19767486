// SPDX-License-Identifier: GPL-2.0
/* A bpf stage built against another layout of struct vfsteer_meta (a field
 * moved): vfsteer must refuse it at apply instead of letting it misread the
 * metadata. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

struct vfsteer_meta {
  __u32 magic;
  __u32 rx_hash; /* before valid: not this vfsteer's layout */
  __u16 valid;
  __u16 rx_hash_type;
  __u16 vlan_proto;
  __u16 vlan_tci;
  __u64 rx_timestamp;
  __u32 ifindex;
  __u16 slot;
  __u8 gen;
  __u8 verdict;
};

SEC("tc")
int other_layout(struct __sk_buff *skb) {
  if (bpf_core_type_exists(struct vfsteer_meta)) return TC_ACT_SHOT;
  const struct vfsteer_meta *m = (void *)(long)skb->data_meta;
  if ((void *)(m + 1) > (void *)(long)skb->data) return TC_ACT_OK;
  return m->rx_hash ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
