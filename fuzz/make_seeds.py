#!/usr/bin/python3
"""Writes the fuzzers' seed inputs into fuzz/seeds/ (committed; rerun after
changing the example policies or the golden replies):
  policy_loader_fuzz     the example policies
  netlink_decoders_fuzz  the kernel replies captured for the golden tests,
                         each with the selector byte of its decoder
  datapath_parser_fuzz   frames that reach each chain of the fuzzer's policy,
                         and truncated ones (scapy)"""
import glob
import json
import os
import shutil

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.contrib.geneve import GENEVE

root = os.path.dirname(os.path.abspath(__file__))
seeds = os.path.join(root, "seeds")


def fresh(name):
    d = os.path.join(seeds, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


d = fresh("policy_loader_fuzz")
for f in sorted(glob.glob(os.path.join(root, "..", "examples", "*.yaml"))):
    shutil.copy(f, d)

# Selector bytes as in netlink_decoders_fuzz.cpp's Decoder enum.
SELECTOR = {"reply_qdisc_dump": 0, "reply_u32_dump": 1, "reply_bpf_dump": 1, "reply_flower_dump": 1,
            "reply_vf_link": 2, "reply_devlink_eswitch": 5, "reply_devlink_ports": 6}
d = fresh("netlink_decoders_fuzz")
for f in sorted(glob.glob(os.path.join(root, "..", "tests", "golden", "fixtures", "reply_*.json"))):
    name = os.path.basename(f)[:-5]
    if name not in SELECTOR:
        continue
    for i, hexmsg in enumerate(json.load(open(f))["replies"]):
        with open(os.path.join(d, f"{name}_{i}"), "wb") as out:
            out.write(bytes([SELECTOR[name]]) + bytes.fromhex(hexmsg))

eth = Ether(dst="02:00:00:00:00:10", src="02:00:00:00:00:fe")
frames = {
    "web_vlan_tcp80": eth / Dot1Q(vlan=100) / IP(src="10.9.0.1", dst="10.0.0.7") / TCP(dport=80),
    "qinq": eth / Dot1AD(vlan=10) / Dot1Q(vlan=20) / IP(dst="10.1.0.1") / UDP(dport=7),
    "vxlan_42": eth / IP(dst="10.0.0.1") / UDP(dport=4789) / VXLAN(vni=42, flags=0x08)
                / Ether() / IP(dst="10.2.0.1") / TCP(dport=22),
    "geneve_7": eth / IP(dst="10.0.0.1") / UDP(dport=6081) / GENEVE(vni=7) / Ether() / IP(dst="10.3.0.1") / UDP(),
    "v6_udp_1000": eth / IPv6(dst="2001:db8::1") / UDP(sport=1000, dport=9),
    "dns": eth / IP(dst="10.5.0.1") / UDP(dport=53) / (b"\x00" * 12),
    "metered": eth / IP(dst="10.0.9.9") / UDP(dport=5000) / (b"x" * 200),
    "l2_88b5": Ether(dst="02:00:00:00:00:10", type=0x88B5) / b"payload",
    "blocked": eth / IP(src="192.0.2.1", dst="10.0.0.1") / TCP(),
    "unmatched": eth / IP(dst="10.200.0.1") / UDP(dport=1),
}
d = fresh("datapath_parser_fuzz")
for name, pkt in frames.items():
    raw = pkt.build()
    with open(os.path.join(d, name), "wb") as out:
        out.write(raw)
    with open(os.path.join(d, name + "_cut"), "wb") as out:  # truncated inside L3/L4
        out.write(raw[: max(14, len(raw) * 2 // 3)])
