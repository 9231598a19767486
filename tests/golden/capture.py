#!/usr/bin/env python3
"""Regenerates tests/golden/fixtures/*.json by capturing what iproute2 sends
and what the kernel answers.

Run as root through tests/golden/regenerate, preferably inside the VM tier
(its kernel has flower, act_*, devlink and netdevsim); on a kernel without
them the fixtures that need them are skipped and listed.

Each fixture records the command line, the ifindexes and ids the command
saw, and either the request iproute2 sent (kind "encode": vfsteer's encoder
must produce the same bytes) or the kernel's replies (kind "decode": vfsteer's
decoder must read them). Sequence numbers and port ids are zeroed in
requests. ethtool's flow rule requests (kind "encode_rxnfc") are the
struct ethtool_rxnfc it passes to the ioctl.
"""
import json
import os
import shlex
import subprocess
import sys
import tempfile

NS = "vfsgold"
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWQDISC, RTM_DELQDISC, RTM_GETQDISC = 36, 37, 38
RTM_NEWTFILTER, RTM_DELTFILTER, RTM_GETTFILTER = 44, 45, 46
GENL_CTRL = 16

# (name, command, message type to keep or "devlink", needs)
# needs: set of "flower", "gact", "vlan", "tunnel_key", "devlink"
ENCODE = [
    ("qdisc_add_clsact", "tc qdisc add dev va clsact", RTM_NEWQDISC, set()),
    ("qdisc_add_ingress", "tc qdisc add dev vb ingress", RTM_NEWQDISC, set()),
    ("qdisc_del_clsact", "tc qdisc del dev vb ingress", RTM_DELQDISC, set()),
    ("qdisc_dump", "tc qdisc show dev va", RTM_GETQDISC, set()),
    ("u32_redirect", "tc filter add dev va ingress prio 10 protocol ip u32 match ip dst 10.0.0.1/32 "
     "action mirred egress redirect dev vb", RTM_NEWTFILTER, set()),
    ("u32_two_keys_mirror_skip_sw", "tc filter add dev va ingress prio 12 protocol ip u32 skip_sw "
     "match ip src 192.168.0.1/32 match ip dport 80 0xffff action mirred egress mirror dev vb",
     RTM_NEWTFILTER, set()),
    ("u32_drop_cookie", "tc filter add dev va ingress prio 13 protocol ip u32 match ip protocol 17 0xff "
     "action drop cookie 0102030405060708", RTM_NEWTFILTER, set()),
    # The layout ixgbe offloads (ixgbe_configure_clsu32), as vfsteer's u32
    # engine lays out chain {dst_ip: 10.0.0.0/24, ip_proto: tcp, dst_port: 80}
    # (u32_layout.hpp): a hash table without buckets, a link from the root
    # table that matches the IP header and the protocol and eats the IP
    # header, and a port match in the linked table.
    ("u32_hash_table", "tc filter add dev va ingress prio 10000 handle 1: protocol ip u32 divisor 1",
     RTM_NEWTFILTER, set()),
    ("u32_link_eat", "tc filter add dev va ingress prio 10000 protocol ip handle 800::7fd u32 link 1: "
     "offset at 0 mask 0f00 shift 6 plus 0 eat skip_sw match ip dst 10.0.0.0/24 match ip protocol 6 ff",
     RTM_NEWTFILTER, set()),
    ("u32_ports_in_table", "tc filter add dev va ingress prio 10000 protocol ip handle 1::1 u32 ht 1: skip_sw "
     "match tcp src 0 0 match tcp dst 80 0xffff action mirred egress redirect dev vb cookie 0102030405060708",
     RTM_NEWTFILTER, set()),
    ("bpf_da_skip_hw", "tc filter add dev va ingress prio 40000 protocol all bpf object-file {obj} "
     "section tc da skip_hw", RTM_NEWTFILTER, set()),
    ("bpf_chain", "tc filter add dev va ingress chain 7 prio 40001 protocol all bpf object-file {obj} "
     "section tc da", RTM_NEWTFILTER, set()),
    ("filter_del_prio", "tc filter del dev va ingress prio 10 protocol ip", RTM_DELTFILTER, set()),
    ("filter_del_handle", "tc filter del dev va ingress prio 10 protocol ip handle 800::800 u32",
     RTM_DELTFILTER, set()),
    ("filter_dump_ingress", "tc filter show dev va ingress", RTM_GETTFILTER, set()),
    ("filter_dump_chain", "tc filter show dev va ingress chain 7", RTM_GETTFILTER, set()),
    ("flower_vlan_pop_redirect", "tc filter add dev va ingress prio 10020 protocol 802.1Q flower "
     "vlan_id 100 vlan_ethtype ipv4 dst_ip 10.0.0.0/24 ip_proto tcp dst_port 80 skip_sw "
     "action vlan pop action mirred egress redirect dev vb", RTM_NEWTFILTER, set()),
    ("flower_ipv6_goto_chain", "tc filter add dev va ingress prio 10061 protocol ipv6 flower "
     "dst_ip 2001:db8::/64 ip_proto udp dst_port 53 skip_sw action goto chain 124125214",
     RTM_NEWTFILTER, set()),
    ("flower_vxlan_decap", "tc filter add dev va ingress prio 10040 protocol ip flower "
     "enc_key_id 42 enc_dst_ip 192.0.2.2 enc_dst_port 4789 skip_sw action tunnel_key unset "
     "action mirred egress redirect dev vb", RTM_NEWTFILTER, set()),
    ("flower_qinq_macs_trap", "tc filter add dev va ingress prio 10050 protocol 802.1ad flower "
     "dst_mac 02:00:00:00:00:01 src_mac 02:00:00:00:00:00/ff:ff:ff:00:00:00 vlan_id 100 "
     "vlan_prio 3 vlan_ethtype 802.1q cvlan_id 200 cvlan_ethtype ipv4 skip_sw action trap",
     RTM_NEWTFILTER, set()),
    ("flower_push_skbedit_skip_hw", "tc filter add dev va ingress prio 10070 protocol ip flower "
     "src_ip 10.1.0.0/16 ip_proto tcp src_port 443 skip_hw action vlan push id 20 protocol 802.1ad "
     "priority 5 action skbedit queue_mapping 3 action skbedit mark 5 action mirred egress redirect "
     "dev vb", RTM_NEWTFILTER, set()),
    ("flower_police_mirror", "tc filter add dev va ingress prio 10080 protocol ip flower "
     "dst_ip 10.0.0.1 action police rate 100mbit burst 64k conform-exceed drop/pipe "
     "action mirred egress mirror dev vb action drop", RTM_NEWTFILTER, set()),
    ("flower_chain_handle", "tc filter add dev va ingress chain 124125204 prio 40000 handle 1 "
     "protocol all flower skip_hw action drop", RTM_NEWTFILTER, set()),
    ("flower_vlan_push_default_proto", "tc filter add dev va ingress prio 10090 protocol ip flower "
     "skip_hw action vlan push id 30 action pass", RTM_NEWTFILTER, set()),
    ("vf_mac", "ip link set dev va vf 0 mac 02:00:00:00:00:01", "vfinfo", set()),
    ("vf_vlan_qos", "ip link set dev va vf 1 vlan 10 qos 3", "vfinfo", set()),
    ("vf_vlan_8021ad", "ip link set dev va vf 1 vlan 20 qos 0 proto 802.1ad", "vfinfo", set()),
    ("vf_rate", "ip link set dev va vf 2 max_tx_rate 100 min_tx_rate 10", "vfinfo", set()),
    ("vf_all", "ip link set dev va vf 3 mac 02:00:00:00:00:03 vlan 7 qos 1 max_tx_rate 200 "
     "min_tx_rate 20 spoofchk off trust on state disable", "vfinfo", set()),
    ("link_show", "ip -d link show dev va", RTM_GETLINK, set()),
    ("veth_create", "ip link add vc address 02:00:00:00:00:0c type veth peer name vd "
     "address 02:00:00:00:00:0d", RTM_NEWLINK, set()),
    ("link_set_up", "ip link set dev va up", RTM_NEWLINK, set()),
    ("link_delete", "ip link del dev vb", RTM_DELLINK, set()),
    ("vxlan_create", "ip link add vfs-vx4789 type vxlan dstport 4789 external", RTM_NEWLINK, set()),
    ("geneve_create", "ip link add vfs-gn6081 type geneve dstport 6081 external", RTM_NEWLINK, {"geneve"}),
    ("devlink_eswitch_set", "devlink dev eswitch set {dl} mode switchdev", "devlink", {"devlink"}),
    ("devlink_eswitch_show", "devlink dev eswitch show {dl}", "devlink", {"devlink"}),
    ("devlink_port_dump", "devlink port show", "devlink", {"devlink"}),
    ("devlink_rate_set", "devlink port function rate set {dl}/{port} tx_share 10mbit tx_max 100mbit",
     "devlink", {"devlink"}),
]

# (name, setup commands, command whose replies are kept, reply type, needs)
DECODE = [
    ("reply_qdisc_dump", ["tc qdisc add dev va clsact"], "tc qdisc show dev va", RTM_NEWQDISC, set()),
    ("reply_u32_dump",
     ["tc qdisc add dev va clsact",
      "tc filter add dev va ingress prio 10 protocol ip u32 match ip dst 10.0.0.1/32 "
      "action mirred egress redirect dev vb"],
     "tc filter show dev va ingress", RTM_NEWTFILTER, set()),
    ("reply_u32_link_dump",
     ["tc qdisc add dev va clsact",
      "tc filter add dev va ingress prio 1 handle 1: protocol ip u32 divisor 1",
      "tc filter add dev va ingress prio 1 protocol ip u32 ht 800: order 1 link 1: "
      "offset at 0 mask 0f00 shift 6 plus 0 eat skip_hw match ip dst 10.0.0.0/24 match ip protocol 17 ff",
      "tc filter add dev va ingress prio 1 protocol ip handle 1:0:2 u32 ht 1: skip_hw "
      "match udp src 0 0 match udp dst 53 0xffff action mirred egress redirect dev vb"],
     "tc filter show dev va ingress", RTM_NEWTFILTER, set()),
    ("reply_bpf_dump",
     ["tc qdisc add dev va clsact",
      "tc filter add dev va ingress prio 40000 protocol all bpf object-file {obj} section tc da"],
     "tc filter show dev va ingress", RTM_NEWTFILTER, set()),
    ("reply_flower_dump",
     ["tc qdisc add dev va clsact",
      "tc filter add dev va ingress prio 10020 protocol 802.1Q flower vlan_id 100 vlan_ethtype ipv4 "
      "dst_ip 10.0.0.0/24 ip_proto tcp dst_port 80 skip_hw action vlan pop "
      "action mirred egress redirect dev vb cookie 0a0b0c0d",
      "tc filter add dev va ingress prio 10080 protocol ip flower dst_ip 10.0.0.1 "
      "action police rate 100mbit burst 64k conform-exceed drop/pipe action drop"],
     "tc filter show dev va ingress", RTM_NEWTFILTER, {"flower"}),
    ("reply_vf_link", ["{vfsetup}"], "ip link show dev {pf}", RTM_NEWLINK, {"devlink"}),
    ("reply_devlink_ports", ["devlink dev eswitch set {dl} mode switchdev"], "devlink port show",
     "devlink", {"devlink"}),
    ("reply_devlink_eswitch", ["devlink dev eswitch set {dl} mode switchdev"],
     "devlink dev eswitch show {dl}", "devlink", {"devlink"}),
]

# ethtool's flow rule requests (an ioctl, struct ethtool_rxnfc), captured on
# the veth, which refuses them: the request is what vfsteer must send alike.
ETHTOOL = [
    ("rxnfc_tcp4_dst_prefix_port_queue",
     "ethtool -N va flow-type tcp4 dst-ip 10.0.0.0 m 0.0.0.255 dst-port 80 action 0 loc 10"),
    ("rxnfc_udp4_ports_vf_queue",
     "ethtool -N va flow-type udp4 src-ip 10.1.2.3 src-port 53 dst-port 5353 m 0xff vf 0 queue 1 loc 2045"),
    ("rxnfc_ip4_proto_drop",
     "ethtool -N va flow-type ip4 src-ip 192.168.0.0 m 0.0.255.255 l4proto 17 action -1 loc 3"),
    ("rxnfc_delete", "ethtool -N va delete 10"),
]
ETHTOOL_SRXCLSRLDEL, ETHTOOL_SRXCLSRLINS = 0x31, 0x32
RXNFC_LOCATION = 176  # offsetof(struct ethtool_rxnfc, fs.location) on x86_64


def rxnfc_normalized(cmd, data):
    """What the kernel reads of ethtool's request; the rest (ethtool leaves
    stack bytes there) zeroed: for an insert, the outer flow_type and data
    words and the tail padding; for a delete, all but cmd and fs.location."""
    out = bytearray(len(data))
    if cmd == ETHTOOL_SRXCLSRLDEL:
        out[0:4] = data[0:4]
        out[RXNFC_LOCATION:RXNFC_LOCATION + 4] = data[RXNFC_LOCATION:RXNFC_LOCATION + 4]
    else:
        out[:] = data
        out[4:16] = bytes(12)
        out[-4:] = bytes(4)
    return bytes(out)


def sh(cmd, check=True):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{cmd}: {r.stderr.strip()}")
    return r


def nsexec(cmd):
    return f"ip netns exec {NS} {cmd}"


def capture(cmd, shim):
    """Runs cmd in the namespace under the shim; returns [(dir, proto, bytes)]."""
    with tempfile.NamedTemporaryFile(delete=False) as f:
        path = f.name
    os.unlink(path)
    env = dict(os.environ, NLCAPTURE_FILE=path, LD_PRELOAD=shim)
    r = subprocess.run(["ip", "netns", "exec", NS] + shlex.split(cmd), env=env,
                       capture_output=True, text=True)
    records = []
    if os.path.exists(path):
        for line in open(path):
            d, proto, hx = line.split()  # proto: the ethtool command for "I"
            records.append((d, int(proto), bytes.fromhex(hx)))
        os.unlink(path)
    return records, r


def messages(datagram):
    out, i = [], 0
    while i + 16 <= len(datagram):
        ln = int.from_bytes(datagram[i:i + 4], "little")
        if ln < 16:
            break
        out.append(datagram[i:i + ln])
        i += (ln + 3) & ~3
    return out


def zero_padding(msg, start):
    """Zeroes the padding after each top-level attribute from `start`.
    iproute2's devlink reuses its buffer without clearing it, so padding can
    hold bytes of an earlier message; the kernel ignores padding."""
    out = bytearray(msg)
    i = start
    while i + 4 <= len(out):
        ln = int.from_bytes(out[i:i + 2], "little")
        if ln < 4:
            break
        end = (i + ln + 3) & ~3
        out[i + ln:min(end, len(out))] = bytes(min(end, len(out)) - (i + ln))
        i = end
    return bytes(out)


def normalized(msg, genl=False):
    msg = msg[:8] + bytes(8) + msg[16:]
    return zero_padding(msg, 20) if genl else msg


def msg_type(msg):
    return int.from_bytes(msg[4:6], "little")


def ifindexes():
    out = {}
    for line in sh(nsexec("ip -o link show")).stdout.splitlines():
        idx, name = line.split(":")[0:2]
        out[name.strip().split("@")[0]] = int(idx)
    return out


def fresh_namespace(needs_devlink):
    sh(f"ip netns del {NS}", check=False)
    sh(f"ip netns add {NS}")
    sh(nsexec("ip link add va type veth peer name vb"))
    sh(nsexec("ip link set va up"))
    sh(nsexec("ip link set vb up"))
    env = {}
    if needs_devlink:
        # netdevsim device 7 with one port and 4 VFs. Written from inside the
        # namespace, so that its devlink instance and netdevs are created there.
        sh(nsexec("sh -c 'echo 7 1 > /sys/bus/netdevsim/new_device'"))
        dev = "/sys/bus/netdevsim/devices/netdevsim7"
        pf = sh(nsexec(f"ls {dev}/net")).stdout.split()[0]
        sh(f"echo 4 > {dev}/sriov_numvfs")
        env.update(dl="netdevsim/netdevsim7", pf=pf, port="128",
                   vfsetup=f"ip link set dev {pf} vf 0 mac 02:00:00:00:00:10 vlan 100 qos 2 "
                           f"spoofchk off trust on state enable")
    return env


def cleanup(needs_devlink):
    sh(f"ip netns del {NS}", check=False)
    if needs_devlink and os.path.exists("/sys/bus/netdevsim/devices/netdevsim7"):
        sh("echo 7 > /sys/bus/netdevsim/del_device", check=False)


def kernel_has(feature):
    if feature == "devlink":
        return os.path.exists("/sys/bus/netdevsim/new_device")
    if feature == "flower":
        sh(f"ip netns add {NS}probe", check=False)
        sh(f"ip -n {NS}probe link add pa type veth peer name pb", check=False)
        sh(f"tc -n {NS}probe qdisc add dev pa clsact", check=False)
        ok = sh(f"tc -n {NS}probe filter add dev pa ingress protocol ip flower skip_hw "
                f"dst_ip 10.0.0.1 action drop", check=False).returncode == 0
        sh(f"ip netns del {NS}probe", check=False)
        return ok
    if feature == "geneve":
        sh(f"ip netns add {NS}probe", check=False)
        ok = sh(f"ip -n {NS}probe link add gp type geneve dstport 6081 external", check=False).returncode == 0
        sh(f"ip netns del {NS}probe", check=False)
        return ok
    return True


def devlink_family(records):
    for d, proto, data in records:
        if d == "R" and proto == 16:
            for m in messages(data):
                if msg_type(m) == GENL_CTRL:
                    # CTRL_ATTR_FAMILY_ID (1) is the first attribute after the genl header.
                    i = 20
                    while i + 4 <= len(m):
                        ln = int.from_bytes(m[i:i + 2], "little")
                        t = int.from_bytes(m[i + 2:i + 4], "little")
                        if t == 1:
                            return int.from_bytes(m[i + 4:i + 6], "little")
                        i += (ln + 3) & ~3
    return None


def bpf_fd(msg):
    """The TCA_BPF_FD value inside a tc bpf request (tc's own fd number)."""
    i = 36
    while i + 4 <= len(msg):
        ln = int.from_bytes(msg[i:i + 2], "little")
        t = int.from_bytes(msg[i + 2:i + 4], "little") & 0x3fff
        if t == 2:  # TCA_OPTIONS
            j = i + 4
            while j + 4 <= i + ln:
                l2 = int.from_bytes(msg[j:j + 2], "little")
                if int.from_bytes(msg[j + 2:j + 4], "little") == 6:  # TCA_BPF_FD
                    return int.from_bytes(msg[j + 4:j + 8], "little")
                j += (l2 + 3) & ~3
        i += (ln + 3) & ~3
    return None


def main():
    if os.geteuid() != 0:
        sys.exit("capture.py: run as root (it creates namespaces)")
    shim = sys.argv[1]
    work = tempfile.mkdtemp()
    obj = os.path.join(work, "pass.bpf.o")
    with open(os.path.join(work, "pass.c"), "w") as f:
        f.write('#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n'
                'SEC("tc") int pass(struct __sk_buff *skb) { return 0; }\n'
                'char LICENSE[] SEC("license") = "GPL";\n')
    sh(f"clang -O2 -target bpf -I/usr/include/x86_64-linux-gnu -c {work}/pass.c -o {obj}")
    have = {f: kernel_has(f) for f in ("flower", "devlink", "geneve")}
    os.makedirs(OUT, exist_ok=True)
    written, skipped = [], []

    for name, cmd, want, needs in ENCODE:
        if not all(have.get(n, True) for n in needs):
            skipped.append(name)
            continue
        env = fresh_namespace("devlink" in needs)
        try:
            command = cmd.format(obj=obj, **env)
            before = ifindexes()  # the command may delete a link
            records, _ = capture(command, shim)
            sent = [m for d, p, data in records if d == "S" for m in messages(data)]
            fixture = {"kind": "encode", "command": command.replace(obj, "pass.bpf.o"),
                       "ifindex": before}
            if want == "devlink":
                fixture["devlink_family"] = devlink_family(records)
                chosen = [m for m in sent if msg_type(m) == fixture["devlink_family"]]
                fixture.update(device=env["dl"], port=int(env["port"]))
            elif want == "vfinfo":
                chosen = [m for m in sent if msg_type(m) == RTM_NEWLINK and len(m) > 32 + 16]
            else:
                chosen = [m for m in sent if msg_type(m) == want]
            if not chosen:
                raise RuntimeError(f"{name}: no request of the wanted type was sent")
            # "ip -d link show" also asks for the veth peer: keep the first GET.
            pick = chosen[0] if want == RTM_GETLINK else chosen[-1]
            fixture["request"] = normalized(pick, genl=(want == "devlink")).hex()
            if name.startswith("bpf_"):
                fixture["bpf_fd"] = bpf_fd(chosen[-1])
            with open(os.path.join(OUT, name + ".json"), "w") as f:
                json.dump(fixture, f, indent=1, sort_keys=True)
            written.append(name)
        finally:
            cleanup("devlink" in needs)

    for name, setup, cmd, want, needs in DECODE:
        if not all(have.get(n, True) for n in needs):
            skipped.append(name)
            continue
        env = fresh_namespace("devlink" in needs)
        try:
            for s in setup:
                sh(nsexec(s.format(obj=obj, **env)))
            command = cmd.format(obj=obj, **env)
            records, r = capture(command, shim)
            if r.returncode != 0:
                raise RuntimeError(f"{name}: {command}: {r.stderr.strip()}")
            family = devlink_family(records)
            got = [m for d, p, data in records if d == "R" for m in messages(data)
                   if msg_type(m) == (family if want == "devlink" else want)]
            fixture = {"kind": "decode", "command": command.replace(obj, "pass.bpf.o"),
                       "setup": [s.format(obj="pass.bpf.o", **env) for s in setup],
                       "ifindex": ifindexes(), "replies": [m.hex() for m in got],
                       "tc_show": sh(nsexec(command.replace("tc ", "tc -j ", 1)), check=False).stdout
                       if command.startswith("tc ") else ""}
            with open(os.path.join(OUT, name + ".json"), "w") as f:
                json.dump(fixture, f, indent=1, sort_keys=True)
            written.append(name)
        finally:
            cleanup("devlink" in needs)

    for name, cmd in ETHTOOL:
        fresh_namespace(False)
        try:
            records, _ = capture(cmd, shim)
            sent = [(c, data) for d, c, data in records if d == "I"]
            if len(sent) != 1:
                raise RuntimeError(f"{name}: {cmd}: {len(sent)} flow rule requests, not one")
            c, data = sent[0]
            fixture = {"kind": "encode_rxnfc", "command": cmd, "request": rxnfc_normalized(c, data).hex()}
            with open(os.path.join(OUT, name + ".json"), "w") as f:
                json.dump(fixture, f, indent=1, sort_keys=True)
            written.append(name)
        finally:
            cleanup(False)

    print(f"wrote {len(written)} fixtures to {OUT}")
    if skipped:
        print("skipped (kernel lacks flower or netdevsim; run through the VM tier): " +
              ", ".join(skipped))


if __name__ == "__main__":
    main()
