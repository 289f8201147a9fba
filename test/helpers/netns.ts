/**
 * Network namespaces for interop tests: a Linux host in a namespace, joined
 * to a DPDK port in this process by a veth pair (`net_af_packet`) or a tap
 * device (`net_tap`).
 *
 * Names embed the creating process id (`<prefix><pid>n<k>`), so that
 * {@link sweepStale} can remove what a crashed run left behind without
 * touching another live run's objects. Keep prefixes to 3-4 characters:
 * interface names are limited to 15.
 */
import { expect } from 'chai';
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { Dpdk, type DpdkMempool } from '../../src/pmd/dpdk.js';
import type { Port } from '../../src/pmd/port.js';

/** Result of a command that may fail. */
export interface RunResult { status: number; stdout: string; stderr: string }

/** Run a command in the root namespace; throws with its stderr on failure. */
export function sh(cmd: string[]): string {
  try {
    return execFileSync(cmd[0], cmd.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; status?: number };
    throw new Error(`${cmd.join(' ')} failed (${err.status}): ${(err.stderr ?? '').trim()}`);
  }
}

/** Run a command and report its outcome instead of throwing. */
export function run(cmd: string[], timeoutMs = 30000): RunResult {
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

function nsArgv(ns: string, cmd: string | string[]): string[] {
  const argv = typeof cmd === 'string' ? ['sh', '-c', cmd] : cmd;
  return ['ip', 'netns', 'exec', ns, ...argv];
}

/** Run a command (argv, or a string for `sh -c`) inside a namespace; throws on failure. */
export function nsExec(ns: string, cmd: string | string[]): string { return sh(nsArgv(ns, cmd)); }

/** Run a command inside a namespace and report its outcome (never throws). */
export function nsRun(ns: string, cmd: string | string[], timeoutMs = 30000): RunResult {
  return run(nsArgv(ns, cmd), timeoutMs);
}

/**
 * Run a command inside a namespace asynchronously, collecting its output.
 * The poll loop of a stack in this process keeps running while it works.
 */
export function nsRunAsync(ns: string, cmd: string | string[], timeoutMs = 30000): Promise<RunResult> {
  return runAsync(nsArgv(ns, cmd), timeoutMs);
}

/** Run a command (in the root namespace) without blocking the event loop; never throws. */
export function runAsync(argv: string[], timeoutMs = 30000): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { stderr += '\n(timed out)'; child.kill('SIGKILL'); }, timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ status: code ?? -1, stdout, stderr }); });
    child.on('error', (e) => { clearTimeout(timer); resolve({ status: -1, stdout, stderr: stderr + String(e) }); });
  });
}

/** Spawn a long-running command inside a namespace; the caller kills it. */
export function nsSpawn(ns: string, cmd: string[], opts: SpawnOptions = {}): ChildProcess {
  const argv = nsArgv(ns, cmd);
  return spawn(argv[0], argv.slice(1), { stdio: 'ignore', ...opts });
}

/** Whether namespaces can be made here; otherwise why not (for skipping tests). */
export function netnsAvailability(): { ok: true } | { ok: false; reason: string } {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { ok: false, reason: 'network namespaces need root' };
  const r = run(['ip', 'netns', 'list']);
  if (r.status !== 0) return { ok: false, reason: `ip netns does not work here: ${r.stderr.trim()}` };
  return { ok: true };
}

let seq = 0;

/** Fresh names for one test network. */
function names(prefix: string): { ns: string; near: string; far: string; tap: string } {
  const k = seq++;
  const base = `${prefix}${process.pid}`;
  return { ns: `${base}n${k}`, near: `${base}v${k}`, far: `${base}f${k}`, tap: `${base}t${k}` };
}

/** Split 'a.b.c' or 'a.b.c.0/24' into the first three octets. */
function subnet24(subnet: string): string {
  const m = /^(\d+\.\d+\.\d+)(\.\d+(\/24)?)?$/.exec(subnet);
  if (!m) throw new Error(`subnet must look like 10.71.3 or 10.71.3.0/24, not ${subnet}`);
  return m[1];
}

/** A namespace holding a Linux host at `farIp`, joined to this process by some link. */
export interface TestNet {
  /** Namespace name. */
  readonly ns: string;
  /** The address tzstack should use (x.y.z.1). */
  readonly nearIp: string;
  /** The namespace's address (x.y.z.2). */
  readonly farIp: string;
  /** Prefix length (24). */
  readonly prefixLen: number;
  /** Interface inside the namespace. */
  readonly farIf: string;
  /** Run a command inside the namespace (throws on failure). */
  exec(cmd: string | string[]): string;
  /** Run a command inside the namespace (never throws). */
  run(cmd: string | string[], timeoutMs?: number): RunResult;
  /** Same, without blocking the event loop. */
  runAsync(cmd: string | string[], timeoutMs?: number): Promise<RunResult>;
  /** The namespace's neighbour entry for `ip`, as `ip neigh` prints it ('' if none). */
  neighbour(ip: string): string;
  /** Remove the namespace and its interfaces; safe to call twice. */
  close(): void;
}

/** A veth pair: `near` stays in the root namespace for `net_af_packet0,iface=<near>`. */
export interface VethNet extends TestNet {
  readonly near: string;
  /** Devargs for a DPDK af_packet port on the near end. */
  readonly devargs: string;
}

/** A tap device DPDK created, moved into the namespace. */
export interface TapNet extends TestNet {
  readonly tap: string;
}

function disableIpv6(ns: string | null, ifname: string): void {
  // Router solicitations and MLD reports would add noise the tests must then skip.
  const cmd = ['sysctl', '-qw', `net.ipv6.conf.${ifname}.disable_ipv6=1`];
  run(ns ? nsArgv(ns, cmd) : cmd);
}

function makeNet(ns: string, farIf: string, net: string, extraClose: () => void): TestNet {
  let closed = false;
  return {
    ns, farIf, nearIp: `${net}.1`, farIp: `${net}.2`, prefixLen: 24,
    exec: (cmd) => nsExec(ns, cmd),
    run: (cmd, t) => nsRun(ns, cmd, t),
    runAsync: (cmd, t) => nsRunAsync(ns, cmd, t),
    neighbour: (ip) => nsRun(ns, ['ip', 'neigh', 'show', ip, 'dev', farIf]).stdout.trim(),
    close: () => {
      if (closed) return;
      closed = true;
      extraClose();
      run(['ip', 'netns', 'del', ns]);
    },
  };
}

/**
 * Make a namespace with a veth pair: the far end inside at `<subnet>.2/24`,
 * the near end up in the root namespace without an address (DPDK's
 * af_packet port owns it). Checksum and segmentation offloads are off on
 * both ends, so frames on the wire are exactly what each side wrote.
 */
export function createVethNs(prefix: string, subnet: string): VethNet {
  const net = subnet24(subnet);
  const n = names(prefix);
  const cleanup = () => { run(['ip', 'link', 'del', n.near]); };
  try {
    sh(['ip', 'netns', 'add', n.ns]);
    sh(['ip', 'link', 'add', n.near, 'type', 'veth', 'peer', 'name', n.far]);
    sh(['ip', 'link', 'set', n.far, 'netns', n.ns]);
    disableIpv6(null, n.near);
    disableIpv6(n.ns, n.far);
    run(['ethtool', '-K', n.near, 'tx', 'off', 'rx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    nsRun(n.ns, ['ethtool', '-K', n.far, 'tx', 'off', 'rx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    sh(['ip', 'link', 'set', n.near, 'up']);
    nsExec(n.ns, ['ip', 'link', 'set', 'lo', 'up']);
    nsExec(n.ns, ['ip', 'addr', 'add', `${net}.2/24`, 'dev', n.far]);
    nsExec(n.ns, ['ip', 'link', 'set', n.far, 'up']);
  } catch (e) {
    cleanup();
    run(['ip', 'netns', 'del', n.ns]);
    throw e;
  }
  const base = makeNet(n.ns, n.far, net, cleanup);
  return { ...base, near: n.near, devargs: `net_af_packet0,iface=${n.near}` };
}

/** A tap interface name for {@link createTapNs}, to put in `net_tap0,iface=<name>` first. */
export function tapName(prefix: string): string { return names(prefix).tap; }

/**
 * Move a tap interface that DPDK created (`net_tap0,iface=<tap>`, after the
 * port started) into a new namespace and give it `<subnet>.2/24` there. The
 * DPDK port keeps working: its file descriptor stays attached to the device.
 */
export function createTapNs(prefix: string, subnet: string, tap: string): TapNet {
  const net = subnet24(subnet);
  const n = names(prefix);
  try {
    sh(['ip', 'netns', 'add', n.ns]);
    sh(['ip', 'link', 'set', tap, 'netns', n.ns]);
    disableIpv6(n.ns, tap);
    nsRun(n.ns, ['ethtool', '-K', tap, 'tx', 'off', 'rx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    nsExec(n.ns, ['ip', 'link', 'set', 'lo', 'up']);
    nsExec(n.ns, ['ip', 'addr', 'add', `${net}.2/24`, 'dev', tap]);
    nsExec(n.ns, ['ip', 'link', 'set', tap, 'up']);
  } catch (e) {
    run(['ip', 'netns', 'del', n.ns]);
    throw e;
  }
  // Deleting the namespace destroys the tap there unless DPDK already closed it.
  const base = makeNet(n.ns, tap, net, () => { nsRun(n.ns, ['ip', 'link', 'del', tap]); });
  return { ...base, tap };
}

/** Turn checksum and segmentation offloads off on `ifname` (in `ns`, or the root namespace for null). */
function offloadsOff(ns: string | null, ifname: string): void {
  const cmd = ['ethtool', '-K', ifname, 'tx', 'off', 'rx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off'];
  run(ns ? nsArgv(ns, cmd) : cmd);
}

/**
 * Bring up `ifname` in `ns` as an IPv6 host (these helpers otherwise turn
 * IPv6 off): offloads off, `addr6`/64 without DAD, IPv4 `ipv4` (a.b.c.d/len)
 * too when given, `lo` and the interface up. Throws when a step fails.
 */
export function ipv6FarUp(ns: string, ifname: string, addr6: string, ipv4?: string): void {
  offloadsOff(ns, ifname);
  nsRun(ns, ['sysctl', '-qw', `net.ipv6.conf.${ifname}.disable_ipv6=0`]);
  nsRun(ns, ['sysctl', '-qw', `net.ipv6.conf.${ifname}.accept_dad=0`]);
  nsExec(ns, ['ip', 'link', 'set', 'lo', 'up']);
  nsExec(ns, ['ip', '-6', 'addr', 'add', `${addr6}/64`, 'dev', ifname, 'nodad']);
  if (ipv4 !== undefined) nsExec(ns, ['ip', 'addr', 'add', ipv4, 'dev', ifname]);
  nsExec(ns, ['ip', 'link', 'set', ifname, 'up']);
}

/** Turn IPv6 on at `ifname` in `ns` with `addr6`/64 and no DAD (after {@link createVethNs} turned it off there). */
export function enableIpv6(ns: string, ifname: string, addr6: string): void {
  for (const k of ['disable_ipv6=0', 'accept_dad=0']) nsRun(ns, ['sysctl', '-qw', `net.ipv6.conf.${ifname}.${k}`]);
  nsExec(ns, ['ip', '-6', 'addr', 'add', `${addr6}/64`, 'dev', ifname, 'nodad']);
}

/** A namespace whose end of a link speaks IPv6 ({@link createVethNs6}, {@link createTapNs6}). */
export interface Net6 {
  readonly ns: string;
  /** The interface inside the namespace. */
  readonly far: string;
  /** Remove the namespace and its interfaces; safe to call twice. */
  close(): void;
}

/** A veth pair toward an IPv6 host: `near` stays in the root namespace (IPv6 off) for `net_af_packet0,iface=<near>`. */
export interface Veth6Net extends Net6 {
  readonly near: string;
  readonly devargs: string;
}

function once(fn: () => void): () => void {
  let done = false;
  return () => { if (!done) { done = true; fn(); } };
}

/**
 * A namespace joined by a veth pair whose far end is an IPv6 host at
 * `addr6` ({@link ipv6FarUp}; IPv4 `ipv4` too when given); the near end, up
 * with IPv6 and offloads off, is DPDK's.
 */
export function createVethNs6(prefix: string, addr6: string, ipv4?: string): Veth6Net {
  const n = names(prefix);
  const close = once(() => { run(['ip', 'link', 'del', n.near]); run(['ip', 'netns', 'del', n.ns]); });
  try {
    sh(['ip', 'netns', 'add', n.ns]);
    sh(['ip', 'link', 'add', n.near, 'type', 'veth', 'peer', 'name', n.far]);
    sh(['ip', 'link', 'set', n.far, 'netns', n.ns]);
    disableIpv6(null, n.near);
    offloadsOff(null, n.near);
    sh(['ip', 'link', 'set', n.near, 'up']);
    ipv6FarUp(n.ns, n.far, addr6, ipv4);
  } catch (e) {
    close();
    throw e;
  }
  return { ns: n.ns, near: n.near, far: n.far, devargs: `net_af_packet0,iface=${n.near}`, close };
}

/**
 * Move a tap DPDK made (`net_tap0,iface=<tap>`) into a new namespace as an
 * IPv6 host at `addr6` ({@link ipv6FarUp}). DPDK's net_tap gives the
 * kernel's tap the port's own MAC: both ends would then form the same
 * EUI-64 link-local address, and DAD rightly refuses it, so the kernel end
 * takes `mac`. Call {@link drainRx} on the port afterwards.
 */
export function createTapNs6(prefix: string, tap: string, mac: string, addr6: string, ipv4?: string): Net6 {
  const ns = names(prefix).ns;
  const close = once(() => { nsRun(ns, ['ip', 'link', 'del', tap]); run(['ip', 'netns', 'del', ns]); });
  try {
    sh(['ip', 'netns', 'add', ns]);
    sh(['ip', 'link', 'set', tap, 'netns', ns]);
    nsExec(ns, ['ip', 'link', 'set', 'dev', tap, 'address', mac]);
    ipv6FarUp(ns, tap, addr6, ipv4);
  } catch (e) {
    close();
    throw e;
  }
  return { ns, far: tap, close };
}

/** The namespace of {@link createKernelTapNs}: the kernel beside tzstack. */
export interface KernelNs {
  readonly ns: string;
  /** Run a command there (throws on failure). */
  exec(cmd: string[]): string;
  /** Remove the namespace (and the tap in it); safe to call twice. */
  close(): void;
}

/**
 * The exception path's "kernel beside tzstack" (src/exception.ts): move the
 * tap DPDK made (`net_tap0,iface=<tap>`) into a namespace of its own (not
 * the root one: it would also take the frames the veth end delivers, as a
 * NIC given to DPDK never does) wearing tzstack's `mac` and `ipv4` (a.b.c.d/len)
 * there, offloads off; with `ipv6`, tzstack's IPv6 address too (/64, no
 * link-local address of its own, no DAD, no router solicitations: tzstack
 * owns the address on the wire), else IPv6 off.
 */
export function createKernelTapNs(tap: string, mac: string, ipv4: string, ipv6?: string): KernelNs {
  const ns = `${tap}k`;
  const k = (cmd: string[]): string => nsExec(ns, cmd);
  sh(['ip', 'netns', 'add', ns]);
  const close = once(() => { run(['ip', 'netns', 'del', ns]); });
  try {
    sh(['ip', 'link', 'set', tap, 'netns', ns]);
    if (ipv6 === undefined) disableIpv6(ns, tap);
    k(['ip', 'link', 'set', 'dev', tap, 'address', mac]);
    offloadsOff(ns, tap);
    if (ipv6 !== undefined) {
      for (const s of ['disable_ipv6=0', 'accept_dad=0', 'router_solicitations=0', 'accept_ra=0']) {
        nsRun(ns, ['sysctl', '-qw', `net.ipv6.conf.${tap}.${s}`]);
      }
      nsRun(ns, ['ip', 'link', 'set', 'dev', tap, 'addrgenmode', 'none']);
    }
    k(['ip', 'link', 'set', 'lo', 'up']);
    k(['ip', 'addr', 'add', ipv4, 'dev', tap]);
    if (ipv6 !== undefined) k(['ip', '-6', 'addr', 'add', `${ipv6}/64`, 'dev', tap, 'nodad']);
    k(['ip', 'link', 'set', tap, 'up']);
  } catch (e) {
    close();
    throw e;
  }
  return { ns, exec: k, close };
}

/**
 * Wait (up to `tries` × 100 ms) until something in `ns` listens on every
 * one of `sockets` (TCP or UDP ports): Python servers start slowly on a
 * loaded machine. Resolves with whether they all do.
 */
export async function waitListening(ns: string, sockets: ReadonlyArray<readonly [number, 'tcp' | 'udp']>, tries = 150): Promise<boolean> {
  const listening = ([port, proto]: readonly [number, 'tcp' | 'udp']): boolean =>
    nsRun(ns, ['ss', proto === 'tcp' ? '-ltnH' : '-lunH', `sport = :${port}`]).stdout.trim() !== '';
  for (let t = 0; t < tries; t++) {
    if (sockets.every(listening)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return sockets.every(listening);
}

/** A child process whose output is collected ({@link startProc}). */
export interface Proc { child: ChildProcess; stdout: string; stderr: string; done: Promise<number> }

/** Spawn `argv` collecting its stdout and stderr; `done` resolves with its exit code (-1 for a signal). */
export function startProc(argv: string[]): Proc {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = { child, stdout: '', stderr: '', done: Promise.resolve(0) };
  child.stdout!.on('data', (d) => { p.stdout += d; });
  child.stderr!.on('data', (d) => { p.stderr += d; });
  p.done = new Promise((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  return p;
}

/** Poll `cond` every 50 ms for up to `ms`; resolves with whether it came true. */
export async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  for (let t = 0; t < ms; t += 50) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/**
 * Remove namespaces and interfaces named `<prefix><pid>...` whose process is
 * gone (left by a crashed or killed run). Returns what was removed.
 */
export function sweepStale(prefix: string): string[] {
  const removed: string[] = [];
  // [a-z] then digits or nothing: the namespaces and links helpers make (n1, v1, …) and those a test adds itself (interop-pmtu's s, r, q).
  const re = new RegExp(`^${prefix}(\\d+)[a-z]\\d*$`);
  const stale = (name: string) => {
    const m = re.exec(name);
    return m !== null && !pidAlive(Number(m[1]));
  };
  for (const line of run(['ip', 'netns', 'list']).stdout.split('\n')) {
    const ns = line.split(' ')[0];
    if (ns && stale(ns)) { run(['ip', 'netns', 'del', ns]); removed.push(ns); }
  }
  for (const line of run(['ip', '-o', 'link', 'show']).stdout.split('\n')) {
    const m = /^\d+: ([^:@]+)[:@]/.exec(line);
    if (m && stale(m[1])) { run(['ip', 'link', 'del', m[1]]); removed.push(m[1]); }
  }
  return removed;
}

/** A program an interop suite needs, and what to say when it is missing. */
export interface Needed { cmd: string[]; missing: string }

/**
 * Why an interop suite cannot run here, or null when it can: DPDK usable
 * (unless `dpdk` is false), namespaces possible, and every `needs` command
 * exits 0.
 */
export function interopPreconditions(opts: { dpdk?: boolean; needs?: Needed[] } = {}): string | null {
  if (opts.dpdk !== false) {
    const d = Dpdk.availability();
    if (!d.ok) return d.reason;
  }
  const n = netnsAvailability();
  if (!n.ok) return n.reason;
  for (const x of opts.needs ?? []) if (run(x.cmd).status !== 0) return x.missing;
  return null;
}

/** What an {@link interopSuite} body gets; read it inside hooks and tests (it is filled in by the suite's `before`). */
export interface InteropContext {
  /** The process's DPDK (shared `Dpdk.init()`; never close it in a test). */
  readonly dpdk: Dpdk;
}

/**
 * A mocha `describe` for tests against Linux in namespaces: checks
 * {@link interopPreconditions} once (the title says why when skipped, and
 * the suite is skipped), initialises DPDK in this process (unless
 * `initDpdk` is false, e.g. when the stack runs in a child process), and
 * sweeps what crashed runs with this `prefix` left behind.
 */
export function interopSuite(title: string, prefix: string,
  opts: { timeoutMs?: number; dpdk?: boolean; initDpdk?: boolean; needs?: Needed[] },
  body: (ctx: InteropContext) => void): void {
  const reason = interopPreconditions(opts);
  let dpdk: Dpdk | undefined;
  const ctx: InteropContext = {
    get dpdk(): Dpdk {
      if (!dpdk) throw new Error('interopSuite: DPDK is not initialised (initDpdk: false, or used outside a hook)');
      return dpdk;
    },
  };
  describe(reason === null ? title : `${title} (skipped: ${reason})`, function () {
    if (opts.timeoutMs !== undefined) this.timeout(opts.timeoutMs);
    before(function () {
      if (reason !== null) { console.log(`    skipping: ${reason}`); this.skip(); }
      if (opts.dpdk !== false && opts.initDpdk !== false) dpdk = Dpdk.init();
      sweepStale(prefix);
    });
    body(ctx);
  });
}

/**
 * The usual `after` of an interop suite: close the stack (or only the port,
 * when no stack was made), remove the namespace, check the pool is full
 * again (`startInUse` as before the suite) and destroy it.
 */
export async function closeInterop(ctx: InteropContext, o: {
  stack?: { close(): Promise<void> }; port?: { close(): void }; net?: { close(): void }; pool?: DpdkMempool; startInUse: number;
}): Promise<void> {
  if (o.stack) await o.stack.close(); else o.port?.close();
  o.net?.close();
  if (o.pool) {
    expect(o.pool.inUse(), 'mbufs left after stack.close()').to.equal(o.startInUse);
    ctx.dpdk.destroyPool(o.pool);
  }
}

/**
 * Free every frame a port has received so far; returns how many. DPDK's
 * net_tap gives the kernel's tap the port's own MAC, and until a test moves
 * it into a namespace (and gives it another MAC) the kernel may already have
 * sent a DAD probe for the EUI-64 link-local address the stack is about to
 * claim. The probe waits in the tap's queue: a stack started on it would see
 * its own tentative address solicited and rightly give it up. Call after the
 * move and before the Stack exists.
 */
export function drainRx(port: Port): number {
  const buf = new Uint32Array(64);
  let total = 0;
  for (let n = port.rxBurst(buf, buf.length); n > 0; n = port.rxBurst(buf, buf.length)) {
    port.pool.freeBulk(buf, n);
    total += n;
  }
  return total;
}
