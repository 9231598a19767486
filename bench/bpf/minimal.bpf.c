// SPDX-License-Identifier: GPL-2.0
/* The baselines for bench/host_datapath: parse Ethernet, IPv4 and UDP, then
 * redirect, with no tables: what any tc (or XDP) datapath must at least do;
 * and the same with one hash lookup of a key as long as the datapath's
 * compact rule key: what any table-driven classifier must at least do. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

volatile const __u32 target_ifindex = 1;

/* 48 bytes, like struct vfs_compact_rule_key: the kernel hashes all of it. */
struct floor_key {
  __u32 ifindex;
  __u32 dst4;
  __u16 dport;
  __u8 proto;
  __u8 pad[37];
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 262144);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct floor_key);
  __type(value, __u32);
} floor_rules SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct floor_key);
} floor_scratch SEC(".maps");

/* The UDP header of a UDP/IPv4 frame with a non-zero destination port, or 0. */
static __always_inline struct udphdr *udp4(void *data, void *end) {
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) return 0;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP) return 0;
  struct udphdr *udp = (void *)ip + ip->ihl * 4;
  if ((void *)(udp + 1) > end) return 0;
  return udp->dest != 0 ? udp : 0;
}

static __always_inline int is_udp4(void *data, void *end) { return udp4(data, end) != 0; }

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

SEC("tc")
int minimal_lookup(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct udphdr *udp = udp4(data, end);
  if (!udp) return TC_ACT_OK;
  __u32 zero = 0;
  struct floor_key *k = bpf_map_lookup_elem(&floor_scratch, &zero);
  if (!k) return TC_ACT_OK;
  struct iphdr *ip = data + sizeof(struct ethhdr);
  k->ifindex = skb->ingress_ifindex;
  k->dst4 = ip->daddr;
  k->dport = udp->dest;
  k->proto = IPPROTO_UDP;
  if (!bpf_map_lookup_elem(&floor_rules, k)) return TC_ACT_OK;
  return bpf_redirect(target_ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
