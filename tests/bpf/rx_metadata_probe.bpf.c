// SPDX-License-Identifier: GPL-2.0
/* The ground truth for `vfsteer metadata show`: a device-bound XDP program
 * that calls each XDP RX metadata kfunc on every frame and records what it
 * returned (-EOPNOTSUPP: the driver does not implement it). */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/* Only the name matters for linking against the kernel's kfunc. */
enum xdp_rss_hash_type { XDP_RSS_TYPE_NONE = 0 };

extern int bpf_xdp_metadata_rx_hash(const struct xdp_md *ctx, __u32 *hash,
				    enum xdp_rss_hash_type *rss_type) __ksym;
extern int bpf_xdp_metadata_rx_timestamp(const struct xdp_md *ctx, __u64 *timestamp) __ksym;
extern int bpf_xdp_metadata_rx_vlan_tag(const struct xdp_md *ctx, __be16 *vlan_proto,
					__u16 *vlan_tci) __ksym;

/* 0 rx_hash, 1 rx_timestamp, 2 vlan_tag: the last return code; 3: frames. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __s64);
} results SEC(".maps");

static void record(__u32 slot, __s64 value)
{
	__s64 *v = bpf_map_lookup_elem(&results, &slot);

	if (v)
		*v = value;
}

SEC("xdp")
int rx_metadata_probe(struct xdp_md *ctx)
{
	enum xdp_rss_hash_type type;
	__u64 timestamp;
	__be16 proto;
	__u32 hash;
	__u16 tci;
	__u32 frames = 3;
	__s64 *count;

	record(0, bpf_xdp_metadata_rx_hash(ctx, &hash, &type));
	record(1, bpf_xdp_metadata_rx_timestamp(ctx, &timestamp));
	record(2, bpf_xdp_metadata_rx_vlan_tag(ctx, &proto, &tci));
	count = bpf_map_lookup_elem(&results, &frames);
	if (count)
		__sync_fetch_and_add(count, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
