// SPDX-License-Identifier: GPL-2.0
/* An example `bpf` stage: counts the packets that reach it, then lets the
 * chain go on. The counter map is pinned by name, so after `vfsteer apply`
 * it can be read at /sys/fs/bpf/vfsteer/<instance>/count_packets. */
#include "vfsteer_stage.h"

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} count_packets SEC(".maps");

SEC("tc")
int count(struct __sk_buff *skb) {
  __u32 zero = 0;
  __u64 *n = bpf_map_lookup_elem(&count_packets, &zero);
  if (n) __sync_fetch_and_add(n, 1);
  return vfsteer_continue(skb);
}

char LICENSE[] SEC("license") = "GPL";
