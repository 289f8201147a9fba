/**
 * SYN floods, half-open corner cases and ACKs against Linux in a namespace
 * over DPDK net_af_packet: a flood of spoofed SYNs from
 * addresses that never answer (scripts/synflood.py, raw frames) while curl
 * from the namespace keeps fetching; and a SYN on a 4-tuple Linux still
 * holds in TIME-WAIT, which Linux answers with the old connection's ACK;
 * and a Python echo client whose every request gets exactly one segment
 * back (the reply carries the ACK). Small sizes (seconds); scripts/synflood.sh runs the 100k-SYN version.
 */
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { startServices, type ServicesHandle } from '../src/app/services.js';
import type { DpdkMempool } from '../src/pmd/dpdk.js';
import { Stack } from '../src/stack.js';
import { formatMac } from '../src/eth/ethernet.js';
import { createVethNs, interopSuite, nsSpawn, type VethNet } from './helpers/netns.js';

const PREFIX = 'tzF';
const PYTHON = '/usr/bin/python3';
const FLOOD = fileURLToPath(new URL('../../scripts/synflood.py', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A SYN from a raw socket on `port` (as hping3 or nmap would send it), options as Linux. */
const PY_SYN = `
import sys
from scapy.all import IP, TCP, send, conf
conf.verb = 0
dst, sport, seq = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
send(IP(dst=dst)/TCP(sport=sport, dport=80, flags='S', seq=seq, options=[('MSS', 1460), ('SAckOK', b''), ('Timestamp', (1, 0)), ('NOP', None), ('WScale', 7)]))
`;

/** Echo client driven over stdin: connect, 'go' → 20 request/reply rounds of 64 bytes, a line → close. */
const PY_ECHO_ROUNDS = `
import socket, sys
s = socket.create_connection((sys.argv[1], 7), timeout=10)
print('connected', flush=True)
sys.stdin.readline()
for i in range(20):
    s.sendall(bytes([i]) * 64)
    got = b''
    while len(got) < 64:
        got += s.recv(64 - len(got))
    assert got == bytes([i]) * 64
print('done', flush=True)
sys.stdin.readline()
s.close()
`;

interopSuite('interop: SYN flood, half-open cases and ACKs with a Linux host', PREFIX, {
  timeoutMs: 120_000,
  needs: [
    { cmd: ['curl', '--version'], missing: 'curl is not installed' },
    { cmd: [PYTHON, '-c', 'import scapy.all'], missing: 'scapy is not installed' },
  ],
}, (ctx) => {
  let pool: DpdkMempool;
  let net: VethNet | undefined;
  let stack: Stack | undefined;
  let services: ServicesHandle | undefined;
  let startInUse = 0;

  before(async () => {
    net = createVethNs(PREFIX, '10.74.50');
    pool = ctx.dpdk.createPool({ count: 16383 });
    startInUse = pool.inUse();
    const port = ctx.dpdk.openPort(net.devargs, { pool });
    // A small SYN queue, so that a few thousand SYNs overflow it as 100k would the default.
    stack = new Stack({ port, ip: `${net.nearIp}/24`, tcp: { synBacklog: 64 } });
    stack.start();
    services = startServices(stack);
    const r = await net.runAsync(['ping', '-c', '1', '-W', '2', net.nearIp], 10_000);
    expect(r.status, r.stderr).to.equal(0);
  });

  after(async () => {
    if (services) await Promise.race([services.close(), sleep(3000)]);
    if (stack) await stack.close();
    net?.close();
    if (pool) {
      expect(pool.inUse(), 'mbufs left after stack.close()').to.equal(startInUse);
      ctx.dpdk.destroyPool(pool);
    }
  });

  it('a SYN on a 4-tuple Linux holds in TIME-WAIT: its old ACK gets a RST, which ends the TIME-WAIT, and a new connection on that port succeeds', async () => {
    const tcp = stack!.tcp.counters;
    const lport = 40000 + (process.pid % 1000);
    // curl closes first: Linux keeps the 4-tuple in TIME-WAIT.
    const first = await net!.runAsync(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '--local-port', String(lport), `http://${net!.nearIp}/`], 15_000);
    expect(first.stdout, first.stderr).to.equal('200');
    const tw = () => net!.run(['ss', '-Htan', 'state', 'time-wait', 'sport', `= :${lport}`]).stdout.trim();
    // curl's FIN goes first; Linux reaches TIME-WAIT once our FIN answers it (a poll and Node's
    // 'end' later, which a loaded machine can delay past curl's exit): wait for it.
    for (let i = 0; i < 40 && tw() === ''; i++) await sleep(50);
    expect(tw(), 'Linux in TIME-WAIT').to.not.equal('');
    const before = tcp.drops.badAckSynReceived;
    const syn = await net!.runAsync([PYTHON, '-c', PY_SYN, net!.nearIp, String(lport), '123456789'], 30_000);
    expect(syn.status, syn.stderr).to.equal(0);
    for (let i = 0; i < 30 && tcp.drops.badAckSynReceived === before; i++) await sleep(50);
    expect(tcp.drops.badAckSynReceived - before, 'the old ACK drew our RST').to.equal(1);
    await sleep(100);
    expect(tw(), 'the RST ended Linux\'s TIME-WAIT (tcp_rfc1337 = 0)').to.equal('');
    const again = await net!.runAsync(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '--local-port', String(lport), '--max-time', '10', `http://${net!.nearIp}/`], 15_000);
    expect(again.stdout, again.stderr).to.equal('200');
  });

  it('while 20,000 spoofed SYNs flood port 80, every curl from the namespace succeeds (SYN cookies), and all do right after', async () => {
    const tcp = stack!.tcp.counters;
    const mac = formatMac(stack!.mac);
    // The script builds its frames first; curls start when it prints "sending".
    const child = nsSpawn(net!.ns, [PYTHON, FLOOD, net!.farIf, mac, net!.nearIp, '80', '20000', '12', '10000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => { out += d; });
    child.stderr!.on('data', (d) => { err += d; });
    let done = false;
    const flood = new Promise<{ stdout: string; stderr: string }>((resolve) => {
      child.on('close', () => { done = true; resolve({ stdout: out, stderr: err }); });
    });
    for (let i = 0; i < 300 && !out.includes('sending') && !done; i++) await sleep(50);
    const codes: string[] = [];
    while (!done) {
      const r = await net!.runAsync(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', `http://${net!.nearIp}/`], 15_000);
      codes.push(r.stdout.trim() || r.stderr.trim());
    }
    const f = await flood;
    expect(f.stdout, f.stderr).to.match(/sent 20000/);
    console.log(`      ${codes.length} curls during the flood (${f.stdout.trim().split('\n').pop()}); tcp: synQueueOverflow ${tcp.synQueueOverflow}, synCookiesSent ${tcp.synCookiesSent}, synCookiesValid ${tcp.synCookiesValid}`);
    expect(codes.length, 'curls during the flood').to.be.at.least(3);
    expect(codes.filter((c) => c !== '200'), `during the flood: ${codes.length} curls`).to.deep.equal([]);
    expect(tcp.synQueueOverflow, 'the SYN queue overflowed').to.be.greaterThan(1000);
    expect(tcp.synCookiesSent).to.be.at.least(tcp.synQueueOverflow);
    expect(tcp.synCookiesValid, 'curls completed by cookie').to.be.greaterThan(0);
    expect(stack!.tcp.connectionCount(), 'half-open entries stay bounded').to.be.below(64 + 50);
    const after = await net!.runAsync(`for i in $(seq 10); do curl -sS -o /dev/null -w '%{http_code}\\n' --max-time 2 http://${net!.nearIp}/; done`, 60_000);
    expect(after.stdout.trim().split('\n'), after.stderr).to.deep.equal(Array(10).fill('200'));
  });

  it('a Linux echo client: each of 20 requests gets exactly one segment back, the reply carrying the ACK', async () => {
    const tcp = stack!.tcp.counters;
    const child = nsSpawn(net!.ns, [PYTHON, '-c', PY_ECHO_ROUNDS, net!.nearIp], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => { out += d; });
    child.stderr!.on('data', (d) => { err += d; });
    const closed = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)));
    const waitFor = async (w: string): Promise<void> => {
      for (let i = 0; i < 200 && !out.includes(w); i++) await sleep(25);
      expect(out, err).to.include(w);
    };
    await waitFor('connected');
    await sleep(100); // the handshake's last ACK is in
    const tx0 = tcp.tx;
    const delayed0 = tcp.delayedAcks;
    child.stdin!.write('go\n');
    await waitFor('done');
    const sent = tcp.tx - tx0;
    child.stdin!.write('\n');
    expect(await closed, err).to.equal(0);
    expect(sent, 'segments tzstack sent during 20 request/reply rounds').to.equal(20);
    expect(tcp.delayedAcks - delayed0).to.equal(0);
  });
});
