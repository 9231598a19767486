// SPDX-License-Identifier: GPL-2.0
/*
 * vfsteer's NIC model for netdevsim: tc flower offload that accepts and
 * refuses rules the way mlx5, ice and nfp do (Linux 6.1 sources), so that
 * the VM tests can see skip_sw rules reported in_hw, and refusals in the
 * drivers' own words.
 *
 * Per netdevsim device, in debugfs (netdevsim/netdevsimN/):
 *   flower_model      off (the kernel's own netdevsim: flower refused),
 *                     mlx5, ice, nfp, or ixgbe (u32 offload, ixgbe.c; no
 *                     flower). Changing it needs no rules held.
 *   flower_budget     rules the device holds at most (0: no limit);
 *                     past it a rule is refused with ENOSPC.
 *   flower_max_prio   highest tc priority accepted (the model sets its
 *   flower_max_chain  driver's default; tests may lower them).
 *   flower_fail_next  the next N rule insertions fail (EIO).
 *   flower_rules      one line per rule held: ifname chain prio packets bytes
 *                     (read); "IFNAME CHAIN PRIO PACKETS BYTES" sets the
 *                     counters of that rule (write), reported by tc stats.
 *
 * Each check names the driver function it comes from. What the model does
 * not check is accepted: it is a model of the drivers' refusals, not of
 * their hardware.
 */
#include <linux/debugfs.h>
#include <linux/etherdevice.h>
#include <linux/if_vlan.h>
#include <linux/rtnetlink.h>
#include <net/flow_offload.h>
#include <net/geneve.h>
#include <net/pkt_cls.h>
#include <net/vxlan.h>

#include "netdevsim.h"

#define NSIM_EA(extack, msg) NL_SET_ERR_MSG_MOD((extack), msg)

static const char *const nsim_flower_model_names[] = {
	[NSIM_FLOWER_OFF] = "off",
	[NSIM_FLOWER_MLX5] = "mlx5",
	[NSIM_FLOWER_ICE] = "ice",
	[NSIM_FLOWER_NFP] = "nfp",
	[NSIM_FLOWER_IXGBE] = "ixgbe",
	[NSIM_FLOWER_I40E] = "i40e",
};

/* Models of drivers that offload flower (ixgbe offloads u32 only; the
 * i40e model takes ethtool flow rules only).
 */
static bool nsim_flower_model_has_flower(enum nsim_flower_model model)
{
	return model != NSIM_FLOWER_OFF && model != NSIM_FLOWER_IXGBE && model != NSIM_FLOWER_I40E;
}

struct nsim_flower_rule {
	struct list_head list;
	unsigned long cookie;
	char ifname[IFNAMSIZ];		/* no reference held: tc destroys */
	u32 chain;			/* a device's rules before it goes */
	u32 prio;
	u64 packets, bytes;		/* set by the test */
	u64 rep_packets, rep_bytes;	/* already reported to tc */
};

/* What one rule asks of the device, gathered once for the checks. */
struct nsim_flower_req {
	struct nsim_dev *nsim_dev;
	struct net_device *dev;		/* where the filter sits */
	bool on_tunnel;			/* dev is a vxlan/geneve device */
	bool on_pf;			/* dev is the PF (uplink) port */
	struct flow_cls_offload *f;
	struct flow_rule *rule;
	struct netlink_ext_ack *extack;
	u64 used_keys;
	u8 ip_proto;			/* 0 when not matched */
	bool n_proto_set;
	__be16 n_proto;
};

/* Is dev a port (PF or VF representor) of nsim_dev? */
static bool nsim_flower_port_of(struct nsim_dev *nsim_dev, const struct net_device *dev, bool *is_pf)
{
	struct netdevsim *ns;

	if (!dev || !nsim_netdev_is_port(dev))
		return false;
	ns = netdev_priv(dev);
	if (ns->nsim_dev != nsim_dev)
		return false;
	if (is_pf)
		*is_pf = nsim_dev_port_is_pf(ns->nsim_dev_port);
	return true;
}

static bool nsim_flower_is_tunnel(const struct net_device *dev)
{
	return netif_is_vxlan(dev) || netif_is_geneve(dev);
}

static bool has_key(const struct nsim_flower_req *r, enum flow_dissector_key_id key)
{
	return r->used_keys & BIT_ULL(key);
}

#define KEY(k) BIT_ULL(FLOW_DISSECTOR_KEY_##k)
#define TUNNEL_KEYS (KEY(ENC_KEYID) | KEY(ENC_IPV4_ADDRS) | KEY(ENC_IPV6_ADDRS) | \
		     KEY(ENC_PORTS) | KEY(ENC_CONTROL) | KEY(ENC_OPTS) | KEY(ENC_IP))

/* ---------------------------------------------------------------- mlx5 */

/* drivers/net/ethernet/mellanox/mlx5/core/en_tc.c, __parse_cls_flower() */
static int nsim_mlx5_match(struct nsim_flower_req *r)
{
	const u64 supported = KEY(META) | KEY(CONTROL) | KEY(BASIC) | KEY(ETH_ADDRS) |
		KEY(VLAN) | KEY(CVLAN) | KEY(IPV4_ADDRS) | KEY(IPV6_ADDRS) | KEY(PORTS) |
		KEY(ENC_KEYID) | KEY(ENC_IPV4_ADDRS) | KEY(ENC_IPV6_ADDRS) | KEY(ENC_PORTS) |
		KEY(ENC_CONTROL) | KEY(TCP) | KEY(IP) | KEY(CT) | KEY(ENC_IP) | KEY(ENC_OPTS) |
		KEY(ICMP) | KEY(MPLS);

	if (r->used_keys & ~supported) {
		NSIM_EA(r->extack, "Unsupported key");
		return -EOPNOTSUPP;
	}
	/* en_tc.c, parse_tunnel_attr(): tunnel keys only on a tunnel device */
	if ((r->used_keys & TUNNEL_KEYS) && !r->on_tunnel) {
		NSIM_EA(r->extack, "Match on tunnel is not supported");
		return -EOPNOTSUPP;
	}
	/* en/tc_tun.c, mlx5e_tc_tun_parse_udp_ports() */
	if (r->on_tunnel && !has_key(r, FLOW_DISSECTOR_KEY_ENC_PORTS)) {
		NSIM_EA(r->extack, "UDP tunnel decap filter must include enc_dst_port condition");
		return -EOPNOTSUPP;
	}
	/* __parse_cls_flower(): L4 ports of TCP and UDP only */
	if (has_key(r, FLOW_DISSECTOR_KEY_PORTS) &&
	    r->ip_proto != IPPROTO_TCP && r->ip_proto != IPPROTO_UDP) {
		NSIM_EA(r->extack, "Only UDP and TCP transports are supported for L4 matching");
		return -EINVAL;
	}
	return 0;
}

/* en/tc/act/mirred.c, verify_uplink_forwarding() and parse_mirred() */
static int nsim_mlx5_mirred(struct nsim_flower_req *r, const struct flow_action_entry *act)
{
	bool out_pf;

	if (!nsim_flower_port_of(r->nsim_dev, act->dev, &out_pf)) {
		NSIM_EA(r->extack, "devices are not on same switch HW, can't offload forwarding");
		return -EOPNOTSUPP;
	}
	if (r->on_pf && out_pf) {
		NSIM_EA(r->extack, "devices are both uplink, can't offload forwarding");
		return -EOPNOTSUPP;
	}
	if (act->dev == r->dev && !out_pf) {
		NSIM_EA(r->extack, "can't forward from a VF to itself");
		return -EOPNOTSUPP;
	}
	return 0;
}

/* en/tc/act/police.c, tc_act_can_offload_police(); en_tc.c,
 * mlx5e_policer_validate().
 */
static int nsim_mlx5_police(struct nsim_flower_req *r, const struct flow_action_entry *act,
			    bool last)
{
	if (act->police.notexceed.act_id != FLOW_ACTION_PIPE &&
	    act->police.notexceed.act_id != FLOW_ACTION_ACCEPT) {
		NSIM_EA(r->extack, "Offload not supported when conform action is not pipe or ok");
		return -EOPNOTSUPP;
	}
	if (act->police.exceed.act_id != FLOW_ACTION_DROP) {
		NSIM_EA(r->extack, "Offload not supported when exceed action is not drop");
		return -EOPNOTSUPP;
	}
	if (act->police.notexceed.act_id == FLOW_ACTION_ACCEPT && !last) {
		NSIM_EA(r->extack, "Offload not supported when conform action is ok, but action is not last");
		return -EOPNOTSUPP;
	}
	if (act->police.peakrate_bytes_ps || act->police.avrate || act->police.overhead) {
		NSIM_EA(r->extack, "Offload not supported when peakrate/avrate/overhead is configured");
		return -EOPNOTSUPP;
	}
	return 0;
}

/* en/tc/act/act.c, tc_acts_fdb[] (the eswitch's actions), and each action's
 * parser.
 */
static int nsim_mlx5_actions(struct nsim_flower_req *r)
{
	struct flow_action *actions = &r->rule->action;
	const struct flow_action_entry *act;
	struct nsim_flower *fl = &r->nsim_dev->flower;
	int i, vlans = 0, err;

	flow_action_for_each(i, act, actions) {
		switch (act->id) {
		case FLOW_ACTION_ACCEPT:
		case FLOW_ACTION_DROP:
		case FLOW_ACTION_TRAP:
		case FLOW_ACTION_TUNNEL_DECAP:
			break;
		case FLOW_ACTION_REDIRECT:
		case FLOW_ACTION_MIRRED:
			err = nsim_mlx5_mirred(r, act);
			if (err)
				return err;
			break;
		case FLOW_ACTION_VLAN_PUSH:
		case FLOW_ACTION_VLAN_POP:
			/* en/tc/act/vlan.c, parse_tc_vlan_action():
			 * MLX5_FS_VLAN_DEPTH is 2
			 */
			if (vlans >= 2) {
				NSIM_EA(r->extack, "Total vlans used is greater than supported");
				return -EOPNOTSUPP;
			}
			vlans++;
			break;
		case FLOW_ACTION_POLICE:
			err = nsim_mlx5_police(r, act, i == actions->num_entries - 1);
			if (err)
				return err;
			break;
		case FLOW_ACTION_GOTO:
			/* en/tc/act/goto.c, validate_goto_chain() */
			if (fl->max_chain != U32_MAX - 1 && act->chain_index <= r->f->common.chain_index) {
				NSIM_EA(r->extack, "Goto lower numbered chain isn't supported");
				return -EOPNOTSUPP;
			}
			if (act->chain_index > fl->max_chain) {
				NSIM_EA(r->extack, "Requested destination chain is out of supported range");
				return -EOPNOTSUPP;
			}
			break;
		default:
			/* en_tc.c, parse_tc_actions(): no parser for the id */
			NSIM_EA(r->extack, "The offload action is not supported");
			return -EOPNOTSUPP;
		}
	}
	return 0;
}

/* en_tc.c, mlx5e_tc_add_fdb_flow(): chain and priority ranges, from
 * lib/fs_chains.c (FDB_TC_MAX_PRIO without ignore_flow_level).
 */
static int nsim_mlx5_check(struct nsim_flower_req *r)
{
	struct nsim_flower *fl = &r->nsim_dev->flower;
	int err;

	err = nsim_mlx5_match(r);
	if (err)
		return err;
	err = nsim_mlx5_actions(r);
	if (err)
		return err;
	if (r->f->common.chain_index > fl->max_chain) {
		NSIM_EA(r->extack, "Requested chain is out of supported range");
		return -EOPNOTSUPP;
	}
	if (r->f->common.prio > fl->max_prio) {
		NSIM_EA(r->extack, "Requested priority is out of supported range");
		return -EOPNOTSUPP;
	}
	return 0;
}

/* ----------------------------------------------------------------- ice */

/* drivers/net/ethernet/intel/ice/ice_tc_lib.c, ice_parse_cls_flower() */
static int nsim_ice_match(struct nsim_flower_req *r)
{
	const u64 supported = KEY(CONTROL) | KEY(BASIC) | KEY(ETH_ADDRS) | KEY(VLAN) |
		KEY(CVLAN) | KEY(IPV4_ADDRS) | KEY(IPV6_ADDRS) | KEY(ENC_CONTROL) |
		KEY(ENC_KEYID) | KEY(ENC_IPV4_ADDRS) | KEY(ENC_IPV6_ADDRS) | KEY(ENC_PORTS) |
		KEY(ENC_OPTS) | KEY(IP) | KEY(ENC_IP) | KEY(PORTS) | KEY(PPPOE) | KEY(L2TPV3);
	struct flow_match_vlan vlan;

	if (r->used_keys & ~supported) {
		NSIM_EA(r->extack, "Unsupported key used");
		return -EOPNOTSUPP;
	}
	if ((r->used_keys & (KEY(ENC_IPV4_ADDRS) | KEY(ENC_IPV6_ADDRS) | KEY(ENC_KEYID) |
			     KEY(ENC_PORTS))) && !r->on_tunnel) {
		NSIM_EA(r->extack, "Tunnel key used, but device isn't a tunnel");
		return -EOPNOTSUPP;
	}
	if (has_key(r, FLOW_DISSECTOR_KEY_VLAN)) {
		flow_rule_match_vlan(r->rule, &vlan);
		if (vlan.mask->vlan_id && vlan.mask->vlan_id != VLAN_VID_MASK) {
			NSIM_EA(r->extack, "Bad VLAN mask");
			return -EINVAL;
		}
	}
	if (has_key(r, FLOW_DISSECTOR_KEY_CVLAN)) {
		flow_rule_match_cvlan(r->rule, &vlan);
		if (vlan.mask->vlan_id && vlan.mask->vlan_id != VLAN_VID_MASK) {
			NSIM_EA(r->extack, "Bad CVLAN mask");
			return -EINVAL;
		}
	}
	if (has_key(r, FLOW_DISSECTOR_KEY_PORTS) &&
	    r->ip_proto != IPPROTO_TCP && r->ip_proto != IPPROTO_UDP) {
		NSIM_EA(r->extack, "Only UDP and TCP transport are supported");
		return -EINVAL;
	}
	return 0;
}

/* ice_tc_lib.c, ice_eswitch_tc_parse_action() and
 * ice_eswitch_add_tc_fltr(): drop, or redirect. A redirect to a
 * representor is an RX rule from the uplink (ICE_ESWITCH_FLTR_INGRESS,
 * source the PF); a redirect to the PF or a tunnel device is a TX rule
 * from the VF (ICE_ESWITCH_FLTR_EGRESS).
 */
static int nsim_ice_actions(struct nsim_flower_req *r)
{
	const struct flow_action_entry *act;
	bool out_pf;
	int i;

	flow_action_for_each(i, act, &r->rule->action) {
		switch (act->id) {
		case FLOW_ACTION_DROP:
			break;
		case FLOW_ACTION_REDIRECT:
			if (!nsim_flower_port_of(r->nsim_dev, act->dev, &out_pf) &&
			    !(act->dev && nsim_flower_is_tunnel(act->dev))) {
				NSIM_EA(r->extack, "Unsupported netdevice in switchdev mode");
				return -EINVAL;
			}
			/* The driver takes these rules but installs them
			 * for the other direction: an uplink rule sending
			 * to the uplink becomes a VF TX rule of the PF, a
			 * representor's rule sending to a representor an RX
			 * rule from the wire. They would never see the
			 * packets asked for, so the model refuses them.
			 */
			if (r->on_pf && out_pf) {
				NSIM_EA(r->extack, "model: ice installs an uplink-to-uplink redirect as a TX rule of the PF (ice_eswitch_add_tc_fltr)");
				return -EOPNOTSUPP;
			}
			if (!r->on_pf && !r->on_tunnel && !out_pf && nsim_flower_port_of(r->nsim_dev, act->dev, NULL)) {
				NSIM_EA(r->extack, "model: ice installs a representor-to-representor redirect as an RX rule from the uplink (ice_eswitch_add_tc_fltr); the VF's packets never meet it");
				return -EOPNOTSUPP;
			}
			break;
		default:
			NSIM_EA(r->extack, "Unsupported action in switchdev mode");
			return -EINVAL;
		}
	}
	return 0;
}

static int nsim_ice_check(struct nsim_flower_req *r)
{
	int err;

	/* ice_main.c, ice_setup_tc_cls_flower(): chain 0 only, no message */
	if (r->f->common.chain_index)
		return -EOPNOTSUPP;
	err = nsim_ice_match(r);
	if (err)
		return err;
	return nsim_ice_actions(r);
}

/* ----------------------------------------------------------------- nfp */

/* The firmware features the model's nfp has (nfp_flower_priv
 * flower_ext_feats): VLAN PCP, IPv6 tunnels, GENEVE; no QinQ, no meters
 * (NFP_FL_FEATS_QOS_METER).
 */

/* drivers/net/ethernet/netronome/nfp/flower/offload.c,
 * nfp_flower_calculate_key_layers()
 */
static int nsim_nfp_match(struct nsim_flower_req *r)
{
	const u64 supported = KEY(CONTROL) | KEY(BASIC) | KEY(IPV4_ADDRS) | KEY(IPV6_ADDRS) |
		KEY(TCP) | KEY(PORTS) | KEY(ETH_ADDRS) | KEY(VLAN) | KEY(CVLAN) | KEY(ENC_KEYID) |
		KEY(ENC_IPV4_ADDRS) | KEY(ENC_IPV6_ADDRS) | KEY(ENC_CONTROL) | KEY(ENC_PORTS) |
		KEY(ENC_OPTS) | KEY(ENC_IP) | KEY(MPLS) | KEY(CT) | KEY(META) | KEY(IP);
	const u64 tun_keys = TUNNEL_KEYS;
	const u64 tun_required4 = KEY(ENC_CONTROL) | KEY(ENC_IPV4_ADDRS);
	const u64 tun_required6 = KEY(ENC_CONTROL) | KEY(ENC_IPV6_ADDRS);
	const u64 above_l2 = KEY(IPV4_ADDRS) | KEY(IPV6_ADDRS) | KEY(PORTS) | KEY(IP) | KEY(TCP);
	const u64 above_l3 = KEY(PORTS) | KEY(TCP);

	if (r->used_keys & ~supported) {
		NSIM_EA(r->extack, "unsupported offload: match not supported");
		return -EOPNOTSUPP;
	}
	if ((r->used_keys & tun_keys) && (r->used_keys & tun_required4) != tun_required4 &&
	    (r->used_keys & tun_required6) != tun_required6) {
		NSIM_EA(r->extack, "unsupported offload: tunnel match not supported");
		return -EOPNOTSUPP;
	}
	if (has_key(r, FLOW_DISSECTOR_KEY_CVLAN)) {
		NSIM_EA(r->extack, "unsupported offload: loaded firmware does not support VLAN QinQ offload");
		return -EOPNOTSUPP;
	}
	if (has_key(r, FLOW_DISSECTOR_KEY_ENC_CONTROL)) {
		struct flow_match_control ctl;

		flow_rule_match_enc_control(r->rule, &ctl);
		if (ctl.key->addr_type == FLOW_DISSECTOR_KEY_IPV4_ADDRS) {
			struct flow_match_ipv4_addrs a;

			flow_rule_match_enc_ipv4_addrs(r->rule, &a);
			if (a.mask->dst != cpu_to_be32(~0)) {
				NSIM_EA(r->extack, "unsupported offload: only an exact match IPv4 destination address is supported");
				return -EOPNOTSUPP;
			}
		} else if (ctl.key->addr_type == FLOW_DISSECTOR_KEY_IPV6_ADDRS) {
			struct flow_match_ipv6_addrs a;

			flow_rule_match_enc_ipv6_addrs(r->rule, &a);
			if (memchr_inv(&a.mask->dst, 0xff, sizeof(a.mask->dst))) {
				NSIM_EA(r->extack, "unsupported offload: only an exact match IPv6 destination address is supported");
				return -EOPNOTSUPP;
			}
		}
		if (!has_key(r, FLOW_DISSECTOR_KEY_ENC_PORTS)) {
			NSIM_EA(r->extack, "unsupported offload: an exact match on L4 destination port is required for non-GRE tunnels");
			return -EOPNOTSUPP;
		} else {
			struct flow_match_ports p;

			flow_rule_match_enc_ports(r->rule, &p);
			if (p.mask->dst != cpu_to_be16(~0)) {
				NSIM_EA(r->extack, "unsupported offload: only an exact match L4 destination port is supported");
				return -EOPNOTSUPP;
			}
		}
	}
	if (r->n_proto_set) {
		switch (ntohs(r->n_proto)) {
		case ETH_P_IP:
		case ETH_P_IPV6:
		case ETH_P_MPLS_UC:
		case ETH_P_MPLS_MC:
		case ETH_P_8021Q:
			break;
		case ETH_P_ARP:
			NSIM_EA(r->extack, "unsupported offload: ARP not supported");
			return -EOPNOTSUPP;
		default:
			NSIM_EA(r->extack, "unsupported offload: match on given EtherType is not supported");
			return -EOPNOTSUPP;
		}
	} else if (r->used_keys & above_l2) {
		NSIM_EA(r->extack, "unsupported offload: cannot match above L2 without specified EtherType");
		return -EOPNOTSUPP;
	}
	switch (r->ip_proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		break;
	default:
		if (r->used_keys & above_l3) {
			NSIM_EA(r->extack, "unsupported offload: cannot match on L4 information without specified IP protocol type");
			return -EOPNOTSUPP;
		}
	}
	return 0;
}

/* flower/action.c, nfp_flower_loop_action() and nfp_flower_output_action() */
static int nsim_nfp_actions(struct nsim_flower_req *r)
{
	const struct flow_action_entry *act;
	int i;

	flow_action_for_each(i, act, &r->rule->action) {
		switch (act->id) {
		case FLOW_ACTION_DROP:
		case FLOW_ACTION_VLAN_POP:
		case FLOW_ACTION_VLAN_PUSH:
		case FLOW_ACTION_TUNNEL_DECAP:	/* "handled by default" */
			break;
		case FLOW_ACTION_REDIRECT:
		case FLOW_ACTION_MIRRED:
			if (!act->dev) {
				NSIM_EA(r->extack, "unsupported offload: invalid egress interface for mirred action");
				return -EOPNOTSUPP;
			}
			if (!nsim_netdev_is_port(act->dev)) {
				NSIM_EA(r->extack, "unsupported offload: egress interface is not an nfp port");
				return -EOPNOTSUPP;
			}
			if (!nsim_flower_port_of(r->nsim_dev, act->dev, NULL)) {
				NSIM_EA(r->extack, "unsupported offload: ingress and egress interfaces are on different devices");
				return -EOPNOTSUPP;
			}
			break;
		case FLOW_ACTION_POLICE:
			NSIM_EA(r->extack, "unsupported offload: unsupported police action in action list");
			return -EOPNOTSUPP;
		default:
			NSIM_EA(r->extack, "unsupported offload: unsupported action in action list");
			return -EOPNOTSUPP;
		}
	}
	return 0;
}

static int nsim_nfp_check(struct nsim_flower_req *r)
{
	int err;

	/* offload.c, offload_pre_check(): chain 0 only, no message */
	if (r->f->common.chain_index)
		return -EOPNOTSUPP;
	err = nsim_nfp_match(r);
	if (err)
		return err;
	return nsim_nfp_actions(r);
}

/* ---------------------------------------------------------- the model */

static struct nsim_flower_rule *nsim_flower_find(struct nsim_flower *fl, unsigned long cookie)
{
	struct nsim_flower_rule *rule;

	list_for_each_entry(rule, &fl->rules, list)
		if (rule->cookie == cookie)
			return rule;
	return NULL;
}

static int nsim_flower_replace(struct nsim_dev *nsim_dev, struct net_device *dev,
			       struct flow_cls_offload *f)
{
	struct nsim_flower *fl = &nsim_dev->flower;
	struct nsim_flower_req r = {
		.nsim_dev = nsim_dev,
		.dev = dev,
		.f = f,
		.rule = flow_cls_offload_flow_rule(f),
		.extack = f->common.extack,
	};
	struct nsim_flower_rule *rule;
	int err;

	r.used_keys = r.rule->match.dissector->used_keys;
	r.on_tunnel = nsim_flower_is_tunnel(dev);
	nsim_flower_port_of(nsim_dev, dev, &r.on_pf);
	if (has_key(&r, FLOW_DISSECTOR_KEY_BASIC)) {
		struct flow_match_basic basic;

		flow_rule_match_basic(r.rule, &basic);
		if (basic.mask->ip_proto)
			r.ip_proto = basic.key->ip_proto;
		r.n_proto_set = basic.mask->n_proto != 0;
		r.n_proto = basic.key->n_proto;
	}

	/* ixgbe_setup_tc_block_cb(): TC_SETUP_CLSU32 only */
	if (!nsim_flower_model_has_flower(nsim_dev->flower.model)) {
		NSIM_EA(r.extack, "model: ixgbe offloads u32 filters only, not flower");
		return -EOPNOTSUPP;
	}
	/* Every driver: rules only in switchdev mode, where representors
	 * exist (mlx5 and ice bind their eswitch tc code to the
	 * representors; nfp's flower app is switchdev only).
	 */
	if (!nsim_esw_mode_is_switchdev(nsim_dev)) {
		NSIM_EA(r.extack, "model: flower offload needs the eswitch in switchdev mode");
		return -EOPNOTSUPP;
	}

	mutex_lock(&fl->lock);
	if (nsim_flower_find(fl, f->cookie)) {
		/* tc replaces a filter by adding the new one first */
		err = 0;
		goto out;
	}
	switch (fl->model) {
	case NSIM_FLOWER_MLX5:
		err = nsim_mlx5_check(&r);
		break;
	case NSIM_FLOWER_ICE:
		err = nsim_ice_check(&r);
		break;
	case NSIM_FLOWER_NFP:
		err = nsim_nfp_check(&r);
		break;
	default:
		err = -EOPNOTSUPP;
	}
	if (err)
		goto out;
	if (fl->fail_next) {
		fl->fail_next--;
		NSIM_EA(r.extack, "model: injected failure (flower_fail_next)");
		err = -EIO;
		goto out;
	}
	if (fl->budget && fl->n_rules >= fl->budget) {
		NSIM_EA(r.extack, "model: no room for another rule (flower_budget)");
		err = -ENOSPC;
		goto out;
	}
	rule = kzalloc(sizeof(*rule), GFP_KERNEL);
	if (!rule) {
		err = -ENOMEM;
		goto out;
	}
	rule->cookie = f->cookie;
	strscpy(rule->ifname, dev->name, sizeof(rule->ifname));
	rule->chain = f->common.chain_index;
	rule->prio = f->common.prio;	/* the tc priority (tp->prio >> 16) */
	list_add_tail(&rule->list, &fl->rules);
	fl->n_rules++;
out:
	mutex_unlock(&fl->lock);
	return err;
}

static void nsim_flower_free(struct nsim_flower *fl, struct nsim_flower_rule *rule)
{
	list_del(&rule->list);
	fl->n_rules--;
	kfree(rule);
}

static int nsim_flower_destroy(struct nsim_dev *nsim_dev, struct flow_cls_offload *f)
{
	struct nsim_flower *fl = &nsim_dev->flower;
	struct nsim_flower_rule *rule;

	mutex_lock(&fl->lock);
	rule = nsim_flower_find(fl, f->cookie);
	if (rule)
		nsim_flower_free(fl, rule);
	mutex_unlock(&fl->lock);
	return rule ? 0 : -ENOENT;
}

static int nsim_flower_stats(struct nsim_dev *nsim_dev, struct flow_cls_offload *f)
{
	struct nsim_flower *fl = &nsim_dev->flower;
	struct nsim_flower_rule *rule;

	/* ice (6.1) has no FLOW_CLS_STATS: ice_setup_tc_cls_flower() */
	if (fl->model == NSIM_FLOWER_ICE)
		return -EINVAL;
	mutex_lock(&fl->lock);
	rule = nsim_flower_find(fl, f->cookie);
	if (rule) {
		/* Drivers report what is new since the last query. */
		flow_stats_update(&f->stats, rule->bytes - rule->rep_bytes,
				  rule->packets - rule->rep_packets, 0, jiffies,
				  FLOW_ACTION_HW_STATS_DELAYED);
		rule->rep_bytes = rule->bytes;
		rule->rep_packets = rule->packets;
	}
	mutex_unlock(&fl->lock);
	return rule ? 0 : -ENOENT;
}

static int nsim_flower_setup(struct nsim_dev *nsim_dev, struct net_device *dev,
			     struct flow_cls_offload *f)
{
	switch (f->command) {
	case FLOW_CLS_REPLACE:
		return nsim_flower_replace(nsim_dev, dev, f);
	case FLOW_CLS_DESTROY:
		return nsim_flower_destroy(nsim_dev, f);
	case FLOW_CLS_STATS:
		return nsim_flower_stats(nsim_dev, f);
	default:
		return -EOPNOTSUPP;
	}
}

bool nsim_flower_enabled(struct nsim_dev *nsim_dev)
{
	return READ_ONCE(nsim_dev->flower.model) != NSIM_FLOWER_OFF;
}

bool nsim_flower_is_ixgbe(struct nsim_dev *nsim_dev)
{
	return READ_ONCE(nsim_dev->flower.model) == NSIM_FLOWER_IXGBE;
}

/* ethtool's RX flow rule ops of the PF: the model's driver answers them
 * (ixgbe.c, i40e.c); the others keep none.
 */
int nsim_model_get_rxnfc(struct net_device *dev, struct ethtool_rxnfc *cmd, u32 *rule_locs)
{
	struct netdevsim *ns = netdev_priv(dev);

	if (READ_ONCE(ns->nsim_dev->flower.model) == NSIM_FLOWER_I40E)
		return nsim_i40e_get_rxnfc(dev, cmd, rule_locs);
	return nsim_fdir_get_rxnfc(dev, cmd, rule_locs);
}

int nsim_model_set_rxnfc(struct net_device *dev, struct ethtool_rxnfc *cmd)
{
	struct netdevsim *ns = netdev_priv(dev);

	if (READ_ONCE(ns->nsim_dev->flower.model) == NSIM_FLOWER_I40E)
		return nsim_i40e_set_rxnfc(dev, cmd);
	return nsim_fdir_set_rxnfc(dev, cmd);
}

/* The PF's and the VF representors' own block callback. */
int nsim_flower_setup_tc(struct netdevsim *ns, struct flow_cls_offload *f)
{
	if (!tc_can_offload_extack(ns->netdev, f->common.extack))
		return -EOPNOTSUPP;
	return nsim_flower_setup(ns->nsim_dev, ns->netdev, f);
}

/* -------------------------------------- tunnel devices: indirect blocks */

/* As mlx5 (en/rep/tc.c, mlx5e_rep_indr_setup_block()) and nfp
 * (flower/offload.c, nfp_flower_indr_setup_tc_cb()) do: a block bound on a
 * vxlan or geneve device's ingress reaches the NIC through an indirect
 * callback, one binding per device.
 */
struct nsim_flower_indr {
	struct list_head list;
	struct net_device *netdev;
	struct nsim_dev *nsim_dev;
};

static LIST_HEAD(nsim_flower_indr_block_list);

static int nsim_flower_indr_block_cb(enum tc_setup_type type, void *type_data, void *cb_priv)
{
	struct nsim_flower_indr *indr = cb_priv;

	if (type != TC_SETUP_CLSFLOWER)
		return -EOPNOTSUPP;
	return nsim_flower_setup(indr->nsim_dev, indr->netdev, type_data);
}

static void nsim_flower_indr_release(void *cb_priv)
{
	struct nsim_flower_indr *indr = cb_priv;
	struct nsim_flower *fl = &indr->nsim_dev->flower;

	mutex_lock(&fl->indr_lock);
	list_del(&indr->list);
	mutex_unlock(&fl->indr_lock);
	kfree(indr);
}

static struct nsim_flower_indr *nsim_flower_indr_find(struct nsim_flower *fl, struct net_device *netdev)
{
	struct nsim_flower_indr *indr;

	list_for_each_entry(indr, &fl->indr_list, list)
		if (indr->netdev == netdev)
			return indr;
	return NULL;
}

static int nsim_flower_indr_setup(struct net_device *netdev, struct Qdisc *sch, void *cb_priv,
				  enum tc_setup_type type, void *type_data, void *data,
				  void (*cleanup)(struct flow_block_cb *block_cb))
{
	struct nsim_dev *nsim_dev = cb_priv;
	struct nsim_flower *fl = &nsim_dev->flower;
	struct flow_block_offload *f = type_data;
	struct nsim_flower_indr *indr;
	struct flow_block_cb *block_cb;

	if (type != TC_SETUP_BLOCK || !netdev || !nsim_flower_is_tunnel(netdev))
		return -EOPNOTSUPP;
	if (f->binder_type != FLOW_BLOCK_BINDER_TYPE_CLSACT_INGRESS)
		return -EOPNOTSUPP;
	f->driver_block_list = &nsim_flower_indr_block_list;

	switch (f->command) {
	case FLOW_BLOCK_BIND:
		mutex_lock(&fl->indr_lock);
		indr = nsim_flower_indr_find(fl, netdev);
		mutex_unlock(&fl->indr_lock);
		if (indr)
			return -EEXIST;
		indr = kzalloc(sizeof(*indr), GFP_KERNEL);
		if (!indr)
			return -ENOMEM;
		indr->netdev = netdev;
		indr->nsim_dev = nsim_dev;
		block_cb = flow_indr_block_cb_alloc(nsim_flower_indr_block_cb, indr, indr,
						    nsim_flower_indr_release, f, netdev, sch, data,
						    nsim_dev, cleanup);
		if (IS_ERR(block_cb)) {
			kfree(indr);
			return PTR_ERR(block_cb);
		}
		mutex_lock(&fl->indr_lock);
		list_add(&indr->list, &fl->indr_list);
		mutex_unlock(&fl->indr_lock);
		flow_block_cb_add(block_cb, f);
		list_add_tail(&block_cb->driver_list, &nsim_flower_indr_block_list);
		return 0;
	case FLOW_BLOCK_UNBIND:
		mutex_lock(&fl->indr_lock);
		indr = nsim_flower_indr_find(fl, netdev);
		mutex_unlock(&fl->indr_lock);
		if (!indr)
			return -ENOENT;
		block_cb = flow_block_cb_lookup(f->block, nsim_flower_indr_block_cb, indr);
		if (!block_cb)
			return -ENOENT;
		flow_indr_block_cb_remove(block_cb, f);
		list_del(&block_cb->driver_list);
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

/* ------------------------------------------------------------- debugfs */

static void nsim_flower_model_defaults(struct nsim_flower *fl)
{
	switch (fl->model) {
	case NSIM_FLOWER_MLX5:
		/* lib/fs_chains.c, with ignore_flow_level (ConnectX-6 Dx
		 * firmware): any priority, chains up to UINT_MAX - 1. Without
		 * it: FDB_TC_MAX_PRIO 16, FDB_TC_MAX_CHAIN 3.
		 */
		fl->max_prio = U32_MAX;
		fl->max_chain = U32_MAX - 1;
		break;
	default:
		/* ice and nfp: chain 0 only (checked by the model), any
		 * priority.
		 */
		fl->max_prio = U32_MAX;
		fl->max_chain = 0;
	}
}

static ssize_t nsim_flower_model_read(struct file *file, char __user *data, size_t count, loff_t *ppos)
{
	struct nsim_dev *nsim_dev = file->private_data;
	char buf[16];
	int len;

	len = scnprintf(buf, sizeof(buf), "%s\n", nsim_flower_model_names[READ_ONCE(nsim_dev->flower.model)]);
	return simple_read_from_buffer(data, count, ppos, buf, len);
}

static ssize_t nsim_flower_model_write(struct file *file, const char __user *data, size_t count,
				       loff_t *ppos)
{
	struct nsim_dev *nsim_dev = file->private_data;
	struct nsim_flower *fl = &nsim_dev->flower;
	enum nsim_flower_model old, model;
	char buf[16];
	int i;

	if (*ppos != 0 || count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, data, count))
		return -EFAULT;
	buf[count] = '\0';
	strim(buf);
	model = ARRAY_SIZE(nsim_flower_model_names);
	for (i = 0; i < ARRAY_SIZE(nsim_flower_model_names); i++)
		if (!strcmp(buf, nsim_flower_model_names[i]))
			model = i;
	if (model == ARRAY_SIZE(nsim_flower_model_names))
		return -EINVAL;

	mutex_lock(&fl->lock);
	if (fl->n_rules || nsim_u32_busy(nsim_dev) || nsim_i40e_busy(nsim_dev)) {
		mutex_unlock(&fl->lock);
		return -EBUSY;
	}
	old = fl->model;
	WRITE_ONCE(fl->model, model);
	nsim_flower_model_defaults(fl);
	mutex_unlock(&fl->lock);

	/* Outside the lock: registering replays the tunnel devices' blocks. */
	if (!nsim_flower_model_has_flower(old) && nsim_flower_model_has_flower(model))
		flow_indr_dev_register(nsim_flower_indr_setup, nsim_dev);
	else if (nsim_flower_model_has_flower(old) && !nsim_flower_model_has_flower(model))
		flow_indr_dev_unregister(nsim_flower_indr_setup, nsim_dev, nsim_flower_indr_release);
	return count;
}

static const struct file_operations nsim_flower_model_fops = {
	.open = simple_open,
	.read = nsim_flower_model_read,
	.write = nsim_flower_model_write,
	.llseek = generic_file_llseek,
	.owner = THIS_MODULE,
};

static int nsim_flower_rules_show(struct seq_file *file, void *data)
{
	struct nsim_dev *nsim_dev = file->private;
	struct nsim_flower *fl = &nsim_dev->flower;
	struct nsim_flower_rule *rule;

	mutex_lock(&fl->lock);
	list_for_each_entry(rule, &fl->rules, list)
		seq_printf(file, "%s %u %u %llu %llu\n", rule->ifname, rule->chain, rule->prio,
			   rule->packets, rule->bytes);
	mutex_unlock(&fl->lock);
	return 0;
}

static int nsim_flower_rules_open(struct inode *inode, struct file *file)
{
	return single_open(file, nsim_flower_rules_show, inode->i_private);
}

static ssize_t nsim_flower_rules_write(struct file *file, const char __user *data, size_t count,
				       loff_t *ppos)
{
	struct nsim_dev *nsim_dev = ((struct seq_file *)file->private_data)->private;
	struct nsim_flower *fl = &nsim_dev->flower;
	struct nsim_flower_rule *rule;
	char buf[128], name[IFNAMSIZ];
	unsigned long long packets, bytes;
	unsigned int chain, prio;
	int found = 0;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, data, count))
		return -EFAULT;
	buf[count] = '\0';
	if (sscanf(buf, "%15s %u %u %llu %llu", name, &chain, &prio, &packets, &bytes) != 5)
		return -EINVAL;

	mutex_lock(&fl->lock);
	list_for_each_entry(rule, &fl->rules, list) {
		if (strcmp(rule->ifname, name) || rule->chain != chain || rule->prio != prio)
			continue;
		rule->packets = packets;
		rule->bytes = bytes;
		found++;
	}
	mutex_unlock(&fl->lock);
	return found ? count : -ENOENT;
}

static const struct file_operations nsim_flower_rules_fops = {
	.open = nsim_flower_rules_open,
	.read = seq_read,
	.write = nsim_flower_rules_write,
	.llseek = seq_lseek,
	.release = single_release,
	.owner = THIS_MODULE,
};

void nsim_flower_init(struct nsim_dev *nsim_dev)
{
	struct nsim_flower *fl = &nsim_dev->flower;

	mutex_init(&fl->lock);
	mutex_init(&fl->indr_lock);
	INIT_LIST_HEAD(&fl->rules);
	INIT_LIST_HEAD(&fl->indr_list);
	fl->model = NSIM_FLOWER_OFF;
	nsim_flower_model_defaults(fl);
	debugfs_create_file("flower_model", 0600, nsim_dev->ddir, nsim_dev, &nsim_flower_model_fops);
	debugfs_create_file("flower_rules", 0600, nsim_dev->ddir, nsim_dev, &nsim_flower_rules_fops);
	debugfs_create_u32("flower_budget", 0600, nsim_dev->ddir, &fl->budget);
	debugfs_create_u32("flower_max_prio", 0600, nsim_dev->ddir, &fl->max_prio);
	debugfs_create_u32("flower_max_chain", 0600, nsim_dev->ddir, &fl->max_chain);
	debugfs_create_u32("flower_fail_next", 0600, nsim_dev->ddir, &fl->fail_next);
	/* Without it the model refuses u32 offload (nsim_u32_setup_tc). */
	if (nsim_u32_init(nsim_dev))
		dev_warn(&nsim_dev->nsim_bus_dev->dev, "model: no memory for the u32 model\n");
	if (nsim_i40e_init(nsim_dev))
		dev_warn(&nsim_dev->nsim_bus_dev->dev, "model: no memory for the i40e model\n");
}

/* After the ports are gone (their blocks unbound, their rules destroyed). */
void nsim_flower_exit(struct nsim_dev *nsim_dev)
{
	struct nsim_flower *fl = &nsim_dev->flower;
	struct nsim_flower_rule *rule, *tmp;

	if (nsim_flower_model_has_flower(fl->model))
		flow_indr_dev_unregister(nsim_flower_indr_setup, nsim_dev, nsim_flower_indr_release);
	nsim_u32_exit(nsim_dev);
	nsim_i40e_exit(nsim_dev);
	mutex_lock(&fl->lock);
	list_for_each_entry_safe(rule, tmp, &fl->rules, list)
		nsim_flower_free(fl, rule);
	mutex_unlock(&fl->lock);
	mutex_destroy(&fl->lock);
	mutex_destroy(&fl->indr_lock);
}
