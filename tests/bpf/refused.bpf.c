// SPDX-License-Identifier: GPL-2.0
/* A bpf stage the verifier refuses: it reads the packet without checking
 * the bounds. For the bad-input tests. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int unchecked(struct __sk_buff *skb) {
  unsigned char *data = (unsigned char *)(long)skb->data;
  return data[20];
}

char LICENSE[] SEC("license") = "GPL";
