#!/usr/bin/python3
"""Sends one sample frame per chain of examples/lab.yaml (and one that no
chain matches) out of wire0. Run inside the lab's wire namespace:
    ip netns exec vfs-wire examples/lab_traffic.py
Uses Debian's python3-scapy (hence /usr/bin/python3)."""
from scapy.all import Ether, Dot1Q, IP, UDP, TCP, Raw, sendp, conf
from scapy.layers.vxlan import VXLAN

conf.verb = 0
wire = "02:00:00:00:00:fe"
vf = ["02:00:00:00:00:1%d" % i for i in range(4)]

frames = [
    # web: VLAN 100, TCP to 10.0.0.0/24 port 80 -> vlan_pop -> vf0
    Ether(src=wire, dst=vf[0]) / Dot1Q(vlan=100) / IP(src="198.51.100.1", dst="10.0.0.5") / TCP(dport=80) / Raw(b"web"),
    # tenant-b: VXLAN VNI 42 -> tunnel_decap, queue 3 -> vf1
    Ether(src=wire, dst="02:00:00:00:00:ff") / IP(src="192.0.2.1", dst="10.0.1.1") / UDP(sport=40000, dport=4789)
    / VXLAN(vni=42) / Ether(src="02:aa:00:00:00:01", dst=vf[1]) / IP(src="172.16.0.1", dst="172.16.0.2")
    / UDP(dport=9) / Raw(b"tenant-b"),
    # inspect: UDP port 53 -> bpf count -> vf2
    Ether(src=wire, dst=vf[2]) / IP(src="198.51.100.1", dst="10.0.0.9") / UDP(dport=53) / Raw(b"dns"),
    # metered: to 10.0.9.0/24 -> police -> vf3
    Ether(src=wire, dst=vf[3]) / IP(src="198.51.100.1", dst="10.0.9.1") / UDP(dport=5001) / Raw(b"metered"),
    # blocked: from 192.0.2.0/24 -> drop
    Ether(src=wire, dst=vf[0]) / IP(src="192.0.2.66", dst="10.0.0.5") / UDP(dport=5002) / Raw(b"blocked"),
    # no chain: the default path (host stack of uplink0)
    Ether(src=wire, dst="02:00:00:00:00:ff") / IP(src="198.51.100.1", dst="203.0.113.1") / UDP(dport=5003) / Raw(b"none"),
]
sendp(frames, iface="wire0")
print("sent %d frames from wire0" % len(frames))
