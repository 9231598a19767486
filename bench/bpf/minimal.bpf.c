// SPDX-License-Identifier: GPL-2.0
/* The baselines for bench/host_datapath: parse Ethernet, IPv4 and UDP, then
 * redirect, with no tables. What any tc (or XDP) datapath must at least do. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

volatile const __u32 target_ifindex = 1;

/* 1: a UDP/IPv4 frame with a non-zero destination port. */
static __always_inline int is_udp4(void *data, void *end) {
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) return 0;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP) return 0;
  struct udphdr *udp = (void *)ip + ip->ihl * 4;
  if ((void *)(udp + 1) > end) return 0;
  return udp->dest != 0;
}

SEC("tc")
int minimal(struct __sk_buff *skb) {
  if (!is_udp4((void *)(long)skb->data, (void *)(long)skb->data_end)) return TC_ACT_OK;
  return bpf_redirect(target_ifindex, 0);
}

SEC("xdp")
int minimal_xdp(struct xdp_md *ctx) {
  if (!is_udp4((void *)(long)ctx->data, (void *)(long)ctx->data_end)) return XDP_PASS;
  return bpf_redirect(target_ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
