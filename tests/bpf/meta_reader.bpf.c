// SPDX-License-Identifier: GPL-2.0
/* Reads what vfsteer's XDP entry left in front of frames, as a user stage
 * would (vfsteer_meta_of), next to what the kernel itself says about the
 * same frame (its flow hash, the VLAN tag in skb metadata). And a tc
 * egress program that gives frames a VLAN tag the way a NIC that strips
 * tags delivers them: in skb metadata, not in the frame. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "meta_seen.h"

#define READER_PORT 9990 /* frames to UDP ports 9990.. are read ... */
#define TAGGED_PORT 9991 /* ... and these are tagged on the way out */
#define TAGGED_VID 77

/* Key: UDP destination port - READER_PORT. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, struct seen);
} seen SEC(".maps");

/* The UDP destination port of an IPv4 frame with no tag in it, or 0. */
static __always_inline __u16 udp_dport(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP)) return 0;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_UDP || ip->ihl != 5) return 0;
  struct udphdr *udp = (void *)(ip + 1);
  if ((void *)(udp + 1) > data_end) return 0;
  return bpf_ntohs(udp->dest);
}

SEC("tc")
int tag_egress(struct __sk_buff *skb) {
  if (udp_dport(skb) == TAGGED_PORT) bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), TAGGED_VID);
  return TC_ACT_OK;
}

SEC("tc")
int read_meta(struct __sk_buff *skb) {
  __u16 port = udp_dport(skb);
  if (port < READER_PORT || port > TAGGED_PORT) return TC_ACT_OK;
  __u32 key = port - READER_PORT;
  struct seen *s = bpf_map_lookup_elem(&seen, &key);
  if (!s) return TC_ACT_SHOT;
  record_seen(skb, s);
  return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
