/**
 * ICMP errors from a real Linux router reaching tzstack's TCP (RFC 1191,
 * RFC 5927): tzstack on `net_af_packet` behind namespace R, which forwards
 * to namespace S over a link whose MTU on R's side is 1280 while S's own
 * interface stays at 1500 (so S's SYN still announces MSS 1460). curl in S
 * downloads from tzstack: the first 1500-byte segments with DF make R answer
 * "fragmentation needed, next-hop MTU 1280", tzstack lowers the connection's
 * MSS and the download completes byte-exact. Connects through R to a
 * destination R routes `unreachable` and to one R has no route for end with
 * EHOSTUNREACH and ENETUNREACH from R's Destination Unreachable.
 */
import { expect } from 'chai';
import { patternSha256 } from '../src/app/pattern.js';
import { startServices } from '../src/app/services.js';
import type { DpdkMempool, DpdkPort } from '../src/pmd/dpdk.js';
import { Stack } from '../src/stack.js';
import type { TcpConnection } from '../src/tcp/connection.js';
import { createVethNs, interopSuite, nsExec, nsRun, nsRunAsync, run, sh, type VethNet } from './helpers/netns.js';
import type { Ip4 } from '../src/ip/addr.js';

const PREFIX = 'tzPm';
const BYTES = 2_000_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interopSuite('interop: path MTU and unreachables from a Linux router', PREFIX, { timeoutMs: 120_000 }, (ctx) => {
  let pool: DpdkMempool | undefined;
  let port: DpdkPort | undefined;
  let stack: Stack | undefined;
  let r: VethNet | undefined;
  let s = '';
  let base = 0;

  before(() => {
    r = createVethNs(PREFIX, '10.83.1');
    s = `${PREFIX}${process.pid}s`;
    const rIf = `${PREFIX}${process.pid}r`;
    const sIf = `${PREFIX}${process.pid}q`;
    sh(['ip', 'netns', 'add', s]);
    nsExec(r.ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    nsExec(r.ns, ['ip', 'link', 'add', rIf, 'mtu', '1280', 'type', 'veth', 'peer', 'name', sIf, 'netns', s]);
    for (const [ns, ifn, addr] of [[r.ns, rIf, '10.83.2.1/24'], [s, sIf, '10.83.2.2/24']]) {
      nsRun(ns, ['ethtool', '-K', ifn, 'tx', 'off', 'rx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']);
      nsRun(ns, ['sysctl', '-qw', `net.ipv6.conf.${ifn}.disable_ipv6=1`]);
      nsExec(ns, ['ip', 'addr', 'add', addr, 'dev', ifn]);
      nsExec(ns, ['ip', 'link', 'set', ifn, 'up']);
    }
    nsExec(s, ['ip', 'link', 'set', 'lo', 'up']);
    nsExec(s, ['ip', 'route', 'add', 'default', 'via', '10.83.2.1']);
    nsExec(r.ns, ['ip', 'route', 'add', 'unreachable', '10.83.9.0/24']);
    pool = ctx.dpdk.createPool({ count: 4096 });
    base = pool.inUse();
    port = ctx.dpdk.openPort(r.devargs, { pool });
    stack = new Stack({ port, ip: '10.83.1.1/24', gateway: '10.83.1.2' });
    startServices(stack, { services: ['http'] });
    stack.start();
  });

  after(async () => {
    if (stack) await stack.close(); else port?.close();
    if (s) run(['ip', 'netns', 'del', s]);
    r?.close();
    if (pool) {
      expect(pool.inUse(), 'mbufs left after stack.close()').to.equal(base);
      ctx.dpdk.destroyPool(pool);
    }
  });

  it(`curl behind a 1280-byte link downloads ${BYTES} bytes byte-exact: R's "fragmentation needed" lowers tzstack's MSS`, async () => {
    const res = await nsRunAsync(s, ['sh', '-c', `curl -sS --max-time 60 http://10.83.1.1/bytes/${BYTES} | sha256sum`], 70_000);
    const why = () => `${res.stderr} tcp=${JSON.stringify(stack!.counters.tcp)} icmp=${JSON.stringify(stack!.counters.icmp)} ip=${JSON.stringify(stack!.counters.ip)} port=${JSON.stringify(stack!.port.stats)} R: ${nsRun(r!.ns, ['ip', '-s', 'link']).stdout} ${nsRun(r!.ns, ['nstat', '-az']).stdout.split('\n').filter((l) => /Icmp|Forw|Frag/.test(l)).join(' ')}`;
    expect(res.stdout.split(' ')[0], why()).to.equal(patternSha256(BYTES));
    expect(stack!.counters.tcp.pmtuDecreases, 'MSS lowered from the ICMP error').to.be.at.least(1);
    expect(stack!.counters.icmp.errorsReceived).to.be.at.least(1);
  });

  it('connects through R end with EHOSTUNREACH (route unreachable) and ENETUNREACH (no route), from R\'s ICMP', async () => {
    const outcome = async (ip: Ip4): Promise<string> => {
      const c: TcpConnection = stack!.tcp.connect(ip, 80);
      let code = '';
      c.onClose = (e) => { code = e?.code ?? 'closed'; };
      for (let i = 0; i < 100 && code === ''; i++) await sleep(50);
      if (code === '') c.abort();
      return code;
    };
    expect(await outcome(0x0a530909 as Ip4)).to.equal('EHOSTUNREACH'); // 10.83.9.9
    // Linux rate-limits these errors per destination (icmp_ratelimit): a second's gap.
    await sleep(1100);
    expect(await outcome(0x0a630001 as Ip4)).to.equal('ENETUNREACH'); // 10.99.0.1
  });
});
