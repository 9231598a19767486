// SPDX-License-Identifier: GPL-2.0
/*
 * vfsteer's NIC model for netdevsim, part three: ethtool's flow rules
 * (ETHTOOL_SRXCLSRLINS and friends) checked the way i40e's flow director
 * takes them (Linux 6.1 and 6.12, drivers/net/ethernet/intel/i40e/
 * i40e_ethtool.c), for the flower_model value "i40e". i40e offloads no u32
 * and, in this model, no flower.
 *
 * What the model keeps, as i40e does: the filters by location
 * (fdir_filter_list, i40e_update_ethtool_fdir_entry(): a location's filter
 * is replaced), one input set per flow type (i40e_check_fdir_input_set():
 * each field whole or not at all, changed only while no filter of that
 * type exists), no two filters with the same match
 * (i40e_disallow_matching_filters()), locations below the function's
 * filter space (fd_filters_guaranteed + fd_filters_best_effort). Flow
 * types: tcp4, udp4 and ip4 (IPv4 "other": i40e matches no protocol in it,
 * and such a filter takes only packets that are not TCP, UDP or SCTP).
 * IPv6, SCTP, VLAN and flex bytes are refused as not modelled. The knobs
 * of flower.c apply: flower_budget bounds the filters (ENOSPC, as i40e
 * once its filter space is full), flower_fail_next fails the next writes.
 *
 * debugfs (netdevsim/netdevsimN/):
 *   i40e_fdir_rules  one line per filter, as the hardware matches it:
 *                    LOC FLOWTYPE SRC/MASK DST/MASK SPORT/MASK DPORT/MASK
 *                    ACTION (drop, vfN or qN), the masks its flow type's
 *                    input set.
 */
#include <linux/debugfs.h>
#include <linux/ethtool.h>
#include <linux/seq_file.h>

#include "netdevsim.h"

/* The function's filter space (X710: the firmware's fd_filters_guaranteed
 * + fd_filters_best_effort) and queue pairs of the PF and of each VF
 * (I40E_DEFAULT_QUEUES_PER_VF).
 */
#define NSIM_I40E_LOCATIONS 8192
#define NSIM_I40E_PF_QUEUES 4
#define NSIM_I40E_VF_QUEUES 4

enum { NSIM_I40E_TCP4, NSIM_I40E_UDP4, NSIM_I40E_IP4, NSIM_I40E_TYPES };

/* The fields an input set holds (I40E_L3_SRC_MASK and friends). */
#define NSIM_I40E_SRC_IP BIT(0)
#define NSIM_I40E_DST_IP BIT(1)
#define NSIM_I40E_SRC_PORT BIT(2)
#define NSIM_I40E_DST_PORT BIT(3)
/* i40e's default input set for every flow type: all four fields. */
#define NSIM_I40E_ALL_FIELDS 0xf

struct nsim_i40e_rule {
	struct list_head list;		/* by location */
	u32 loc;
	int type;
	__be32 src_ip, dst_ip;
	__be16 src_port, dst_port;
	u64 ring_cookie;		/* RX_CLS_FLOW_DISC, or queue and VF + 1 */
};

struct nsim_i40e {
	struct list_head rules;
	unsigned int n_rules;
	u8 input_set[NSIM_I40E_TYPES];
	unsigned int count[NSIM_I40E_TYPES];	/* fd_tcp4_filter_cnt ... */
};

static struct nsim_dev *nsim_i40e_dev(struct net_device *dev)
{
	struct netdevsim *ns = netdev_priv(dev);

	if (READ_ONCE(ns->nsim_dev->flower.model) != NSIM_FLOWER_I40E || !ns->nsim_dev->flower.i40e ||
	    !nsim_dev_port_is_pf(ns->nsim_dev_port))
		return NULL;
	return ns->nsim_dev;
}

static struct nsim_i40e_rule *nsim_i40e_find(struct nsim_i40e *m, u32 loc)
{
	struct nsim_i40e_rule *rule;

	list_for_each_entry(rule, &m->rules, list)
		if (rule->loc == loc)
			return rule;
	return NULL;
}

static void nsim_i40e_free(struct nsim_i40e *m, struct nsim_i40e_rule *rule)
{
	list_del(&rule->list);
	m->count[rule->type]--;
	m->n_rules--;
	kfree(rule);
}

/* A field's mask: all ones sets it in the input set, zero leaves it out,
 * anything else is refused (i40e_check_fdir_input_set()).
 */
static int nsim_i40e_field(u32 mask, u32 all, u8 bit, u8 *set)
{
	if (mask == all)
		*set |= bit;
	else if (mask)
		return -EOPNOTSUPP;
	return 0;
}

/* i40e_check_fdir_input_set(), for the modelled flow types. */
static int nsim_i40e_input_set(const struct ethtool_rx_flow_spec *fsp, int *type, u8 *set)
{
	const struct ethtool_tcpip4_spec *l4 = &fsp->m_u.tcp_ip4_spec;
	const struct ethtool_usrip4_spec *ip = &fsp->m_u.usr_ip4_spec;
	int err;

	*set = 0;
	switch (fsp->flow_type & ~FLOW_EXT) {
	case TCP_V4_FLOW:
	case UDP_V4_FLOW:
		*type = (fsp->flow_type & ~FLOW_EXT) == TCP_V4_FLOW ? NSIM_I40E_TCP4 : NSIM_I40E_UDP4;
		err = nsim_i40e_field(ntohl(l4->ip4src), 0xffffffff, NSIM_I40E_SRC_IP, set) ?:
		      nsim_i40e_field(ntohl(l4->ip4dst), 0xffffffff, NSIM_I40E_DST_IP, set) ?:
		      nsim_i40e_field(ntohs(l4->psrc), 0xffff, NSIM_I40E_SRC_PORT, set) ?:
		      nsim_i40e_field(ntohs(l4->pdst), 0xffff, NSIM_I40E_DST_PORT, set);
		if (err)
			return err;
		return l4->tos ? -EOPNOTSUPP : 0;	/* "Filtering on Type of Service is not supported" */
	case IP_USER_FLOW:
		*type = NSIM_I40E_IP4;
		err = nsim_i40e_field(ntohl(ip->ip4src), 0xffffffff, NSIM_I40E_SRC_IP, set) ?:
		      nsim_i40e_field(ntohl(ip->ip4dst), 0xffffffff, NSIM_I40E_DST_IP, set);
		if (err)
			return err;
		if (ip->l4_4_bytes || ip->tos)
			return -EOPNOTSUPP;
		/* "Filtering on IP version / L4 protocol is not supported" */
		if (ip->ip_ver || ip->proto)
			return -EINVAL;
		return 0;
	}
	return -EOPNOTSUPP;	/* IPv6 and SCTP flow types: i40e has them, the model not */
}

/* i40e_add_fdir_ethtool() */
static int nsim_i40e_add(struct nsim_dev *nsim_dev, struct ethtool_rx_flow_spec *fsp)
{
	struct nsim_flower *fl = &nsim_dev->flower;
	struct nsim_i40e *m = fl->i40e;
	struct nsim_i40e_rule *rule, *at, *old;
	struct list_head *before;
	int type, err;
	u8 set;

	if (fsp->flow_type & FLOW_MAC_EXT)
		return -EINVAL;
	if (fsp->flow_type & FLOW_EXT)
		return -EOPNOTSUPP;	/* VLAN and flex bytes: not modelled */
	err = nsim_i40e_input_set(fsp, &type, &set);
	if (err)
		return err;
	old = nsim_i40e_find(m, fsp->location);
	/* As i40e, the new input set is written before the checks below. */
	if (set != m->input_set[type]) {
		/* "Cannot change input set for %s flows until %d preexisting
		 * filters are removed": the filter being replaced counts too.
		 */
		if (m->count[type])
			return -EOPNOTSUPP;
		m->input_set[type] = set;
	}
	if (fsp->location >= NSIM_I40E_LOCATIONS)
		return -EINVAL;
	if (fsp->ring_cookie != RX_CLS_FLOW_DISC) {
		u32 ring = ethtool_get_flow_spec_ring(fsp->ring_cookie);
		u8 vf = ethtool_get_flow_spec_ring_vf(fsp->ring_cookie);

		if (!vf && ring >= NSIM_I40E_PF_QUEUES)
			return -EINVAL;
		if (vf && (vf - 1 >= nsim_dev_get_vfs(nsim_dev) || ring >= NSIM_I40E_VF_QUEUES))
			return -EINVAL;
	}
	/* i40e_disallow_matching_filters(): the values alone, the input set
	 * being the flow type's.
	 */
	list_for_each_entry(at, &m->rules, list)
		if (at->loc != fsp->location && at->type == type && at->src_ip == fsp->h_u.tcp_ip4_spec.ip4src &&
		    at->dst_ip == fsp->h_u.tcp_ip4_spec.ip4dst &&
		    (type == NSIM_I40E_IP4 ||
		     (at->src_port == fsp->h_u.tcp_ip4_spec.psrc && at->dst_port == fsp->h_u.tcp_ip4_spec.pdst)))
			return -EINVAL;
	if (fl->fail_next) {
		fl->fail_next--;
		return -EIO;
	}
	if (fl->budget && m->n_rules >= fl->budget && !old)
		return -ENOSPC;
	rule = kzalloc(sizeof(*rule), GFP_KERNEL);
	if (!rule)
		return -ENOMEM;
	rule->loc = fsp->location;
	rule->type = type;
	rule->src_ip = fsp->h_u.tcp_ip4_spec.ip4src;
	rule->dst_ip = fsp->h_u.tcp_ip4_spec.ip4dst;
	if (type != NSIM_I40E_IP4) {
		rule->src_port = fsp->h_u.tcp_ip4_spec.psrc;
		rule->dst_port = fsp->h_u.tcp_ip4_spec.pdst;
	}
	rule->ring_cookie = fsp->ring_cookie;
	if (old)
		nsim_i40e_free(m, old);
	before = &m->rules;
	list_for_each_entry(at, &m->rules, list)
		if (at->loc > rule->loc) {
			before = &at->list;
			break;
		}
	list_add_tail(&rule->list, before);
	m->count[type]++;
	m->n_rules++;
	return 0;
}

/* i40e_get_ethtool_fdir_entry(): the values, and the masks of the flow
 * type's input set.
 */
static int nsim_i40e_get(struct nsim_i40e *m, struct ethtool_rx_flow_spec *fsp)
{
	struct nsim_i40e_rule *rule = nsim_i40e_find(m, fsp->location);
	u8 set;

	if (!rule)
		return -EINVAL;
	set = m->input_set[rule->type];
	fsp->flow_type = rule->type == NSIM_I40E_TCP4 ? TCP_V4_FLOW
			 : rule->type == NSIM_I40E_UDP4 ? UDP_V4_FLOW
							: IP_USER_FLOW;
	if (rule->type == NSIM_I40E_IP4)
		fsp->h_u.usr_ip4_spec.ip_ver = ETH_RX_NFC_IP4;
	fsp->h_u.tcp_ip4_spec.ip4src = rule->src_ip;
	fsp->h_u.tcp_ip4_spec.ip4dst = rule->dst_ip;
	if (set & NSIM_I40E_SRC_IP)
		fsp->m_u.tcp_ip4_spec.ip4src = htonl(0xffffffff);
	if (set & NSIM_I40E_DST_IP)
		fsp->m_u.tcp_ip4_spec.ip4dst = htonl(0xffffffff);
	if (rule->type != NSIM_I40E_IP4) {
		fsp->h_u.tcp_ip4_spec.psrc = rule->src_port;
		fsp->h_u.tcp_ip4_spec.pdst = rule->dst_port;
		if (set & NSIM_I40E_SRC_PORT)
			fsp->m_u.tcp_ip4_spec.psrc = htons(0xffff);
		if (set & NSIM_I40E_DST_PORT)
			fsp->m_u.tcp_ip4_spec.pdst = htons(0xffff);
	}
	fsp->ring_cookie = rule->ring_cookie;
	return 0;
}

int nsim_i40e_get_rxnfc(struct net_device *dev, struct ethtool_rxnfc *cmd, u32 *rule_locs)
{
	struct nsim_dev *nsim_dev = nsim_i40e_dev(dev);
	struct nsim_i40e_rule *rule;
	struct nsim_flower *fl;
	int err = 0, n = 0;

	if (!nsim_dev)
		return -EOPNOTSUPP;
	fl = &nsim_dev->flower;
	mutex_lock(&fl->lock);
	switch (cmd->cmd) {
	case ETHTOOL_GRXRINGS:
		cmd->data = NSIM_I40E_PF_QUEUES;
		break;
	case ETHTOOL_GRXCLSRLCNT:
		cmd->rule_cnt = fl->i40e->n_rules;
		cmd->data = NSIM_I40E_LOCATIONS;
		break;
	case ETHTOOL_GRXCLSRULE:
		err = nsim_i40e_get(fl->i40e, &cmd->fs);
		break;
	case ETHTOOL_GRXCLSRLALL:
		cmd->data = NSIM_I40E_LOCATIONS;
		list_for_each_entry(rule, &fl->i40e->rules, list) {
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

int nsim_i40e_set_rxnfc(struct net_device *dev, struct ethtool_rxnfc *cmd)
{
	struct nsim_dev *nsim_dev = nsim_i40e_dev(dev);
	struct nsim_i40e_rule *rule;
	struct nsim_flower *fl;
	int err;

	if (!nsim_dev)
		return -EOPNOTSUPP;
	fl = &nsim_dev->flower;
	mutex_lock(&fl->lock);
	switch (cmd->cmd) {
	case ETHTOOL_SRXCLSRLINS:
		err = nsim_i40e_add(nsim_dev, &cmd->fs);
		break;
	case ETHTOOL_SRXCLSRLDEL:
		/* i40e_del_fdir_entry(): EINVAL when no filter is there */
		rule = nsim_i40e_find(fl->i40e, cmd->fs.location);
		if (rule)
			nsim_i40e_free(fl->i40e, rule);
		err = rule ? 0 : -EINVAL;
		break;
	default:
		err = -EOPNOTSUPP;
	}
	mutex_unlock(&fl->lock);
	return err;
}

static const char *const nsim_i40e_type_names[] = {"tcp4", "udp4", "ip4"};

static int nsim_i40e_rules_show(struct seq_file *file, void *data)
{
	struct nsim_dev *nsim_dev = file->private;
	struct nsim_flower *fl = &nsim_dev->flower;
	struct nsim_i40e_rule *rule;

	mutex_lock(&fl->lock);
	list_for_each_entry(rule, &fl->i40e->rules, list) {
		u8 set = fl->i40e->input_set[rule->type];
		__be32 src_m = set & NSIM_I40E_SRC_IP ? htonl(0xffffffff) : 0;
		__be32 dst_m = set & NSIM_I40E_DST_IP ? htonl(0xffffffff) : 0;
		bool ports = rule->type != NSIM_I40E_IP4;

		seq_printf(file, "%u %s %pI4/%pI4 %pI4/%pI4 %u/%u %u/%u ", rule->loc, nsim_i40e_type_names[rule->type],
			   &rule->src_ip, &src_m, &rule->dst_ip, &dst_m, ntohs(rule->src_port),
			   ports && (set & NSIM_I40E_SRC_PORT) ? 0xffff : 0, ntohs(rule->dst_port),
			   ports && (set & NSIM_I40E_DST_PORT) ? 0xffff : 0);
		if (rule->ring_cookie == RX_CLS_FLOW_DISC)
			seq_puts(file, "drop\n");
		else if (ethtool_get_flow_spec_ring_vf(rule->ring_cookie))
			seq_printf(file, "vf%u\n", (unsigned int)ethtool_get_flow_spec_ring_vf(rule->ring_cookie) - 1);
		else
			seq_printf(file, "q%u\n", (unsigned int)ethtool_get_flow_spec_ring(rule->ring_cookie));
	}
	mutex_unlock(&fl->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(nsim_i40e_rules);

bool nsim_i40e_busy(struct nsim_dev *nsim_dev)
{
	return nsim_dev->flower.i40e && nsim_dev->flower.i40e->n_rules;
}

int nsim_i40e_init(struct nsim_dev *nsim_dev)
{
	struct nsim_i40e *m = kzalloc(sizeof(*m), GFP_KERNEL);
	int i;

	if (!m)
		return -ENOMEM;
	INIT_LIST_HEAD(&m->rules);
	for (i = 0; i < NSIM_I40E_TYPES; i++)
		m->input_set[i] = i == NSIM_I40E_IP4 ? (NSIM_I40E_SRC_IP | NSIM_I40E_DST_IP) : NSIM_I40E_ALL_FIELDS;
	nsim_dev->flower.i40e = m;
	debugfs_create_file("i40e_fdir_rules", 0400, nsim_dev->ddir, nsim_dev, &nsim_i40e_rules_fops);
	return 0;
}

void nsim_i40e_exit(struct nsim_dev *nsim_dev)
{
	struct nsim_i40e *m = nsim_dev->flower.i40e;
	struct nsim_i40e_rule *rule, *tmp;

	if (!m)
		return;
	list_for_each_entry_safe(rule, tmp, &m->rules, list)
		nsim_i40e_free(m, rule);
	kfree(m);
	nsim_dev->flower.i40e = NULL;
}
