// SPDX-License-Identifier: GPL-2.0
/* Programs that belong to someone else: tests attach them next to vfsteer's
 * (tc ingress, XDP) and check that vfsteer leaves them alone. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int foreign_tc(struct __sk_buff *skb) { return -1; /* TC_ACT_UNSPEC: next filter */ }

SEC("xdp")
int foreign_xdp(struct xdp_md *ctx) { return XDP_PASS; }

char LICENSE[] SEC("license") = "GPL";
