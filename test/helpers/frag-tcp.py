#!/usr/bin/env python3
"""A TCP client in raw Ethernet frames, for test/shard-serve-netns.test.ts.

Usage: frag-tcp.py IFACE SRC_IP DST_IP PORT CONNECTIONS

From SRC_IP (an address the namespace's kernel does not own, so it never
answers tzstack's segments with RST), over an AF_PACKET socket on IFACE:
ARP for DST_IP, then for each connection a handshake, an HTTP request sent
as one TCP segment split into three IPv4 fragments (sent last one first),
the response's first data segment read (its X-Tzstack-Shard header says
which shard holds the connection), an ICMP host-unreachable quoting
tzstack's SYN-ACK (about that connection), and an RST. Prints one JSON
line: [{"sport", "shard", "ok"}].
"""
import json
import os
import random
import socket
import struct
import sys
import time

IFACE, SRC, DST, PORT, N = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
ETH_P_ALL = 0x0003
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
s.bind((IFACE, 0))
s.settimeout(0.2)
MY_MAC = s.getsockname()[4]
src_b, dst_b = socket.inet_aton(SRC), socket.inet_aton(DST)


def csum(b):
    if len(b) % 2:
        b += b'\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return (~t) & 0xffff


def recv_until(pred, timeout=3.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            f = s.recv(65535)
        except socket.timeout:
            continue
        r = pred(f)
        if r is not None:
            return r
    return None


# ARP: ask for DST from SRC; tzstack answers and learns us.
arp = struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 1, MY_MAC, src_b, b'\0' * 6, dst_b)
s.send(b'\xff' * 6 + MY_MAC + b'\x08\x06' + arp)


def arp_reply(f):
    if f[12:14] == b'\x08\x06' and struct.unpack('!H', f[20:22])[0] == 2 and f[28:32] == dst_b:
        return f[22:28]
    return None


TZ_MAC = recv_until(arp_reply)
if TZ_MAC is None:
    print(json.dumps({'error': 'no ARP reply'}))
    sys.exit(1)


def ip_packet(proto, payload, ident, frag_word=0, total_payload=None):
    hdr = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), ident, frag_word, 64, proto, 0, src_b, dst_b)
    hdr = hdr[:10] + struct.pack('!H', csum(hdr)) + hdr[12:]
    return TZ_MAC + MY_MAC + b'\x08\x00' + hdr + payload


def tcp_segment(sport, seq, ack, flags, data=b'', opts=b''):
    off = (20 + len(opts)) // 4
    h = struct.pack('!HHIIBBHHH', sport, PORT, seq, ack, off << 4, flags, 65535, 0, 0) + opts
    pseudo = src_b + dst_b + struct.pack('!BBH', 0, 6, len(h) + len(data))
    c = csum(pseudo + h + data)
    return h[:16] + struct.pack('!H', c) + h[18:] + data


def from_tz(sport):
    def pred(f):
        if f[12:14] != b'\x08\x00' or f[23] != 6 or f[26:30] != dst_b or f[30:34] != src_b:
            return None
        ihl = (f[14] & 0xf) * 4
        t = f[14 + ihl:]
        if struct.unpack('!H', t[2:4])[0] != sport:
            return None
        return f
    return pred


def tcp_fields(f):
    ihl = (f[14] & 0xf) * 4
    t = f[14 + ihl:]
    seq, ack = struct.unpack('!II', t[4:12])
    doff = (t[12] >> 4) * 4
    tot = struct.unpack('!H', f[16:18])[0]
    return seq, ack, t[13], t[doff:tot - ihl], f[14:14 + ihl + 8]


results = []
ident = random.randint(1, 30000)
for i in range(N):
    sport = 41000 + i * 7 + random.randint(0, 6)
    isn = random.randint(0, 2**31)
    pred = from_tz(sport)
    ident += 1
    s.send(ip_packet(6, tcp_segment(sport, isn, 0, 0x02, opts=struct.pack('!BBH', 2, 4, 1460)), ident))
    sa = recv_until(lambda f: (lambda g: g if g and tcp_fields(g)[2] & 0x12 == 0x12 else None)(pred(f)))
    if sa is None:
        results.append({'sport': sport, 'shard': -1, 'ok': False, 'why': 'no SYN-ACK'})
        continue
    tseq, _, _, _, quoted = tcp_fields(sa)
    rcv = tseq + 1
    snd = isn + 1
    ident += 1
    s.send(ip_packet(6, tcp_segment(sport, snd, rcv, 0x10), ident))
    req = ('GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nX-Pad: %s\r\n\r\n' % (DST, 'p' * 1100)).encode()
    seg = tcp_segment(sport, snd, rcv, 0x18, req)
    ident += 1
    # Three fragments at 8-byte multiples: [0, 400), [400, 800), [800, end); the last one first.
    cuts = [0, 400, 800, len(seg)]
    frags = []
    for k in range(3):
        more = 0x2000 if k < 2 else 0
        frags.append(ip_packet(6, seg[cuts[k]:cuts[k + 1]], ident, more | (cuts[k] // 8)))
    for fr in reversed(frags):
        s.send(fr)
    snd += len(req)
    got = recv_until(lambda f: (lambda g: g if g and len(tcp_fields(g)[3]) > 0 else None)(pred(f)))
    shard, ok = -1, False
    if got is not None:
        body = tcp_fields(got)[3].decode('latin1')
        ok = body.startswith('HTTP/1.1 200')
        for line in body.split('\r\n'):
            if line.lower().startswith('x-tzstack-shard:'):
                shard = int(line.split(':')[1])
    # ICMP host unreachable about tzstack's SYN-ACK (its IP header and 8 bytes of TCP), then an RST.
    icmp = struct.pack('!BBHI', 3, 1, 0, 0) + quoted
    icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
    ident += 1
    s.send(ip_packet(1, icmp, ident))
    ident += 1
    s.send(ip_packet(6, tcp_segment(sport, snd, 0, 0x04), ident))
    results.append({'sport': sport, 'shard': shard, 'ok': ok})
print(json.dumps(results))
