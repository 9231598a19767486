// SPDX-License-Identifier: GPL-2.0
/*
 * vfsteer's NIC model for netdevsim, part two: tc u32 offload checked the
 * way ixgbe maps u32 onto its flow director (Linux 6.1 and 6.12 sources,
 * drivers/net/ethernet/intel/ixgbe: ixgbe_main.c, ixgbe_model.h), for the
 * flower_model value "ixgbe". The model keeps what ixgbe keeps: the tables
 * offered (adapter->tables), one jump per linked table (jump_tables), the
 * flow director's perfect filters by location (fdir_filter_list) and its
 * one input mask (fdir_mask). ethtool's flow rules (ETHTOOL_SRXCLSRLINS
 * and friends, ixgbe_ethtool.c) write the same filters, as on ixgbe: each
 * side sees and replaces the other's. The shared knobs of flower.c apply:
 * flower_budget bounds the perfect filters, flower_fail_next fails the
 * next writes of one.
 *
 * debugfs (netdevsim/netdevsimN/):
 *   fdir_rules   one line per perfect filter, as the hardware matches it:
 *                LOC FLOWTYPE/MASK SRC/MASK DST/MASK SPORT/MASK DPORT/MASK
 *                ACTION (drop, vfN or qN: a PF queue); the masks are the
 *                shared one.
 *
 * ixgbe reports its refusals to dmesg (e_err) or not at all and gives tc
 * no extack; the model puts the dmesg words, or the check's function, in
 * the extack so that a test can tell refusals apart.
 */
#include <linux/debugfs.h>
#include <linux/ethtool.h>
#include <linux/rtnetlink.h>
#include <linux/seq_file.h>
#include <net/pkt_cls.h>
#include <net/tc_act/tc_gact.h>
#include <net/tc_act/tc_mirred.h>

#include "netdevsim.h"

#define NSIM_EA(extack, msg) NL_SET_ERR_MSG_MOD((extack), msg)

/* ixgbe.h IXGBE_MAX_LINK_HANDLE; ixgbe_model.h IXGBE_MAX_HW_ENTRIES */
#define NSIM_U32_MAX_LINK_HANDLE 10
#define NSIM_U32_MAX_HW_ENTRIES 2045
/* (1024 << fdir_pballoc) - 2 with the default 64K packet buffer */
#define NSIM_U32_LOCATIONS 2046

/* ixgbe_type.h: union ixgbe_atr_input, the fields u32 can set */
enum {
	NSIM_FLOW_IPV4 = 0x0,
	NSIM_FLOW_UDPV4 = 0x1,
	NSIM_FLOW_TCPV4 = 0x2,
	NSIM_L4TYPE_MASK = 0x3,
	NSIM_L4TYPE_IPV6_MASK = 0x4,
};

struct nsim_fdir_fields {
	u8 flow_type;
	__be32 src_ip, dst_ip;
	__be16 src_port, dst_port;
};

/* ixgbe.h IXGBE_FDIR_DROP_QUEUE: a filter's action when it drops */
#define NSIM_FDIR_DROP 127

struct nsim_fdir_rule {
	struct list_head list;		/* by location, as fdir_filter_list */
	u32 loc;
	struct nsim_fdir_fields input;
	u64 action;			/* as ixgbe's input->action: NSIM_FDIR_DROP,
					 * or a ring cookie (VF + 1 above bit 32) */
};

/* The fields a table's rules set, by key offset: ixgbe_model.h's
 * ixgbe_ipv4_fields (800:) and ixgbe_tcp_fields / ixgbe_udp_fields.
 */
enum nsim_u32_fields { NSIM_FIELDS_IPV4, NSIM_FIELDS_TCP, NSIM_FIELDS_UDP };

struct nsim_u32_jump {
	u32 link_hdl;
	enum nsim_u32_fields fields;
	struct nsim_fdir_fields input, mask;	/* what the link matched */
	DECLARE_BITMAP(child_loc_map, NSIM_U32_MAX_HW_ENTRIES);
};

/* ixgbe's state: u32's tables and jumps, and the flow director's filters,
 * which u32 and ethtool both write.
 */
struct nsim_u32 {
	unsigned long tables;		/* hnodes offered: bit uhtid - 1 */
	struct nsim_u32_jump *jump[NSIM_U32_MAX_LINK_HANDLE];
	struct nsim_fdir_fields mask;	/* fdir_mask: one for every filter */
	struct list_head rules;
	unsigned int n_rules;
};

/* ixgbe_model.h: the fields of a key at `off` in a table of `fields` */
static bool nsim_u32_field(enum nsim_u32_fields fields, int off, u32 val, u32 m,
			   struct nsim_fdir_fields *input, struct nsim_fdir_fields *mask)
{
	switch (fields) {
	case NSIM_FIELDS_IPV4:
		if (off == 12) {	/* ixgbe_mat_prgm_sip */
			input->src_ip = (__force __be32)val;
			mask->src_ip = (__force __be32)m;
		} else if (off == 16) {	/* ixgbe_mat_prgm_dip */
			input->dst_ip = (__force __be32)val;
			mask->dst_ip = (__force __be32)m;
		} else {
			return false;
		}
		input->flow_type |= NSIM_FLOW_IPV4;
		return true;
	case NSIM_FIELDS_TCP:
	case NSIM_FIELDS_UDP:
		if (off != 0)
			return false;
		/* ixgbe_mat_prgm_ports: the word's first half is the source */
		input->src_port = (__force __be16)(val & 0xffff);
		mask->src_port = (__force __be16)(m & 0xffff);
		input->dst_port = (__force __be16)(val >> 16);
		mask->dst_port = (__force __be16)(m >> 16);
		input->flow_type |= fields == NSIM_FIELDS_TCP ? NSIM_FLOW_TCPV4 : NSIM_FLOW_UDPV4;
		return true;
	}
	return false;
}

/* ixgbe_clsu32_build_input(): keys at offsets the table does not read are
 * ignored, not refused. Without any field the flow type mask stays 0.
 */
static void nsim_u32_build_input(struct tc_cls_u32_offload *cls, enum nsim_u32_fields fields,
				 struct nsim_fdir_fields *input, struct nsim_fdir_fields *mask)
{
	bool found = false;
	int i;

	for (i = 0; i < cls->knode.sel->nkeys; i++) {
		const struct tc_u32_key *k = &cls->knode.sel->keys[i];

		found |= nsim_u32_field(fields, k->off, (__force u32)k->val, (__force u32)k->mask, input, mask);
	}
	if (!found)
		return;
	mask->flow_type = NSIM_L4TYPE_IPV6_MASK | NSIM_L4TYPE_MASK;
	if (input->flow_type == NSIM_FLOW_IPV4)
		mask->flow_type &= NSIM_L4TYPE_IPV6_MASK;
}

/* ixgbe_model.h ixgbe_ipv4_jumps: a link eats the IP header (offset at 0
 * mask 0f00 shift 6, as the raw u16 mask 0xf) and matches protocol 6 or
 * 17 at offset 8 (raw value 0x600 or 0x1100, mask 0xff00). The fields of
 * the table it leads to, or -1.
 */
static bool nsim_u32_eats_ip_header(const struct tc_u32_sel *sel)
{
	return sel->offoff == 0 && sel->offshift == 6 && (__force u32)sel->offmask == 0xf;
}

static int nsim_u32_jump_fields(const struct tc_u32_sel *sel)
{
	int i;

	for (i = 0; i < sel->nkeys; i++) {
		if (sel->keys[i].off != 8 || (__force u32)sel->keys[i].mask != 0xff00)
			continue;
		if ((__force u32)sel->keys[i].val == 0x600)
			return NSIM_FIELDS_TCP;
		if ((__force u32)sel->keys[i].val == 0x1100)
			return NSIM_FIELDS_UDP;
	}
	return -1;
}

static struct nsim_fdir_rule *nsim_fdir_find(struct nsim_u32 *u, u32 loc)
{
	struct nsim_fdir_rule *rule;

	list_for_each_entry(rule, &u->rules, list)
		if (rule->loc == loc)
			return rule;
	return NULL;
}

static void nsim_fdir_free(struct nsim_u32 *u, struct nsim_fdir_rule *rule)
{
	list_del(&rule->list);
	u->n_rules--;
	kfree(rule);
}

/* ixgbe_update_ethtool_fdir_entry(): a filter takes its location, the one
 * there before is replaced.
 */
static void nsim_fdir_insert(struct nsim_u32 *u, struct nsim_fdir_rule *rule)
{
	struct nsim_fdir_rule *at, *old = nsim_fdir_find(u, rule->loc);
	struct list_head *before = &u->rules;

	if (old)
		nsim_fdir_free(u, old);
	list_for_each_entry(at, &u->rules, list)
		if (at->loc > rule->loc) {
			before = &at->list;
			break;
		}
	list_add_tail(&rule->list, before);
	u->n_rules++;
}

/* parse_tc_actions() and handle_redirect_action(): the first action
 * decides; a redirect must go to one of the PF's VFs (here: a VF port of
 * the same device, standing for the VF's netdev).
 */
static int nsim_u32_action(struct nsim_dev *nsim_dev, struct tc_cls_u32_offload *cls, u64 *action)
{
	struct netlink_ext_ack *extack = cls->common.extack;
	const struct tc_action *a;
	int i;

	if (!tcf_exts_has_actions(cls->knode.exts)) {
		NSIM_EA(extack, "model: ixgbe parse_tc_actions: a rule needs an action");
		return -EINVAL;
	}
	tcf_exts_for_each_action(i, a, cls->knode.exts) {
		if (is_tcf_gact_shot(a)) {
			*action = NSIM_FDIR_DROP;
			return 0;
		}
		if (is_tcf_mirred_egress_redirect(a)) {
			struct net_device *dev = tcf_mirred_dev(a);
			struct netdevsim *ns;

			if (dev && nsim_netdev_is_port(dev)) {
				ns = netdev_priv(dev);
				if (ns->nsim_dev == nsim_dev && nsim_dev_port_is_vf(ns->nsim_dev_port)) {
					u64 vf = ns->nsim_dev_port->port_index - NSIM_DEV_VF_PORT_INDEX_BASE;

					*action = (vf + 1) << ETHTOOL_RX_FLOW_SPEC_RING_VF_OFF;
					return 0;
				}
			}
			NSIM_EA(extack, "model: ixgbe handle_redirect_action: not a VF of this PF");
			return -EINVAL;
		}
		break;
	}
	NSIM_EA(extack, "model: ixgbe parse_tc_actions: drop or redirect to a VF only");
	return -EINVAL;
}

/* ixgbe_configure_clsu32(), link half: a knode with a link handle makes
 * the jump into that table and no perfect filter.
 */
static int nsim_u32_add_link(struct nsim_u32 *u, struct tc_cls_u32_offload *cls,
			     enum nsim_u32_fields table_fields)
{
	struct netlink_ext_ack *extack = cls->common.extack;
	u32 link_uhtid = TC_U32_USERHTID(cls->knode.link_handle);
	struct nsim_u32_jump *jump;
	int fields;

	if (link_uhtid >= NSIM_U32_MAX_LINK_HANDLE) {
		NSIM_EA(extack, "model: ixgbe_configure_clsu32: link to a table past IXGBE_MAX_LINK_HANDLE");
		return -EINVAL;
	}
	if (!test_bit(link_uhtid - 1, &u->tables)) {
		NSIM_EA(extack, "model: ixgbe_configure_clsu32: link to a table not offloaded");
		return -EINVAL;
	}
	if (u->jump[link_uhtid] && u->jump[link_uhtid]->link_hdl) {
		NSIM_EA(extack, "ixgbe: Link filter exists for link");
		return -EINVAL;
	}
	if (!nsim_u32_eats_ip_header(cls->knode.sel)) {
		NSIM_EA(extack, "model: ixgbe_configure_clsu32: a link must eat the IPv4 header (offset at 0 mask 0f00 shift 6)");
		return -EINVAL;
	}
	fields = nsim_u32_jump_fields(cls->knode.sel);
	/* No protocol ixgbe_ipv4_jumps knows: ixgbe returns 0 and makes no
	 * jump, so the link is "in hardware" and every rule in its table is
	 * refused. The model does the same.
	 */
	if (fields < 0)
		return 0;
	jump = kzalloc(sizeof(*jump), GFP_KERNEL);
	if (!jump)
		return -ENOMEM;
	jump->link_hdl = cls->knode.handle;
	jump->fields = fields;
	nsim_u32_build_input(cls, table_fields, &jump->input, &jump->mask);
	u->jump[link_uhtid] = jump;
	return 0;
}

static bool nsim_fdir_same_mask(const struct nsim_fdir_fields *a, const struct nsim_fdir_fields *b)
{
	return a->flow_type == b->flow_type && a->src_ip == b->src_ip && a->dst_ip == b->dst_ip &&
	       a->src_port == b->src_port && a->dst_port == b->dst_port;
}

/* What u32 and ethtool share (ixgbe_configure_clsu32() and
 * ixgbe_add_ethtool_fdir_entry()): the first filter sets the one mask
 * (ixgbe_fdir_set_input_mask_82599(): no port mask without an L4 type),
 * later ones must have it; the filter takes its location, replacing what
 * was there.
 */
static int nsim_fdir_write(struct nsim_flower *fl, u32 loc, const struct nsim_fdir_fields *input,
			   const struct nsim_fdir_fields *mask, u64 action, struct netlink_ext_ack *extack)
{
	struct nsim_u32 *u = fl->u32;
	struct nsim_fdir_rule *rule;

	if (list_empty(&u->rules)) {
		if (!(mask->flow_type & NSIM_L4TYPE_MASK) && (mask->src_port || mask->dst_port)) {
			NSIM_EA(extack, "model: ixgbe_fdir_set_input_mask_82599: Error on src/dst port mask");
			return -EIO;
		}
		u->mask = *mask;
	} else if (!nsim_fdir_same_mask(&u->mask, mask)) {
		NSIM_EA(extack, "ixgbe: Only one mask supported per port");
		return -EINVAL;
	}
	if (fl->fail_next) {
		fl->fail_next--;
		NSIM_EA(extack, "model: injected failure (flower_fail_next)");
		return -EIO;
	}
	if (fl->budget && u->n_rules >= fl->budget && !nsim_fdir_find(u, loc)) {
		NSIM_EA(extack, "model: no room for another rule (flower_budget)");
		return -ENOSPC;
	}
	rule = kzalloc(sizeof(*rule), GFP_KERNEL);
	if (!rule)
		return -ENOMEM;
	rule->loc = loc;
	rule->input = *input;
	rule->action = action;
	nsim_fdir_insert(u, rule);
	return 0;
}

/* ixgbe_configure_clsu32() */
static int nsim_u32_configure(struct nsim_dev *nsim_dev, struct tc_cls_u32_offload *cls)
{
	struct netlink_ext_ack *extack = cls->common.extack;
	struct nsim_flower *fl = &nsim_dev->flower;
	struct nsim_u32 *u = fl->u32;
	u32 loc = cls->knode.handle & 0xfffff;
	u32 uhtid = TC_U32_USERHTID(cls->knode.handle);
	struct nsim_fdir_fields input = {}, mask = {};
	enum nsim_u32_fields fields;
	u64 action;
	int err, i;

	if (cls->common.protocol != htons(ETH_P_IP)) {
		NSIM_EA(extack, "model: ixgbe_configure_clsu32: protocol ip only");
		return -EINVAL;
	}
	if (loc >= NSIM_U32_LOCATIONS) {
		NSIM_EA(extack, "ixgbe: Location out of range");
		return -EINVAL;
	}
	if (uhtid == 0x800) {
		fields = NSIM_FIELDS_IPV4;
	} else if (uhtid < NSIM_U32_MAX_LINK_HANDLE && u->jump[uhtid]) {
		fields = u->jump[uhtid]->fields;
	} else {
		NSIM_EA(extack, "model: ixgbe_configure_clsu32: a table no link leads to");
		return -EINVAL;
	}
	if (TC_U32_USERHTID(cls->knode.link_handle))
		return nsim_u32_add_link(u, cls, fields);

	if (uhtid != 0x800) {
		input = u->jump[uhtid]->input;
		mask = u->jump[uhtid]->mask;
		for (i = 1; i < NSIM_U32_MAX_LINK_HANDLE; i++)
			if (u->jump[i] && loc >= 1 && test_bit(loc - 1, u->jump[i]->child_loc_map)) {
				NSIM_EA(extack, "ixgbe: Filter exists in location");
				return -EINVAL;
			}
	}
	nsim_u32_build_input(cls, fields, &input, &mask);
	err = nsim_u32_action(nsim_dev, cls, &action);
	if (err)
		return err;

	err = nsim_fdir_write(fl, loc, &input, &mask, action, extack);
	if (!err && uhtid != 0x800 && loc >= 1)
		set_bit(loc - 1, u->jump[uhtid]->child_loc_map);
	return err;
}

/* ixgbe_delete_clsu32(): deleting a link deletes its table's filters. */
static int nsim_u32_delete(struct nsim_u32 *u, struct tc_cls_u32_offload *cls)
{
	u32 hdl = cls->knode.handle;
	u32 uhtid = TC_U32_USERHTID(hdl);
	u32 loc = hdl & 0xfffff;
	struct nsim_fdir_rule *rule;
	int i, j;

	if (loc > NSIM_U32_MAX_HW_ENTRIES)
		return -EINVAL;
	if (uhtid != 0x800) {
		if (uhtid >= NSIM_U32_MAX_LINK_HANDLE || !u->jump[uhtid] || loc < 1 ||
		    !test_bit(loc - 1, u->jump[uhtid]->child_loc_map))
			return -EINVAL;
		clear_bit(loc - 1, u->jump[uhtid]->child_loc_map);
	}
	for (i = 1; i < NSIM_U32_MAX_LINK_HANDLE; i++) {
		struct nsim_u32_jump *jump = u->jump[i];

		if (!jump || jump->link_hdl != hdl)
			continue;
		for_each_set_bit(j, jump->child_loc_map, NSIM_U32_MAX_HW_ENTRIES) {
			rule = nsim_fdir_find(u, j + 1);
			if (rule)
				nsim_fdir_free(u, rule);
		}
		kfree(jump);
		u->jump[i] = NULL;
		return 0;
	}
	rule = nsim_fdir_find(u, loc);
	if (!rule)
		return -EINVAL;
	nsim_fdir_free(u, rule);
	return 0;
}

/* ixgbe_configure_clsu32_add_hnode() and _del_hnode() */
static int nsim_u32_hnode(struct nsim_u32 *u, struct tc_cls_u32_offload *cls, bool add)
{
	u32 uhtid = TC_U32_USERHTID(cls->hnode.handle);

	if (uhtid >= NSIM_U32_MAX_LINK_HANDLE) {
		NSIM_EA(cls->common.extack, "model: ixgbe: tables 1 to 9 only (IXGBE_MAX_LINK_HANDLE)");
		return -EINVAL;
	}
	if (!add) {
		clear_bit(uhtid - 1, &u->tables);
		return 0;
	}
	if (cls->hnode.divisor > 0) {
		NSIM_EA(cls->common.extack, "model: ixgbe: no hash tables (divisor 1 only)");
		return -EINVAL;
	}
	set_bit(uhtid - 1, &u->tables);
	return 0;
}

/* ixgbe_setup_tc_block_cb() and ixgbe_setup_tc_cls_u32(), on the PF. */
int nsim_u32_setup_tc(struct netdevsim *ns, struct tc_cls_u32_offload *cls)
{
	struct nsim_flower *fl = &ns->nsim_dev->flower;
	int err;

	if (!fl->u32)
		return -ENOMEM;
	if (!tc_cls_can_offload_and_chain0(ns->netdev, &cls->common))
		return -EOPNOTSUPP;
	if (!nsim_dev_port_is_pf(ns->nsim_dev_port)) {
		NSIM_EA(cls->common.extack, "model: ixgbe's VFs (ixgbevf) offload no tc filters");
		return -EOPNOTSUPP;
	}
	mutex_lock(&fl->lock);
	switch (cls->command) {
	case TC_CLSU32_NEW_KNODE:
	case TC_CLSU32_REPLACE_KNODE:
		err = nsim_u32_configure(ns->nsim_dev, cls);
		break;
	case TC_CLSU32_DELETE_KNODE:
		err = nsim_u32_delete(fl->u32, cls);
		break;
	case TC_CLSU32_NEW_HNODE:
	case TC_CLSU32_REPLACE_HNODE:
		err = nsim_u32_hnode(fl->u32, cls, true);
		break;
	case TC_CLSU32_DELETE_HNODE:
		err = nsim_u32_hnode(fl->u32, cls, false);
		break;
	default:
		err = -EOPNOTSUPP;
	}
	mutex_unlock(&fl->lock);
	return err;
}

/* Called with fl->lock held: what the model would lose on a change. */
bool nsim_u32_busy(struct nsim_dev *nsim_dev)
{
	struct nsim_u32 *u = nsim_dev->flower.u32;
	int i;

	if (!u)
		return false;
	if (u->n_rules || u->tables)
		return true;
	for (i = 0; i < NSIM_U32_MAX_LINK_HANDLE; i++)
		if (u->jump[i])
			return true;
	return false;
}

/* ------------------------------------- ethtool: flow director rules */

/* The model's queues per port, and per VF pool (ixgbe: num_rx_queues,
 * num_rx_queues_per_pool).
 */
#define NSIM_FDIR_RX_QUEUES 4
#define NSIM_FDIR_QUEUES_PER_POOL 2

static struct nsim_dev *nsim_fdir_dev(struct net_device *dev)
{
	struct netdevsim *ns = netdev_priv(dev);

	if (!nsim_flower_is_ixgbe(ns->nsim_dev) || !ns->nsim_dev->flower.u32 ||
	    !nsim_dev_port_is_pf(ns->nsim_dev_port))
		return NULL;
	return ns->nsim_dev;
}

/* ixgbe_flowspec_to_flow_type() */
static bool nsim_fdir_flow_type(const struct ethtool_rx_flow_spec *fsp, u8 *flow_type)
{
	switch (fsp->flow_type & ~FLOW_EXT) {
	case TCP_V4_FLOW:
		*flow_type = NSIM_FLOW_TCPV4;
		return true;
	case UDP_V4_FLOW:
		*flow_type = NSIM_FLOW_UDPV4;
		return true;
	case IP_USER_FLOW:
		switch (fsp->h_u.usr_ip4_spec.proto) {
		case IPPROTO_TCP:
			*flow_type = NSIM_FLOW_TCPV4;
			return true;
		case IPPROTO_UDP:
			*flow_type = NSIM_FLOW_UDPV4;
			return true;
		case 0:
			if (!fsp->m_u.usr_ip4_spec.proto) {
				*flow_type = NSIM_FLOW_IPV4;
				return true;
			}
		}
		return false;
	}
	/* SCTP too in ixgbe; the model keeps to the fields it has */
	return false;
}

/* ixgbe_add_ethtool_fdir_entry() */
static int nsim_fdir_add(struct nsim_dev *nsim_dev, struct ethtool_rx_flow_spec *fsp)
{
	struct nsim_fdir_fields input = {}, mask = {};
	u64 action;

	if (fsp->ring_cookie == RX_CLS_FLOW_DISC) {
		action = NSIM_FDIR_DROP;
	} else {
		u32 ring = ethtool_get_flow_spec_ring(fsp->ring_cookie);
		u8 vf = ethtool_get_flow_spec_ring_vf(fsp->ring_cookie);

		if (!vf && ring >= NSIM_FDIR_RX_QUEUES)
			return -EINVAL;
		if (vf && (vf > nsim_dev_get_vfs(nsim_dev) || ring >= NSIM_FDIR_QUEUES_PER_POOL))
			return -EINVAL;
		action = fsp->ring_cookie;
	}
	if (fsp->location >= NSIM_U32_LOCATIONS)
		return -EINVAL;	/* "Location out of range" */
	if (!nsim_fdir_flow_type(fsp, &input.flow_type))
		return -EINVAL;	/* "Unrecognized flow type" */
	/* vm_pool, VLAN and flex bytes (FLOW_EXT) are not modelled */
	if (fsp->flow_type & FLOW_EXT)
		return -EOPNOTSUPP;
	mask.flow_type = NSIM_L4TYPE_IPV6_MASK | NSIM_L4TYPE_MASK;
	if (input.flow_type == NSIM_FLOW_IPV4)
		mask.flow_type &= NSIM_L4TYPE_IPV6_MASK;
	input.src_ip = fsp->h_u.tcp_ip4_spec.ip4src;
	mask.src_ip = fsp->m_u.tcp_ip4_spec.ip4src;
	input.dst_ip = fsp->h_u.tcp_ip4_spec.ip4dst;
	mask.dst_ip = fsp->m_u.tcp_ip4_spec.ip4dst;
	input.src_port = fsp->h_u.tcp_ip4_spec.psrc;
	mask.src_port = fsp->m_u.tcp_ip4_spec.psrc;
	input.dst_port = fsp->h_u.tcp_ip4_spec.pdst;
	mask.dst_port = fsp->m_u.tcp_ip4_spec.pdst;
	/* ixgbe answers every refusal here with EINVAL */
	return nsim_fdir_write(&nsim_dev->flower, fsp->location, &input, &mask, action, NULL) ? -EINVAL : 0;
}

/* ixgbe_get_ethtool_fdir_entry() */
static int nsim_fdir_get(struct nsim_u32 *u, struct ethtool_rx_flow_spec *fsp)
{
	struct nsim_fdir_rule *rule = nsim_fdir_find(u, fsp->location);
	const struct nsim_fdir_fields *m = &u->mask;

	if (!rule)
		return -EINVAL;
	switch (rule->input.flow_type) {
	case NSIM_FLOW_TCPV4:
		fsp->flow_type = TCP_V4_FLOW;
		break;
	case NSIM_FLOW_UDPV4:
		fsp->flow_type = UDP_V4_FLOW;
		break;
	default:
		fsp->flow_type = IP_USER_FLOW;
		fsp->h_u.usr_ip4_spec.ip_ver = ETH_RX_NFC_IP4;
		break;
	}
	fsp->h_u.tcp_ip4_spec.psrc = rule->input.src_port;
	fsp->m_u.tcp_ip4_spec.psrc = m->src_port;
	fsp->h_u.tcp_ip4_spec.pdst = rule->input.dst_port;
	fsp->m_u.tcp_ip4_spec.pdst = m->dst_port;
	fsp->h_u.tcp_ip4_spec.ip4src = rule->input.src_ip;
	fsp->m_u.tcp_ip4_spec.ip4src = m->src_ip;
	fsp->h_u.tcp_ip4_spec.ip4dst = rule->input.dst_ip;
	fsp->m_u.tcp_ip4_spec.ip4dst = m->dst_ip;
	fsp->ring_cookie = rule->action == NSIM_FDIR_DROP ? RX_CLS_FLOW_DISC : rule->action;
	return 0;
}

/* ixgbe_get_rxnfc(): the flow director's filters, u32's and ethtool's
 * alike, by location.
 */
int nsim_fdir_get_rxnfc(struct net_device *dev, struct ethtool_rxnfc *cmd, u32 *rule_locs)
{
	struct nsim_dev *nsim_dev = nsim_fdir_dev(dev);
	struct nsim_flower *fl;
	struct nsim_fdir_rule *rule;
	int err = 0, n = 0;

	if (!nsim_dev)
		return -EOPNOTSUPP;
	fl = &nsim_dev->flower;
	mutex_lock(&fl->lock);
	switch (cmd->cmd) {
	case ETHTOOL_GRXRINGS:
		cmd->data = NSIM_FDIR_RX_QUEUES;
		break;
	case ETHTOOL_GRXCLSRLCNT:
		cmd->rule_cnt = fl->u32->n_rules;
		break;
	case ETHTOOL_GRXCLSRULE:
		cmd->data = NSIM_U32_LOCATIONS;
		err = nsim_fdir_get(fl->u32, &cmd->fs);
		break;
	case ETHTOOL_GRXCLSRLALL:
		cmd->data = NSIM_U32_LOCATIONS;
		list_for_each_entry(rule, &fl->u32->rules, list) {
			if (n == cmd->rule_cnt) {
				err = -EMSGSIZE;
				break;
			}
			rule_locs[n++] = rule->loc;
		}
		if (!err)
			cmd->rule_cnt = n;
		break;
	default:
		err = -EOPNOTSUPP;
	}
	mutex_unlock(&fl->lock);
	return err;
}

/* ixgbe_set_rxnfc(): insert and delete */
int nsim_fdir_set_rxnfc(struct net_device *dev, struct ethtool_rxnfc *cmd)
{
	struct nsim_dev *nsim_dev = nsim_fdir_dev(dev);
	struct nsim_fdir_rule *rule;
	struct nsim_flower *fl;
	int err;

	if (!nsim_dev)
		return -EOPNOTSUPP;
	fl = &nsim_dev->flower;
	mutex_lock(&fl->lock);
	switch (cmd->cmd) {
	case ETHTOOL_SRXCLSRLINS:
		err = nsim_fdir_add(nsim_dev, &cmd->fs);
		break;
	case ETHTOOL_SRXCLSRLDEL:
		/* ixgbe_del_ethtool_fdir_entry(): whatever holds the location */
		rule = nsim_fdir_find(fl->u32, cmd->fs.location);
		if (rule)
			nsim_fdir_free(fl->u32, rule);
		err = rule ? 0 : -EINVAL;
		break;
	default:
		err = -EOPNOTSUPP;
	}
	mutex_unlock(&fl->lock);
	return err;
}

/* ------------------------------------------------------------- debugfs */

static const char *nsim_fdir_flow_name(u8 flow_type)
{
	switch (flow_type) {
	case NSIM_FLOW_TCPV4:
		return "tcp4";
	case NSIM_FLOW_UDPV4:
		return "udp4";
	default:
		return "ip4";
	}
}

static int nsim_fdir_rules_show(struct seq_file *file, void *data)
{
	struct nsim_dev *nsim_dev = file->private;
	struct nsim_flower *fl = &nsim_dev->flower;
	struct nsim_u32 *u = fl->u32;
	const struct nsim_fdir_fields *m = &u->mask;
	struct nsim_fdir_rule *rule;

	mutex_lock(&fl->lock);
	list_for_each_entry(rule, &u->rules, list) {
		const struct nsim_fdir_fields *in = &rule->input;

		seq_printf(file, "%u %s/%u %pI4/%pI4 %pI4/%pI4 %u/%u %u/%u ", rule->loc,
			   nsim_fdir_flow_name(in->flow_type), m->flow_type, &in->src_ip, &m->src_ip,
			   &in->dst_ip, &m->dst_ip, ntohs(in->src_port), ntohs(m->src_port),
			   ntohs(in->dst_port), ntohs(m->dst_port));
		if (rule->action == NSIM_FDIR_DROP)
			seq_puts(file, "drop\n");
		else if (ethtool_get_flow_spec_ring_vf(rule->action))
			seq_printf(file, "vf%u\n", (unsigned int)ethtool_get_flow_spec_ring_vf(rule->action) - 1);
		else
			seq_printf(file, "q%u\n", (unsigned int)ethtool_get_flow_spec_ring(rule->action));
	}
	mutex_unlock(&fl->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(nsim_fdir_rules);

int nsim_u32_init(struct nsim_dev *nsim_dev)
{
	struct nsim_u32 *u = kzalloc(sizeof(*u), GFP_KERNEL);

	if (!u)
		return -ENOMEM;
	INIT_LIST_HEAD(&u->rules);
	nsim_dev->flower.u32 = u;
	debugfs_create_file("fdir_rules", 0400, nsim_dev->ddir, nsim_dev, &nsim_fdir_rules_fops);
	return 0;
}

void nsim_u32_exit(struct nsim_dev *nsim_dev)
{
	struct nsim_u32 *u = nsim_dev->flower.u32;
	struct nsim_fdir_rule *rule, *tmp;
	int i;

	if (!u)
		return;
	list_for_each_entry_safe(rule, tmp, &u->rules, list)
		nsim_fdir_free(u, rule);
	for (i = 0; i < NSIM_U32_MAX_LINK_HANDLE; i++)
		kfree(u->jump[i]);
	kfree(u);
	nsim_dev->flower.u32 = NULL;
}
