/**
 * The kernel exception path (src/exception.ts) over IPv6 against Linux, as
 * test/exception-path does for IPv4: tzstack drives a veth end
 * (net_af_packet) toward a namespace; a tap (net_tap), moved into a second
 * namespace that stands for "the kernel beside tzstack", carries tzstack's
 * MAC and IPv6 address there (no link-local address, no DAD: tzstack owns
 * the address on the wire). From the namespace, over IPv6, a kernel HTTP
 * server and UDP echo answer on tzstack's address while tzstack's own echo
 * and ping -6 answer too; the kernel learns its neighbour from the copies
 * of Neighbor Discovery.
 */
import { expect } from 'chai';
import { kernelBeside } from './helpers/kernel-beside.js';
import { interopSuite, run } from './helpers/netns.js';

const PREFIX = 'tzK6';
const NEAR6 = 'fd00:71:61::1';
const FAR6 = 'fd00:71:61::2';

interopSuite('exception path over IPv6: kernel services beside tzstack on one IPv6 address', PREFIX, {
  timeoutMs: 60000,
  needs: [{ cmd: ['sh', '-c', 'command -v curl && command -v nc && command -v python3'], missing: 'curl, nc or python3 is not installed' }],
}, (ctx) => {
  const k = kernelBeside(ctx, PREFIX, { subnet: '10.71.61', ipv6: { near: NEAR6, far: FAR6 } });

  it('a kernel HTTP server on the same IPv6 address answers curl -6; ND copies fill the kernel\'s neighbour table', async () => {
    const r = await k.net.runAsync(['curl', '-6', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', `http://[${NEAR6}]:8088/`], 20000);
    expect(r.stdout, `${r.stderr} ${JSON.stringify(k.path.counters)}`).to.equal('200');
    expect(k.path.counters.toKernel6.tcp).to.be.greaterThan(0);
    expect(k.path.counters.toKernel6.nd).to.be.greaterThan(0);
    expect(k.path.counters.fromKernel).to.be.greaterThan(0);
    expect(run(['ip', 'netns', 'exec', k.kns, 'ip', '-6', 'neigh', 'show', FAR6, 'dev', k.tap]).stdout).to.match(/lladdr/);
  });

  it("tzstack's own echo on port 7 answers over IPv6, and ping -6 is answered by tzstack", async () => {
    const r = await k.net.runAsync(['sh', '-c', `printf 'via-tzstack6' | timeout 5 nc -6 -q 1 ${NEAR6} 7`], 10000);
    expect(r.stdout).to.equal('via-tzstack6');
    const echoes = k.stack.counters.icmp6!.echoRepliesSent as number;
    const p = await k.net.runAsync(['ping', '-6', '-c', '2', '-i', '0.2', '-W', '2', NEAR6], 10000);
    expect(p.status, p.stdout).to.equal(0);
    expect(k.stack.counters.icmp6!.echoRepliesSent).to.be.at.least(echoes + 2);
  });

  it('UDP over IPv6 to a port no tzstack socket holds reaches the kernel', async () => {
    const r = await k.net.runAsync(['sh', '-c', `printf 'dgram6' | timeout 3 nc -6 -u -w 2 ${NEAR6} 9999`], 10000);
    expect(r.stdout).to.equal('kernel6:dgram6');
    expect(k.path.counters.toKernel6.udp).to.be.greaterThan(0);
  });
});
