// SPDX-License-Identifier: GPL-2.0
/* The baseline for bench/host_datapath: parse Ethernet, IPv4 and UDP, then
 * redirect, with no tables. What any tc datapath must at least do. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

volatile const __u32 target_ifindex = 1;

SEC("tc")
int minimal(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) return TC_ACT_OK;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP) return TC_ACT_OK;
  struct udphdr *udp = (void *)ip + ip->ihl * 4;
  if ((void *)(udp + 1) > end) return TC_ACT_OK;
  if (udp->dest == 0) return TC_ACT_OK;
  return bpf_redirect(target_ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
