// SPDX-License-Identifier: GPL-2.0
/* A user `bpf` stage that reads vfsteer's metadata (vfsteer_meta_of) and
 * records it next to what the kernel says about the same frame, then lets
 * the chain go on. Key 0: frames without a VLAN tag, 1: tagged ones. The
 * map is pinned by name in vfsteer's directory, where the test reads it. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "meta_seen.h"

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, struct seen);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} meta_seen SEC(".maps");

SEC("tc")
int meta_stage(struct __sk_buff *skb) {
  __u32 key = skb->vlan_present ? 1 : 0;
  struct seen *s = bpf_map_lookup_elem(&meta_seen, &key);
  if (s) record_seen(skb, s);
  return vfsteer_continue(skb);
}

char LICENSE[] SEC("license") = "GPL";
