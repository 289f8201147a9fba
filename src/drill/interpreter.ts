/**
 * Runs a parsed packetdrill script against tzstack's TCP on a virtual clock.
 *
 * The stack under test is a standalone {@link TcpLayer} whose `env.output`
 * captures outgoing segments and whose `input` receives injected ones (layer
 * 3, no DPDK). Semantics follow packetdrill (google/packetdrill run.c,
 * run_packet.c, run_system_call.c), read for behaviour, re-written here:
 *
 * - Times: absolute, `+relative` (to when the previous event finished, or to
 *   the previous inbound packet's script time for consecutive inbound
 *   packets), `*` and ranges for outbound packets, `start...end` for blocking
 *   calls. Tolerance is packetdrill's: max(tolerance_usecs,
 *   tolerance_percent × gap since the previous event), default 4 ms / 12.5 %.
 * - Sequence numbers: inbound seq and outbound ack are literal (the script's
 *   SYN sets the remote ISN, as in packetdrill); outbound seq and inbound
 *   ack/SACK are offset by the local ISN, learned from our SYN or SYN-ACK.
 * - Outbound TS val is not checked (packetdrill's default); an inbound TS ecr
 *   naming a script TS val is rewritten to the live value we sent.
 * - Outgoing packets queue up; each `>` takes the oldest. An extra packet
 *   therefore fails the next `>` (as in packetdrill); with `check_trailing`
 *   packets left at the end fail the script too.
 * - The "socket under test" is the newest socket; an injected SYN while it
 *   listens creates a child flow with a fresh remote port.
 */
import { TsMempool } from '../mbuf/ts-mempool.js';
import { NO_MBUF } from '../mbuf/mempool.js';
import { VirtualClock } from '../util/clock.js';
import { parseIpv4, type Ip4 } from '../ip/addr.js';
import { TcpLayer, TcpListener } from '../tcp/layer.js';
import type { TcpConnection, TcpError } from '../tcp/connection.js';
import type { TcpConfig } from '../tcp/config.js';
import { TcpState } from '../tcp/state.js';
import { TCP_DEFAULT_MSS } from '../tcp/options.js';
import { fastOpenFlushCache, fastOpenHasCookie, fastOpenSynRoom } from '../tcp/fastopen.js';
import type { Expr, PacketEvent, Script, ScriptEvent, SyscallEvent, TcpOptionSpec, UnsupportedEvent } from './ast.js';
import { assignedNames, ChronoStats, compileTcpiBlock, SegLedger, TCPI_CONSTANTS, tcpiField, tcpiState } from './tcpinfo.js';
import { PyEnv, PyStmt, PyUnsupported, runPython } from './python.js';
import { Epoll, POLL, PollView, pollRevents, tcpPollMask } from './poll.js';
import { buildIcmp, IcmpSpec, parseIcmpSpec } from './icmp.js';
import { ScriptSyntaxError } from './ast.js';
import { parseScript } from './parser.js';
import { applyInitCommand, applySetting, cloneProfile, DrillProfile } from './defaults.js';
import { NSTAT_COUNTERS, shellScript, ShellAction } from './shell.js';
import {
  bitsToFlags, decodeSegment, encodeOptions, encodeSegment, F_ACK, F_CWR, F_ECE, F_FIN, F_PSH, F_RST, F_SYN, F_URG,
  flagsToBits, formatActualPacket, formatScriptPacket, WireOption, WireSegment,
} from './packet.js';
import { encodeSegmentSum, decodeSegmentSum, type SegmentFields } from './packet.js';
import { DEFAULT_HOP_LIMIT, DrillNet6 } from './net6.js';
import { fold6, type AddrKey } from '../tcp/route.js';
import { buildIcmp6, parseIcmp6Line, type Icmp6Spec } from './icmp6.js';
import { decodeIpv6, formatAddr6, NH_FRAGMENT, NH_TCP, pseudoSum6, sameAddr6 } from './packet6.js';
import type { Mbuf } from '../mbuf/index.js';

/** Outcome of one script. */
export interface DrillResult {
  status: 'pass' | 'fail' | 'skipped';
  /** Line of the failure or of the unsupported construct. */
  line?: number;
  /** Failure text (first mismatch), or the skip reason. */
  message?: string;
  /** Events executed. */
  events: number;
  /** Virtual time the script covered (ms). */
  virtualMs: number;
  /** Profile the script ran with. */
  profile: string;
  /** Extra observations (ignored packets, xfail notes). */
  notes: string[];
}

/** Options of {@link runScript}. */
export interface RunOptions {
  /** Profile to use unless the script names another with `// drill: profile=NAME`. */
  profile: DrillProfile;
  /** Profiles a script directive may select. */
  profiles?: Record<string, DrillProfile>;
  /** Called with a line per event/packet when set (verbose mode). */
  log?: (line: string) => void;
  /** Longest a blocking call may wait without a `...end` time (virtual ms). Default 600 s. */
  maxBlockMs?: number;
  /** Settings applied on top of the profile (the CLI's --set key=value), after directives. */
  overrides?: Array<[string, string]>;
}

/** Thrown inside the run to stop at the first mismatch. */
class DrillFailure extends Error {
  constructor(readonly line: number, message: string) { super(message); }
}
/** Thrown inside the run when a construct turns out to be unsupported. */
class DrillUnsupported extends Error {
  constructor(readonly line: number, readonly construct: string) { super(construct); }
}

// Linux values of the constants scripts use.
const CONSTANTS: Record<string, number> = {
  AF_INET: 2, AF_INET6: 10, PF_INET: 2, PF_INET6: 10,
  SOCK_STREAM: 1, SOCK_DGRAM: 2, SOCK_RAW: 3, SOCK_NONBLOCK: 0x800, SOCK_CLOEXEC: 0x80000,
  IPPROTO_IP: 0, IPPROTO_TCP: 6, IPPROTO_UDP: 17, SOL_SOCKET: 1, SOL_TCP: 6, SOL_IP: 0,
  SO_REUSEADDR: 2, SO_ERROR: 4, SO_SNDBUF: 7, SO_RCVBUF: 8, SO_KEEPALIVE: 9, SO_LINGER: 13, SO_REUSEPORT: 15,
  TCP_NODELAY: 1, TCP_MAXSEG: 2, TCP_CORK: 3, TCP_KEEPIDLE: 4, TCP_KEEPINTVL: 5, TCP_KEEPCNT: 6, TCP_INFO: 11,
  TCP_CONGESTION: 13, TCP_USER_TIMEOUT: 18, TCP_SYNCNT: 7, TCP_KEEPINIT: 128,
  F_GETFL: 3, F_SETFL: 4, O_RDONLY: 0, O_WRONLY: 1, O_RDWR: 2, O_NONBLOCK: 0x800, O_CLOEXEC: 0x80000,
  SHUT_RD: 0, SHUT_WR: 1, SHUT_RDWR: 2,
  MSG_DONTWAIT: 0x40, MSG_PEEK: 2, MSG_WAITALL: 0x100, MSG_NOSIGNAL: 0x4000, MSG_MORE: 0x8000, MSG_EOR: 0x80,
  MSG_OOB: 1, MSG_TRUNC: 0x20, MSG_FASTOPEN: 0x20000000, MSG_ZEROCOPY: 0x4000000, TCP_INQ: 36, TCP_CM_INQ: 36,
  TCP_FASTOPEN: 23, TCP_FASTOPEN_CONNECT: 30, TCP_FASTOPEN_KEY: 33, TCP_FASTOPEN_NO_COOKIE: 34,
  ...POLL,
};
const ERRNO: Record<string, number> = {
  EPERM: 1, EBADF: 9, EAGAIN: 11, EWOULDBLOCK: 11, EINVAL: 22, EPIPE: 32, ENOTSOCK: 88, EOPNOTSUPP: 95,
  EADDRINUSE: 98, EADDRNOTAVAIL: 99, ECONNABORTED: 103, ECONNRESET: 104, EISCONN: 106, ENOTCONN: 107,
  ETIMEDOUT: 110, ECONNREFUSED: 111, EALREADY: 114, EINPROGRESS: 115, EFAULT: 14, EEXIST: 17, ENOENT: 2,
  ENETUNREACH: 101, EHOSTUNREACH: 113, EHOSTDOWN: 112, ENETDOWN: 100,
};
const SUPPORTED_CALLS = new Set([
  'socket', 'bind', 'listen', 'accept', 'connect', 'read', 'recv', 'readv', 'recvmsg', 'write', 'send', 'sendto', 'sendmsg', 'writev',
  'close', 'shutdown', 'fcntl', 'setsockopt', 'getsockopt', 'ioctl',
  'recvfrom', 'poll', 'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_wait', 'open', 'sendfile',
]);
/** ioctl requests on a TCP socket: bytes readable (SIOCINQ = FIONREAD), bytes not yet acknowledged (SIOCOUTQ). */
const IOCTLS = new Set(['SIOCINQ', 'FIONREAD', 'SIOCOUTQ']);
const SOCKOPTS = new Set(['TCP_INQ', 'SO_REUSEADDR', 'SO_REUSEPORT', 'SO_RCVBUF', 'SO_SNDBUF', 'SO_LINGER', 'SO_ERROR', 'SO_KEEPALIVE',
  'TCP_NODELAY', 'TCP_MAXSEG', 'TCP_KEEPIDLE', 'TCP_KEEPINTVL', 'TCP_KEEPCNT', 'TCP_FASTOPEN', 'TCP_FASTOPEN_NO_COOKIE', 'TCP_FASTOPEN_CONNECT', 'TCP_SYNCNT', 'TCP_FASTOPEN_KEY', 'TCP_KEEPINIT', 'TCP_USER_TIMEOUT', 'TCP_CORK', 'TCP_NOTSENT_LOWAT']);
// Script options (top-of-file `--name=value`) that are harmless or mapped.
// tcp_ts_tick_usecs only scales the check of outbound TS val, which (as
// packetdrill by default) we do not make.
const IGNORED_OPTIONS = new Set(['verbose', 'define', 'debug', 'tcp_ts_ecr_scaled', 'dry_run', 'send_omit_free', 'non_fatal',
  'tcp_ts_tick_usecs']);

const T0 = 100_000; // virtual ms at script time 0: keeps "0" distinct from an unset timer
const MIN_STEP = 0.001;
/** How far before an injected packet's time the clock stops to run the timers due before it (ms). */
const TIE = 0.0005;

interface SysResult { ret: number; errno?: string }
type Attempt = () => SysResult | null;

/** A script-visible socket. */
interface Sock {
  fd: number;
  nonblock: boolean;
  bindPort: number | null;
  listener: TcpListener | null;
  conn: TcpConnection | null;
  /** connect() progress, for EINPROGRESS / EALREADY / EISCONN. */
  connect: 'none' | 'inprogress' | 'reported' | 'connected';
  /** Pending socket error (SO_ERROR, and what read/write report first). */
  error: string | null;
  /** The connection is gone (reset, timed out, or closed). */
  dead: boolean;
  shutWr: boolean;
  /** shutdown(SHUT_RD): reads return what is buffered, then 0 (end of stream), without blocking. */
  shutRd: boolean;
  linger: { onoff: number; linger: number } | null;
  cfg: Partial<TcpConfig>;
  opts: Map<string, number>;
  /** TCP_FASTOPEN_CONNECT: connect() returned 0 without a SYN; the first write connects (to this port). */
  foDeferred?: number;
}

/** Sequence-space bookkeeping for one connection the script talks about. */
interface Flow {
  kind: 'listening' | 'passive' | 'active' | 'orphan';
  localPort: number;
  remotePort: number;
  localIsn: number | null;
  /**
   * The peer's ISN, from the script's SYN (passive) or SYN-ACK (active):
   * as packetdrill (socket.h remote_seq_*_offset), sequence numbers of
   * inbound non-SYN packets and acknowledgments of outbound non-SYN
   * packets are relative to it.
   */
  remoteIsn: number;
  remoteIsnSet: boolean;
  /**
   * Our ISN as the script writes it: the sequence number of the first SYN
   * (or SYN-ACK) it expects from us (packetdrill's script.local_isn); our
   * SYNs are compared against it, later packets are relative to the ISN.
   */
  scriptLocalIsn: number | null;
  /** script TS val → live TS val, from our outgoing packets. */
  tsMap: Map<number, number>;
  firstTs: { script: number; live: number } | null;
}

interface Captured { at: number; bytes: Uint8Array; seg: WireSegment; dst: AddrKey; tos: number; ip6?: { hopLimit: number; flowLabel: number } }

/** What `[ect0]` / `(tos 0x20)` / `(ttl 3)` / `(flowlabel 0x1)` before a packet says of its IP header (tos: IPv6's traffic class, ttl: its hop limit). */
interface IpSpec { ecn: number | 'ect01' | null; tos: number | null; ttl: number | null; flowlabel: number | null }

const ECN_CODEPOINTS: Record<string, number | 'ect01'> = { noecn: 0, ect1: 1, ect0: 2, ce: 3, ect01: 'ect01' };

/** Parse the text between the brackets; a string says what is not understood. */
function parseIpSpec(text: string): IpSpec | string {
  const spec: IpSpec = { ecn: null, tos: null, ttl: null, flowlabel: null };
  const words = text.split(/[\s,]+/).filter((w) => w.length > 0);
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (w in ECN_CODEPOINTS) { spec.ecn = ECN_CODEPOINTS[w]; continue; }
    if ((w === 'tos' || w === 'ttl' || w === 'flowlabel') && i + 1 < words.length && /^(0x[0-9a-f]+|\d+)$/i.test(words[i + 1])) {
      spec[w] = Number(words[++i]);
      continue;
    }
    return `IP header spec [${text}]`;
  }
  return spec;
}

interface Pending {
  ev: SyscallEvent;
  attempt: Attempt;
  /** live time the call should return at (from `...end`), or null */
  endLive: number | null;
  tol: number;
  /** give up after this live time */
  deadline: number;
  /** a time the call must look again at (poll/epoll_wait timeout), or undefined */
  wakeAt?: number;
}

/** Parse and run one script's text. A syntax error is a failure with its line. */
export function runScriptText(text: string, opts: RunOptions): DrillResult {
  let script: Script;
  try {
    const want = /^\s*\/\/\s*drill:\s*profile=(\S+)/m.exec(text)?.[1];
    const os = (want !== undefined ? opts.profiles?.[want]?.os : undefined) ?? opts.profile.os;
    script = parseScript(preprocess(text, OS_DEFINES[os]));
  } catch (e) {
    if (e instanceof ScriptSyntaxError) {
      return { status: 'fail', line: e.line, message: `syntax error: ${e.message}`, events: 0, virtualMs: 0, profile: opts.profile.name, notes: [] };
    }
    throw e;
  }
  return runScript(script, opts);
}

/** Run a parsed script (fresh stack, clock and pool each time). */
export function runScript(script: Script, opts: RunOptions): DrillResult {
  return new DrillRun(script, opts).run();
}

class DrillRun {
  private readonly profile: DrillProfile;
  private readonly notes: string[] = [];
  private clock!: VirtualClock;
  private pool!: TsMempool;
  private layer!: TcpLayer;
  private localIp = 0 as Ip4;
  private remoteIp: AddrKey = 0 as Ip4;
  private readonly captured: Captured[] = [];
  private readonly fds = new Map<number, Sock>();
  private sut: Flow | null = null;
  private readonly flows: Flow[] = [];
  private nextRemotePort = 0;
  private pending: Pending | null = null;
  private lastScriptMs = 0;
  private lastWasInbound = false;
  private lastInboundScriptMs = 0;
  private eventsRun = 0;
  private captureError: string | null = null;
  private readonly maxBlockMs: number;
  private readonly log: ((line: string) => void) | undefined;
  /** `--define=NAME=value` of the script (packetdrill -D). */
  private readonly defines = new Map<string, string>();
  /** Sockets whose script name a later socket took (kept under negative keys). */
  private unnamedFds = 0;
  /** Line of the packet being compared (for what a cookie name fails with). */
  private cmpLine = 0;
  private xfail: string | null = null;

  constructor(private readonly script: Script, private readonly opts: RunOptions) {
    const want = script.directives.get('profile');
    const base = want !== undefined && opts.profiles?.[want] ? opts.profiles[want] : opts.profile;
    this.profile = cloneProfile(base);
    this.maxBlockMs = opts.maxBlockMs ?? 600_000;
    this.log = opts.log;
  }

  private result(status: DrillResult['status'], line?: number, message?: string): DrillResult {
    const virtualMs = this.clock ? this.clock.now() - T0 : 0;
    return { status, line, message, events: this.eventsRun, virtualMs, profile: this.profile.name, notes: this.notes };
  }

  run(): DrillResult {
    // ---- configuration: directives, script options, init command ----
    const want = this.script.directives.get('profile');
    if (want !== undefined && !this.opts.profiles?.[want] && want !== this.opts.profile.name) {
      return this.result('fail', 1, `unknown profile '${want}' in // drill: profile directive`);
    }
    const skip = this.script.directives.get('skip');
    if (skip !== undefined) return this.result('skipped', 1, `marked skip: ${skip || 'no reason given'}`);
    this.xfail = this.script.directives.get('xfail') ?? null;
    try {
      for (const [k, v] of this.script.directives) {
        if (k === 'profile' || k === 'xfail' || k === 'skip') continue;
        applySetting(this.profile, k, v);
      }
      for (const [k, v] of this.opts.overrides ?? []) applySetting(this.profile, k, v);
    } catch (e) {
      return this.result('fail', 1, `bad drill directive: ${(e as Error).message}`);
    }
    for (const o of this.script.options) {
      const u = this.applyScriptOption(o.name, o.value);
      if (u) return this.result('skipped', o.line, `unsupported (${u}, line ${o.line})`);
    }
    if (this.script.initCommand) {
      const unknown = applyInitCommand(this.profile, this.script.initCommand.text, (a) => {
        if (a.kind !== 'file') return false;
        this.fileAction(a);
        return true;
      });
      if (unknown.length > 0) {
        const l = this.script.initCommand.line;
        return this.result('skipped', l, `unsupported (${unknown[0]}, line ${l})`);
      }
    }
    for (const ev of this.script.events) {
      if (ev.type === 'unsupported' && ev.construct.includes('python code block')) {
        for (const n of assignedNames(ev.text)) this.pyAssigned.add(n);
        if (/tcpi_(busy_time|rwnd_limited|sndbuf_limited)/.test(ev.text)) this.usesChrono = true;
      }
    }
    for (const ev of this.script.events) {
      const u = this.unsupported(ev);
      if (u) return this.result('skipped', ev.line, `unsupported (${u}, line ${ev.line})`);
    }
    if (this.script.events.length === 0) return this.result('fail', 1, 'script has no events');

    // ---- the stack under test ----
    this.localIp = parseIpv4(this.profile.localIp);
    this.remoteIp = parseIpv4(this.profile.remoteIp);
    this.nextRemotePort = this.profile.remotePortBase;
    this.clock = new VirtualClock(T0);
    this.pool = new TsMempool({ count: 4096, name: 'drill' });
    const startInUse = this.pool.inUse();
    let res: DrillResult;
    try {
      // --ip_version=ipv6: the stack's IPv6 layer sits between TCP and the script (net6.ts).
      this.net6 = this.profile.ipVersion === 'ipv6' ? new DrillNet6(this.pool, this.clock, this.profile, (m) => this.capture6(m)) : null;
      // (The peer as an IPv6 connection's remoteIp holds it: the fold of its address, the key of per-peer state such as Fast Open's cache.)
      if (this.net6) this.remoteIp = fold6(this.net6.remote);
      if (this.net6 && this.profile.defines6) this.profile.defines = { ...this.profile.defines, ...this.profile.defines6 };
      this.layer = new TcpLayer({
        pool: this.pool, clock: this.clock, localIp: this.localIp, mtu: this.profile.mtu,
        txOffloads: 0, checksumUnneeded: false, maxTsoSize: this.profile.tso ? 65536 : 0,
        output: (m, dst, proto, tos) => this.capture(m, dst, proto, tos),
        ...(this.net6 ? { ip6: this.net6.l4() } : {}),
      }, { ...this.profile.tcp });
      this.net6?.attach(this.layer);
      this.execute();
      res = this.result('pass');
    } catch (e) {
      if (e instanceof DrillFailure) res = this.result('fail', e.line, e.message);
      else if (e instanceof DrillUnsupported) res = this.result('skipped', e.line, `unsupported (${e.construct}, line ${e.line})`);
      else res = this.result('fail', this.currentLine, `stack threw: ${(e as Error).stack ?? e}`);
    }
    try {
      this.layer?.close();
      this.net6?.ip6.close();
      this.drainCaptured();
      const leaked = this.pool.inUse() - startInUse;
      if (leaked !== 0 && res.status === 'pass') {
        res = this.result('fail', this.script.events[this.script.events.length - 1].line, `mbuf leak: ${leaked} mbuf(s) still in use after the TCP layer was closed`);
      }
    } catch (e) {
      if (res.status === 'pass') res = this.result('fail', this.currentLine, `closing the stack threw: ${(e as Error).message}`);
    }
    if (this.xfail !== null) {
      if (res.status === 'fail') {
        return { ...res, status: 'skipped', message: `expected failure (${this.xfail || 'no reason given'}): ${res.message}` };
      }
      if (res.status === 'pass') res.notes.push(`marked xfail (${this.xfail}) but passed: remove the mark`);
    }
    return res;
  }

  private currentLine = 1;
  /** The IPv6 network of an `ipv6` run (null otherwise: IPv4 on the wire). */
  private net6: DrillNet6 | null = null;
  /** packetdrill's flow-label map of the socket under test: the script's label and the live one it stands for. */
  private readonly flowLabels = new Map<Flow, { script: number; live: number }>();
  /** packetdrill --mss: an injected packet with more payload is delivered as a GRO aggregate of segments this big. */
  private gsoMss = 0;
  /** packetdrill --strict_segments: each expected packet is exactly one segment we sent. */
  private strictSegments = false;
  /** Counter values at the last `nstat` (what the next one reports is what went up since). */
  private readonly nstatBase = new Map<string, number>();

  private applyScriptOption(name: string, value: string | null): string | null {
    const v = value ?? '';
    switch (name) {
      case 'tolerance_usecs': this.profile.toleranceUsecs = Number(v); return null;
      case 'tolerance_percent': this.profile.tolerancePercent = Number(v); return null;
      case 'mtu': this.profile.mtu = Number(v); return null;
      // packetdrill --mss: the gso_size of injected packets (one GRO packet of such segments), not our MSS.
      case 'mss': this.gsoMss = Number(v); return null;
      case 'bind_port': this.profile.bindPort = Number(v); return null;
      case 'connect_port': this.profile.connectPort = Number(v); return null;
      // (An IPv6 address is for ipv6 runs: defaults.ts local_ip / remote_ip.)
      case 'local_ip': case 'remote_ip': case 'gateway_ip': applySetting(this.profile, name, v); return null;
      case 'ip_version':
        if (v !== 'ipv4' && v !== 'ipv4-mapped-ipv6' && v !== 'ipv6') return `--ip_version=${v}`;
        // As packetdrill: the command line (--set ip_version=, a suite runner's) overrides the script.
        if (!(this.opts.overrides ?? []).some(([k]) => k === 'ip_version')) this.profile.ipVersion = v;
        return null;
      // packetdrill merges consecutive sent segments up to an expected packet's length unless told not to.
      case 'strict_segments': this.strictSegments = true; return null;
      case 'udp_encapsulation': return 'TCP over UDP encapsulation (not in tzstack, by design)';
      case 'tcp_md5_secret': return 'TCP-MD5 signatures (not in tzstack, by design)';
      case 'define': {
        const m = /^([A-Za-z_][A-Za-z_0-9]*)=(.*)$/.exec(value ?? '');
        if (m) this.defines.set(m[1], m[2]);
        return null;
      }
      default: return IGNORED_OPTIONS.has(name) ? null : `script option --${name}`;
    }
  }

  /** Why an event cannot run here, or null. */
  private unsupported(ev: ScriptEvent): string | null {
    if (ev.type === 'unsupported' && ev.construct === 'icmp packet' && this.profile.ipVersion === 'ipv6') return this.icmp6Check(ev);
    if (ev.type === 'unsupported') {
      if (ev.construct === 'shell command' || ev.construct === 'cleanup shell command') {
        const r = shellScript(this.profile.os, ev.text);
        return typeof r === 'string' ? r : null;
      }
      if (ev.construct === 'icmp packet' && ev.text.startsWith('< icmp')) {
        // The words after `< icmp` (type, code, mtu, quote).
        const spec = parseIcmpSpec(ev.text.slice('< icmp'.length), (n) => this.defines.get(n) ?? this.profile.defines?.[n]);
        if (typeof spec === 'string') return spec.includes('by design') ? spec : `icmp packet: ${spec}`;
        this.icmpSpecs.set(ev, spec);
        return null;
      }
      if (!ev.construct.includes('python code block')) return ev.construct;
      const a = compileTcpiBlock(ev.text, this.pyAssigned);
      if (typeof a === 'string') return `${ev.construct}: ${a}`;
      this.pyBlocks.set(ev, a);
      return null;
    }
    if (ev.type === 'packet') {
      if (ev.ipInfo !== null) {
        const spec = parseIpSpec(ev.ipInfo);
        if (typeof spec === 'string') return spec;
        // Over IPv4 the harness sees our segments at layer 4 with their TOS byte, not the TTL; over IPv6 the whole header.
        if (ev.direction === 'out' && spec.ttl !== null && this.profile.ipVersion !== 'ipv6') return 'TTL of an outbound packet';
        if (spec.flowlabel !== null && this.profile.ipVersion !== 'ipv6') return 'flow label of a packet in an IPv4 run';
      }
      if (/[AU]/.test(ev.flags)) return `TCP flag '${ev.flags}'`;
      return null;
    }
    if (!SUPPORTED_CALLS.has(ev.name)) return `system call ${ev.name}()`;
    const word = (e: Expr | undefined): string | null => (e && e.kind === 'word' ? e.name : null);
    switch (ev.name) {
      case 'socket': {
        const dom = word(ev.args[0]);
        // The domain packetdrill's --ip_version gives `...` (AF_INET6 in ipv6 and ipv4-mapped-ipv6 runs).
        if ((dom === 'AF_INET6' || dom === 'PF_INET6') && this.profile.ipVersion === 'ipv4') return 'IPv6 socket in an IPv4 run';
        if ((dom === 'AF_INET' || dom === 'PF_INET') && this.profile.ipVersion !== 'ipv4') return `AF_INET socket in an ${this.profile.ipVersion} run`;
        const type = ev.args[1];
        if (type && type.kind !== 'ellipsis') {
          const t = this.tryInt(type);
          if (t === null || (t & 0xf) !== 1) return 'non-stream socket';
        }
        return null;
      }
      case 'setsockopt': case 'getsockopt': {
        const name = word(ev.args[2]);
        if (name !== null && name.startsWith('TCP_FASTOPEN') && !SOCKOPTS.has(name)) return `TCP Fast Open: ${ev.name} ${name}`;
        if (name === 'SO_ZEROCOPY' || name === 'SO_TIMESTAMPING') return `${name} (not in tzstack, by design): ${ev.name} ${name}`;
        if (name === 'TCP_MD5SIG') return `TCP-MD5 signatures (not in tzstack, by design): ${ev.name} ${name}`;
        if (name === null || !SOCKOPTS.has(name)) return `${ev.name} ${name ?? 'option'}`;
        return null;
      }
      case 'ioctl': {
        const req = word(ev.args[1]);
        return req !== null && IOCTLS.has(req) ? null : `ioctl ${req ?? 'request'}`;
      }
      case 'fcntl': {
        const cmd = word(ev.args[1]);
        return cmd === 'F_GETFL' || cmd === 'F_SETFL' ? null : `fcntl ${cmd ?? 'command'}`;
      }
      case 'recvmsg': case 'sendmsg': {
        const f = ev.args[2];
        if (f && f.kind !== 'ellipsis') {
          const v = this.tryInt(f);
          if (v === null) return `${ev.name} flags ${this.exprText(f)}`;
          if (v & CONSTANTS.MSG_ZEROCOPY) return 'SO_ZEROCOPY (not in tzstack, by design): MSG_ZEROCOPY';
          const ok = CONSTANTS.MSG_DONTWAIT | CONSTANTS.MSG_NOSIGNAL | (ev.name === 'recvmsg' ? CONSTANTS.MSG_PEEK | CONSTANTS.MSG_WAITALL : CONSTANTS.MSG_FASTOPEN | CONSTANTS.MSG_EOR | CONSTANTS.MSG_MORE);
          if ((v & ~ok) !== 0) return `${ev.name} flags ${flagNames(v & ~ok)}`;
        }
        const m = ev.args[1];
        if (m?.kind === 'struct') {
          for (const it of m.items) {
            if (it.kind === 'binary' && it.lhs.kind === 'word' && it.lhs.name === 'msg_control' && it.rhs.kind === 'list') {
              if (ev.name === 'sendmsg' && it.rhs.items.length > 0) return 'sendmsg control messages';
              for (const c of it.rhs.items) {
                const type = c.kind === 'struct' ? c.items.find((x) => x.kind === 'binary' && x.lhs.kind === 'word' && x.lhs.name === 'cmsg_type') : undefined;
                const t = type && type.kind === 'binary' && type.rhs.kind === 'word' ? type.rhs.name : '?';
                if (t !== 'TCP_CM_INQ') return /TIMESTAMP/.test(t) ? `SO_TIMESTAMPING (not in tzstack, by design): control message ${t}` : `control message ${t}`;
              }
            }
          }
        }
        return null;
      }
      case 'recv': case 'recvfrom': case 'send': case 'sendto': {
        const f = ev.args[3];
        if (f && f.kind !== 'ellipsis') {
          const v = this.tryInt(f);
          if (v !== null && (v & CONSTANTS.MSG_FASTOPEN) && ev.name !== 'sendto') return 'TCP Fast Open (MSG_FASTOPEN on send)';
          const ok = CONSTANTS.MSG_DONTWAIT | CONSTANTS.MSG_NOSIGNAL | (ev.name === 'recv' || ev.name === 'recvfrom' ? CONSTANTS.MSG_PEEK | CONSTANTS.MSG_WAITALL : ev.name === 'sendto' ? CONSTANTS.MSG_FASTOPEN | CONSTANTS.MSG_EOR | CONSTANTS.MSG_MORE : CONSTANTS.MSG_EOR | CONSTANTS.MSG_MORE);
          if (v === null) return `${ev.name} flags ${this.exprText(f)}`;
          if ((v & ~ok) !== 0) return `${ev.name} flags ${flagNames(v & ~ok)}`;
        }
        return null;
      }
      default: return null;
    }
  }

  // ==================== the clock ====================

  private tolerance(scriptMs: number): number {
    const pct = (this.profile.tolerancePercent / 100) * (scriptMs - this.lastScriptMs);
    return Math.max(this.profile.toleranceUsecs / 1000, pct);
  }

  /** One step of virtual time: to the next TCP timer or `limit`, whichever is first. */
  private step(limit: number): void {
    const now = this.clock.now();
    const wake = this.pending?.wakeAt;
    if (wake !== undefined && wake > now) limit = Math.min(limit, wake);
    let t = Math.min(limit, Math.max(this.layer.nextDeadline(), now + MIN_STEP));
    if (t < now) t = now;
    this.clock.set(t);
    this.layer.tick(t);
    this.afterActivity();
  }

  private advanceTo(live: number): void {
    let guard = 0;
    while (this.clock.now() < live) {
      this.step(live);
      if (++guard > 50_000_000) throw new DrillFailure(this.currentLine, 'virtual clock stuck: TCP timers keep firing without advancing');
    }
  }

  private now(): number { return this.clock.now() - T0; }

  // ==================== packets out ====================

  private capture(m: Mbuf, dst: Ip4, proto: number, tos: number): void {
    try {
      if (proto !== 6) { this.notes.push(`ignored non-TCP output (protocol ${proto})`); return; }
      const bytes = this.pool.toBytes(m);
      const segsz = this.pool.tsoSegsz(m);
      const seg = decodeSegment(bytes, this.localIp, dst);
      if (typeof seg === 'string') { this.captureError ??= `stack sent a malformed segment: ${seg}`; return; }
      if (!seg.optionsOk) this.captureError ??= `stack sent malformed TCP options: ${formatActualPacket(seg)}`;
      if (segsz > 0 && seg.payloadLen > segsz) {
        // TSO: cut the super-segment the way a NIC would.
        for (let off = 0; off < seg.payloadLen; off += segsz) {
          const n = Math.min(segsz, seg.payloadLen - off);
          const last = off + n >= seg.payloadLen;
          const part = bytes.slice(0, seg.hdrLen + n);
          const pdv = new DataView(part.buffer);
          pdv.setUint32(4, (seg.seq + off) >>> 0);
          if (!last) part[13] &= ~(F_FIN | F_PSH);
          const ps = decodeSegment(part, this.localIp, dst) as WireSegment;
          ps.checksumOk = true; // the NIC computes it
          this.enqueue({ at: this.clock.now(), bytes: part, seg: ps, dst, tos });
        }
      } else {
        this.enqueue({ at: this.clock.now(), bytes, seg, dst, tos });
      }
    } finally {
      this.pool.free(m);
    }
  }

  private enqueue(c: Captured): void {
    // Learn the local ISN of a flow from its first SYN.
    if (c.seg.flags & F_SYN) {
      for (const f of this.flows) {
        if (f.localIsn === null && f.localPort === c.seg.srcPort && f.remotePort === c.seg.dstPort) f.localIsn = c.seg.seq;
      }
    }
    if (!(c.seg.flags & F_RST)) {
      const conn = this.connOf(c.seg);
      if (conn) this.ledgerOf(conn).onSent(conn, c.seg.seq, c.seg.payloadLen, (c.seg.flags & F_SYN) !== 0, (c.seg.flags & F_FIN) !== 0);
    }
    this.log?.(`${((c.at - T0) / 1000).toFixed(6)} sent   ${bitsToFlags(c.seg.flags)} seq ${c.seg.seq} ack ${c.seg.ack} len ${c.seg.payloadLen} win ${c.seg.window} ${c.seg.srcPort}>${c.seg.dstPort}`);
    this.captured.push(c);
  }

  private drainCaptured(): void { this.captured.length = 0; }

  private forSut(c: Captured): boolean {
    const f = this.sut;
    return f !== null && c.seg.srcPort === f.localPort && c.seg.dstPort === f.remotePort && c.dst === this.remoteIp;
  }

  /** Next captured packet for the socket under test (others are dropped with a note, as packetdrill does). */
  private takeCaptured(): Captured | null {
    while (this.captured.length > 0) {
      const c = this.captured.shift()!;
      if (this.forSut(c)) return c;
      this.notes.push(`ignored a packet not for the socket under test: ${bitsToFlags(c.seg.flags)} ${c.seg.srcPort}>${c.seg.dstPort} at ${((c.at - T0) / 1000).toFixed(3)}`);
    }
    return null;
  }

  private expectPacket(ev: PacketEvent, startMs: number, endMs: number, anyTime: boolean): void {
    const tol = this.tolerance(startMs);
    const deadline = anyTime ? T0 + this.now() + this.maxBlockMs : T0 + endMs + tol;
    let c = this.takeCaptured();
    while (c === null && this.clock.now() < deadline) {
      this.step(deadline);
      this.checkCaptureError(ev.line);
      c = this.takeCaptured();
    }
    if (c === null) {
      throw new DrillFailure(ev.line, `expected outbound packet at ${fmtS(startMs)} but none was sent by ${fmtS(deadline - T0)} (tolerance ${fmtS(tol)})\n  script: ${fmtS(startMs)} ${formatScriptPacket(ev)}`);
    }
    const flow = this.sut!;
    // Linux scripts expect what the kernel hands its (TSO/GSO) device: one
    // big segment. Like packetdrill, merge consecutive MSS-sized segments
    // until the expected length is reached.
    if (!this.strictSegments && ev.len > c.seg.payloadLen && c.seg.payloadLen > 0 && !(c.seg.flags & (F_SYN | F_RST | F_FIN))) {
      c = this.aggregate(c, ev, deadline);
    }
    const actual = this.toScriptSpace(c.seg, flow, ev);
    const actualMs = c.at - T0;
    const mismatch = this.comparePacket(ev, actual, c.seg) ?? this.compareIp(ev, c.tos) ?? this.compareIp6(ev, c);
    if (mismatch) {
      throw new DrillFailure(ev.line, `${mismatch}\n  script: ${fmtS(startMs)} ${formatScriptPacket(ev)}\n  actual: ${fmtS(actualMs)} ${formatActualPacket(actual)}`);
    }
    if (!anyTime && (actualMs < startMs - tol || actualMs > endMs + tol)) {
      const when = startMs === endMs ? `at ${fmtS(startMs)}` : `in ${fmtS(startMs)}~${fmtS(endMs)}`;
      throw new DrillFailure(ev.line, `timing error: expected outbound packet ${when} but it was sent at ${fmtS(actualMs)} (tolerance ${fmtS(tol)})\n  script: ${formatScriptPacket(ev)}\n  actual: ${formatActualPacket(actual)}`);
    }
  }

  /**
   * Merge `first` with the contiguous segments that follow it (same ack,
   * same flags but PSH/FIN/CWR, all but the last of the first one's size)
   * while the total stays within the script's length. Segments that do not
   * fit stay queued for the next `>`. As packetdrill's aggregate_packets,
   * the result has the last segment's header (flags, window, options) with
   * the first one's sequence number and CWR.
   */
  private aggregate(first: Captured, ev: PacketEvent, deadline: number): Captured {
    let total = first.seg.payloadLen;
    let last = first;
    const size = first.seg.payloadLen;
    while (total < ev.len && last.seg.payloadLen === size && !(last.seg.flags & F_FIN)) {
      while (this.captured.length === 0 && this.clock.now() < deadline) this.step(deadline);
      const n = this.captured[0];
      if (!n || !this.forSut(n)) break;
      const s = n.seg;
      if (s.seq !== ((last.seg.seq + last.seg.payloadLen) >>> 0) || s.ack !== first.seg.ack || s.payloadLen === 0
        || (s.flags & ~(F_PSH | F_FIN | F_CWR)) !== (first.seg.flags & ~(F_PSH | F_FIN | F_CWR)) || total + s.payloadLen > ev.len) break;
      this.captured.shift();
      total += s.payloadLen;
      last = n;
    }
    if (last === first) return first;
    const flags = (last.seg.flags & ~F_CWR) | (first.seg.flags & F_CWR);
    return { ...first, seg: { ...last.seg, seq: first.seg.seq, payloadLen: total, flags } };
  }

  /** The live segment with seq mapped into script space and TS val remembered. */
  private toScriptSpace(live: WireSegment, flow: Flow, ev: PacketEvent): WireSegment {
    const isn = flow.localIsn ?? 0;
    const options: WireOption[] = live.options.map((o) => {
      if (o.kind === 'timestamp') {
        const script = ev.options?.find((x) => x.kind === 'timestamp') as { val: number } | undefined;
        if (script) {
          flow.tsMap.set(script.val, o.val);
          flow.firstTs ??= { script: script.val, live: o.val };
        }
        const val = flow.firstTs ? (flow.firstTs.script + (o.val - flow.firstTs.live)) >>> 0 : o.val;
        return { kind: 'timestamp', val, ecr: o.ecr };
      }
      // Our SACK blocks name the peer's data: relative to its ISN (non-SYN packets).
      if (o.kind === 'sack' && !(live.flags & F_SYN) && flow.remoteIsn !== 0) {
        return { kind: 'sack', blocks: o.blocks.map(([l, r]) => [(l - flow.remoteIsn) >>> 0, (r - flow.remoteIsn) >>> 0] as [number, number]) };
      }
      return o;
    });
    const ack = live.flags & F_SYN ? live.ack : (live.ack - flow.remoteIsn) >>> 0;
    let seq = (live.seq - isn) >>> 0;
    if (live.flags & F_SYN) {
      if (flow.scriptLocalIsn === null && ev.seq !== undefined && ev.type === 'packet') flow.scriptLocalIsn = ev.seq >>> 0;
      seq = (seq + (flow.scriptLocalIsn ?? 0)) >>> 0;
    }
    return { ...live, seq, ack, options };
  }

  private comparePacket(ev: PacketEvent, a: WireSegment, live: WireSegment): string | null {
    this.cmpLine = ev.line;
    const field = (name: string, exp: number | string, act: number | string): string =>
      `outbound packet field ${name}: expected ${exp} vs actual ${act}`;
    const want = flagsToBits(ev.flags);
    const mask = F_SYN | F_RST | F_ACK | F_FIN | F_URG | F_ECE | (this.profile.checkPsh ? F_PSH : 0) | (this.profile.checkCwr ? F_CWR : 0);
    if ((want & mask) !== (a.flags & mask)) return field('flags', ev.flags || '-', bitsToFlags(a.flags));
    if (ev.seqMode === 'relative' && ev.seq !== a.seq) return field('tcp_seq', ev.seq, a.seq);
    if (ev.seqMode === 'absolute' && ev.seq !== live.seq) return field('tcp_seq (absolute)', ev.seq, live.seq);
    if (ev.len !== a.payloadLen) return field('payload length', ev.len, a.payloadLen);
    if ((want & F_ACK) && ev.ack !== null && (ev.ack >>> 0) !== a.ack) return field('tcp_ack_seq', ev.ack, a.ack);
    if (ev.win !== null && ev.win !== a.window) return field('tcp_window', ev.win, a.window);
    if (ev.urg !== a.urg && (want & F_URG)) return field('tcp_urg_ptr', ev.urg, a.urg);
    if (!live.checksumOk) return 'bad outbound TCP checksum';
    if (ev.options !== null) {
      const m = this.compareOptions(ev.options, a.options);
      if (m) return m;
    }
    return null;
  }

  private compareIp(ev: PacketEvent, tos: number): string | null {
    if (ev.ipInfo === null) return null;
    const spec = parseIpSpec(ev.ipInfo) as IpSpec;
    const ecn = tos & 3;
    const names = ['noecn', 'ect1', 'ect0', 'ce'];
    if (spec.ecn === 'ect01' && ecn !== 1 && ecn !== 2) return `outbound IP ECN field: expected ect01 vs actual ${names[ecn]}`;
    if (typeof spec.ecn === 'number' && spec.ecn !== ecn) return `outbound IP ECN field: expected ${names[spec.ecn]} vs actual ${names[ecn]}`;
    if (spec.tos !== null && spec.tos !== tos) return `outbound IP TOS: expected 0x${spec.tos.toString(16)} vs actual 0x${tos.toString(16)}`;
    return null;
  }

  private compareOptions(exp: TcpOptionSpec[], act: WireOption[]): string | null {
    const show = (o: WireOption | undefined): string => (o === undefined ? 'nothing' : fmtOpt(o));
    if (this.profile.optionOrder === 'set') {
      const e = exp.filter((o) => o.kind !== 'nop' && o.kind !== 'eol');
      const a = act.filter((o) => o.kind !== 'nop' && o.kind !== 'eol');
      for (const o of e) {
        const i = a.findIndex((x) => x.kind === o.kind);
        if (i < 0) return `outbound TCP options: expected ${fmtOpt(o)} but it is missing`;
        const m = this.optionValueMismatch(o, a[i]);
        if (m) return m;
        a.splice(i, 1);
      }
      if (a.length > 0) return `outbound TCP options: unexpected ${fmtOpt(a[0])}`;
      return null;
    }
    const n = Math.max(exp.length, act.length);
    for (let i = 0; i < n; i++) {
      const e = exp[i];
      const a = act[i];
      if (e === undefined || a === undefined || e.kind !== a.kind) {
        return `outbound TCP options differ at option ${i + 1}: expected ${show(e)} vs actual ${show(a)}`;
      }
      const m = this.optionValueMismatch(e, a);
      if (m) return m;
    }
    return null;
  }

  private optionValueMismatch(e: TcpOptionSpec, a: WireOption): string | null {
    const bad = `outbound TCP option value: expected ${fmtOpt(e)} vs actual ${fmtOpt(a)}`;
    switch (e.kind) {
      case 'mss': return a.kind === 'mss' && a.value === e.value ? null : bad;
      case 'wscale': return a.kind === 'wscale' && a.value === e.value ? null : bad;
      case 'sack': {
        if (a.kind !== 'sack' || a.blocks.length !== e.blocks.length) return bad;
        for (let i = 0; i < e.blocks.length; i++) {
          if ((e.blocks[i][0] >>> 0) !== a.blocks[i][0] || (e.blocks[i][1] >>> 0) !== a.blocks[i][1]) return bad;
        }
        return null;
      }
      case 'fastopen':
        return a.kind === 'fastopen' && a.exp === e.exp && a.cookie === this.cookieHex(e.cookie, this.cmpLine) ? null : bad;
      case 'timestamp':
        if (a.kind !== 'timestamp') return bad;
        if (this.profile.checkTsEcr && a.ecr !== e.ecr) return `outbound TCP option TS ecr: expected ${e.ecr} vs actual ${a.ecr}`;
        return null;
      default: return null;
    }
  }

  private checkCaptureError(line: number): void {
    if (this.captureError) throw new DrillFailure(line, this.captureError);
  }

  // ==================== packets in ====================

  private inject(ev: PacketEvent): void {
    const bits = flagsToBits(ev.flags);
    const isSyn = (bits & (F_SYN | F_ACK)) === F_SYN;
    if (isSyn && (this.sut === null || this.sut.kind === 'listening' || this.sut.kind === 'orphan')) {
      const port = this.sut?.kind === 'listening' ? this.sut.localPort : this.profile.bindPort;
      this.sut = this.newFlow('passive', port, this.nextRemotePort++);
    } else if (this.sut === null || this.sut.kind === 'listening') {
      const port = this.sut?.localPort ?? this.profile.bindPort;
      this.sut = this.newFlow('orphan', port, this.nextRemotePort++);
    }
    const flow = this.sut;
    const isn = flow.localIsn ?? 0;
    const opts = ev.options ?? [];
    const mapped: TcpOptionSpec[] = opts.map((o) => {
      if (o.kind === 'sack') return { kind: 'sack', blocks: o.blocks.map(([l, r]) => [(l + isn) >>> 0, (r + isn) >>> 0] as [number, number]) };
      if (o.kind === 'fastopen') return { kind: 'fastopen', exp: o.exp, cookie: this.cookieHex(o.cookie, ev.line) };
      if (o.kind === 'timestamp' && (bits & F_ACK)) {
        let ecr = o.ecr;
        const exact = flow.tsMap.get(o.ecr);
        if (exact !== undefined) ecr = exact;
        else if (flow.firstTs) ecr = (o.ecr - flow.firstTs.script + flow.firstTs.live) >>> 0;
        return { kind: 'timestamp', val: o.val, ecr };
      }
      return o;
    });
    // The peer's ISN: its SYN's (or SYN-ACK's) sequence number; later packets are relative to it.
    if ((bits & F_SYN) && !flow.remoteIsnSet) { flow.remoteIsn = ev.seq >>> 0; flow.remoteIsnSet = true; }
    const fields: SegmentFields = {
      srcPort: ev.ports?.src ?? flow.remotePort,
      dstPort: ev.ports?.dst ?? flow.localPort,
      seq: bits & F_SYN ? ev.seq : (ev.seq + flow.remoteIsn) >>> 0,
      // (A SYN-ACK's ack is in the script's ISN space: packetdrill's local_seq_script_to_live_offset.)
      ack: bits & F_ACK ? ((ev.ack ?? 0) + isn - (bits & F_SYN ? flow.scriptLocalIsn ?? 0 : 0)) >>> 0 : (ev.ack ?? 0),
      flags: bits, window: ev.win ?? 0, urg: ev.urg, options: encodeOptions(mapped), payloadLen: ev.len,
    };
    // An ipv6 run injects a whole IPv6 packet, which the stack's IPv6 layer receives.
    const bytes = this.net6 ? this.packet6(ev, fields) : encodeSegment(fields, this.remoteIp as Ip4, this.localIp);
    const m = this.pool.fromBytes(bytes);
    if (m === NO_MBUF) throw new DrillFailure(ev.line, `mempool exhausted (${this.pool.inUse()} mbufs in use): cannot inject the packet`);
    this.log?.(`${fmtS(this.now())} inject ${formatScriptPacket(ev)}`);
    let tos = 0;
    if (ev.ipInfo !== null) {
      const spec = parseIpSpec(ev.ipInfo) as IpSpec;
      tos = ((spec.tos ?? 0) & ~3) | (spec.ecn === 'ect01' ? 2 : (spec.ecn ?? (spec.tos ?? 0) & 3));
    }
    // As the layer's own GRO hands over an aggregate: with the size of its original segments.
    if (this.gsoMss > 0 && ev.len > this.gsoMss) this.layer.rxSegLen = this.gsoMss;
    try {
      if (this.net6) this.net6.ip6.input(m);
      else this.layer.input(m, this.remoteIp as Ip4, this.localIp, tos);
    } finally {
      this.layer.rxSegLen = 0;
    }
    if (bits & F_ACK) {
      for (const c of this.layer.connections()) {
        if (c.localPort === flow.localPort && c.remotePort === flow.remotePort) this.ledgers.get(c)?.onAck(c);
      }
    }
    this.layer.tick(this.clock.now());
    this.afterActivity();
  }

  /**
   * An ICMP error quoting a segment of the socket under test (icmp.ts),
   * handed to the TCP layer the way the stack's ICMP layer does
   * (TcpLayer.icmpError, src/tcp/pmtu.ts): the quoted sequence number is the
   * script's, relative to our ISN.
   */
  private injectIcmp(ev: UnsupportedEvent): void {
    const spec = this.icmpSpecs.get(ev)!;
    const f = this.sut;
    if (f === null) throw new DrillFailure(ev.line, 'icmp packet but no socket under test whose segment it could quote');
    // ICMPv4 only: an IPv6 connection's errors are ICMPv6 (Packet Too Big, ...), not built here.
    for (const c of this.layer.connections()) {
      if (c.localPort === f.localPort && c.remotePort === f.remotePort && c.v6 !== null) throw new DrillUnsupported(ev.line, 'ICMPv6 packet');
    }
    const seq = spec.quote ? (spec.quote.seq + (f.localIsn ?? 0) - (f.scriptLocalIsn ?? 0)) >>> 0 : 0;
    const bytes = buildIcmp(spec, this.localIp, this.remoteIp as Ip4, f.localPort, f.remotePort, seq);
    const m = this.pool.fromBytes(bytes);
    if (m === NO_MBUF) throw new DrillFailure(ev.line, `mempool exhausted (${this.pool.inUse()} mbufs in use): cannot inject the ICMP packet`);
    this.log?.(`${fmtS(this.now())} inject icmp ${ev.text} (type ${spec.type} code ${spec.code}, quoting seq ${seq})`);
    try {
      // Only TCP is quoted here; a quoted UDP datagram has no socket under test in this harness.
      if (spec.quote) this.layer.icmpError(spec.type, spec.code, m);
    } finally {
      this.pool.free(m);
    }
    this.layer.tick(this.clock.now());
    this.afterActivity();
  }

  private newFlow(kind: Flow['kind'], localPort: number, remotePort: number): Flow {
    const f: Flow = { kind, localPort, remotePort, localIsn: null, remoteIsn: 0, remoteIsnSet: false, scriptLocalIsn: null, tsMap: new Map(), firstTs: null };
    this.flows.push(f);
    return f;
  }

  // ==================== IPv6 (--ip_version=ipv6) ====================

  /**
   * What inject() sends in an ipv6 run: the segment (checksum over the
   * IPv6 pseudo-header) in a whole IPv6 packet with the script's traffic
   * class, flow label and hop limit.
   */
  private packet6(ev: PacketEvent, fields: SegmentFields): Uint8Array {
    const net6 = this.net6!;
    const tcp = encodeSegmentSum(fields, (n) => net6.tcpPseudoSum(true, n));
    let tclass = 0;
    let flowLabel = 0;
    let hopLimit = DEFAULT_HOP_LIMIT;
    if (ev.ipInfo !== null) {
      const spec = parseIpSpec(ev.ipInfo) as IpSpec;
      tclass = ((spec.tos ?? 0) & ~3) | (spec.ecn === 'ect01' ? 2 : (spec.ecn ?? (spec.tos ?? 0) & 3));
      flowLabel = (spec.flowlabel ?? 0) & 0xfffff;
      hopLimit = (spec.ttl ?? DEFAULT_HOP_LIMIT) & 0xff;
    }
    return net6.packet(tcp, NH_TCP, { tclass, flowLabel, hopLimit });
  }

  /** The ICMPv6 lines of an ipv6 run the pre-run check read (icmp6.ts). */
  private readonly icmp6Events = new Map<UnsupportedEvent, Icmp6Spec>();

  /** unsupported() of an `icmp` line in an ipv6 run: null (and remembered) when icmp6.ts can build it. */
  private icmp6Check(ev: UnsupportedEvent): string | null {
    const spec = parseIcmp6Line(ev.text);
    if (typeof spec === 'string') return spec;
    this.icmp6Events.set(ev, spec);
    return null;
  }

  /**
   * Inject an ICMPv6 error from the peer quoting a segment of the socket
   * under test (its ports, and the script's sequence number made live with
   * our ISN), through the stack's IPv6 layer to its ICMPv6 handling.
   */
  private injectIcmp6(ev: UnsupportedEvent): void {
    const spec = this.icmp6Events.get(ev)!;
    const net6 = this.net6!;
    const f = this.sut;
    if (f === null || f.kind === 'listening') throw new DrillFailure(ev.line, 'an ICMPv6 error but no connection under test to quote');
    const seq = (spec.seq + (f.localIsn ?? 0) - (f.scriptLocalIsn ?? 0)) >>> 0;
    const bytes = buildIcmp6(spec, { local: net6.localBytes, remote: net6.remoteBytes, localPort: f.localPort, remotePort: f.remotePort, seq }, DEFAULT_HOP_LIMIT);
    const m = this.pool.fromBytes(bytes);
    if (m === NO_MBUF) throw new DrillFailure(ev.line, `mempool exhausted (${this.pool.inUse()} mbufs in use): cannot inject the packet`);
    this.log?.(`${fmtS(this.now())} inject ${ev.text.replace(/^< /, '< ')} (ICMPv6 type ${spec.type} code ${spec.code}, quoting seq ${seq})`);
    net6.ip6.input(m);
    this.layer.tick(this.clock.now());
    this.afterActivity();
  }

  /**
   * What the stack's IPv6 layer sent in an ipv6 run (mtod at the IPv6
   * header): the header read with the drill's codec (version, payload
   * length against the bytes, next header, our source address), then the
   * TCP segment checked as capture() checks it, with its checksum over the
   * IPv6 pseudo-header; traffic class, hop limit and flow label kept for
   * the comparison. A TSO super-segment is cut as capture() cuts one.
   */
  private capture6(m: Mbuf): void {
    try {
      const net6 = this.net6!;
      const bytes = this.pool.toBytes(m);
      const segsz = this.pool.tsoSegsz(m);
      const ip = decodeIpv6(bytes, segsz > 0);
      if (typeof ip === 'string') { this.captureError ??= `stack sent a malformed IPv6 packet: ${ip}`; return; }
      // A fragmented segment would reach the peer as fragments packetdrill cannot match: TCP should have sent less.
      if (ip.nextHeader === NH_FRAGMENT) { this.captureError ??= `stack sent an IPv6 fragment (${ip.payloadLen} bytes after the IPv6 header): TCP segments should fit the path MTU`; return; }
      if (ip.nextHeader !== NH_TCP) { this.notes.push(`ignored non-TCP output (IPv6 next header ${ip.nextHeader})`); return; }
      if (!sameAddr6(ip.src, net6.localBytes)) { this.captureError ??= `stack sent a TCP segment from ${formatAddr6(ip.src)}, not from our address ${formatAddr6(net6.localBytes)}`; return; }
      const l4 = ip.payload;
      const sum = (n: number): number => pseudoSum6(ip.src, ip.dst, NH_TCP, n);
      const seg = decodeSegmentSum(l4, sum(l4.length));
      if (typeof seg === 'string') { this.captureError ??= `stack sent a malformed segment: ${seg}`; return; }
      if (!seg.optionsOk) this.captureError ??= `stack sent malformed TCP options: ${formatActualPacket(seg)}`;
      const dst = sameAddr6(ip.dst, net6.remoteBytes) ? this.remoteIp : 0 as AddrKey;
      const ip6 = { hopLimit: ip.hopLimit, flowLabel: ip.flowLabel };
      if (segsz > 0 && seg.payloadLen > segsz) {
        for (let off = 0; off < seg.payloadLen; off += segsz) {
          const n = Math.min(segsz, seg.payloadLen - off);
          const part = l4.slice(0, seg.hdrLen + n);
          new DataView(part.buffer).setUint32(4, (seg.seq + off) >>> 0);
          if (off + n < seg.payloadLen) part[13] &= ~(F_FIN | F_PSH);
          const ps = decodeSegmentSum(part, sum(part.length)) as WireSegment;
          ps.checksumOk = true; // the NIC computes it
          this.enqueue({ at: this.clock.now(), bytes: part, seg: ps, dst, tos: ip.tclass, ip6 });
        }
      } else {
        this.enqueue({ at: this.clock.now(), bytes: l4.slice(), seg, dst, tos: ip.tclass, ip6 });
      }
    } finally {
      this.pool.free(m);
    }
  }

  /**
   * The IPv6 fields an ipv6 run checks beyond the traffic class (which
   * compareIp checks as the TOS byte): `(ttl N)` as the hop limit, and
   * `(flowlabel 0xN)` as packetdrill does (run_packet.c
   * verify_outbound_live_ipv6_flowlabel): a script label names the first
   * live label seen with it; the same name must see the same label, a new
   * name a different one.
   */
  private compareIp6(ev: PacketEvent, c: Captured): string | null {
    if (ev.ipInfo === null || c.ip6 === undefined) return null;
    const spec = parseIpSpec(ev.ipInfo) as IpSpec;
    const live = c.ip6.flowLabel;
    if (spec.ttl !== null && spec.ttl !== c.ip6.hopLimit) return `outbound IPv6 hop limit: expected ${spec.ttl} vs actual ${c.ip6.hopLimit}`;
    const want = spec.flowlabel;
    if (want === null || want === 0) return null;
    const hex = (v: number): string => `0x${v.toString(16)}`;
    if (live === 0) return `outbound IPv6 flow label: expected ${hex(want)} but the packet has none (0)`;
    const map = this.flowLabels.get(this.sut!);
    if (map === undefined) { this.flowLabels.set(this.sut!, { script: want, live }); return null; }
    if (want !== map.script) {
      if (live === map.live) return `outbound IPv6 flow label: expected a different label (${hex(want)}, not ${hex(map.script)}) but got the same ${hex(live)}`;
      map.script = want;
      map.live = live;
      return null;
    }
    return live === map.live ? null : `outbound IPv6 flow label: inconsistent labels: expected ${hex(map.live)} (the script's ${hex(want)}) vs actual ${hex(live)}`;
  }

  // ==================== main loop ====================

  private execute(): void {
    this.layer.tick(this.clock.now());
    const events = this.script.events;
    for (let i = 0; i < events.length; i++) {
      const ev = events[i];
      this.currentLine = ev.line;
      this.checkCaptureError(ev.line);
      this.checkPendingDeadline();
      const isInbound = ev.type === 'packet' && ev.direction === 'in';
      let startMs: number;
      let endMs: number;
      const t = ev.time;
      const offset = (): number => (this.lastWasInbound && isInbound ? this.lastInboundScriptMs : this.now());
      switch (t.kind) {
        case 'absolute': startMs = endMs = t.ms; break;
        case 'relative': startMs = endMs = offset() + t.ms; break;
        case 'absoluteRange': startMs = t.ms; endMs = t.endMs; break;
        case 'relativeRange': { const o = offset(); startMs = o + t.ms; endMs = o + t.endMs; break; }
        case 'any': startMs = endMs = this.now(); break;
      }
      if (i === 0 && startMs !== 0 && t.kind !== 'any') throw new DrillFailure(ev.line, 'first event should be at time 0');
      if (ev.type === 'packet' && ev.direction === 'out') {
        this.expectPacket(ev, startMs, endMs, t.kind === 'any');
      } else {
        const tol = this.tolerance(startMs);
        if (this.now() > startMs + tol) {
          throw new DrillFailure(ev.line, `timing error: event scheduled at ${fmtS(startMs)} but the script could only reach it at ${fmtS(this.now())} (an earlier blocking call or packet ran late)`);
        }
        if (ev.type === 'packet') {
          // A timer due at the very instant a packet is injected fires after it: kernel timers
          // never fire early and land on a later tick (Linux's timer wheel rounds expiries up,
          // FreeBSD's callouts run at the next hardclock), while packetdrill writes the packet
          // at its script time.
          this.advanceTo(T0 + startMs - TIE);
          if (this.clock.now() < T0 + startMs) this.clock.set(T0 + startMs);
        } else this.advanceTo(T0 + startMs);
        if (ev.type === 'packet') this.inject(ev);
        else if (ev.type === 'unsupported' && this.icmp6Events.has(ev)) this.injectIcmp6(ev);
        else if (ev.type === 'unsupported' && ev.construct.endsWith('shell command')) this.runShell(ev);
        else if (ev.type === 'unsupported' && ev.construct === 'icmp packet') this.injectIcmp(ev);
        else if (ev.type === 'unsupported') this.assertTcpInfo(ev);
        else this.syscall(ev as SyscallEvent, startMs);
      }
      this.checkCaptureError(ev.line);
      this.lastScriptMs = startMs;
      this.lastWasInbound = isInbound;
      if (isInbound) this.lastInboundScriptMs = startMs;
      this.eventsRun++;
    }
    // A blocking call still waiting at the end must finish within its window.
    while (this.pending) {
      const p = this.pending;
      if (this.clock.now() >= p.deadline) this.checkPendingDeadline(true);
      this.step(p.deadline);
    }
    if (this.profile.checkTrailing) {
      const c = this.takeCaptured();
      if (c) {
        const a = this.toScriptSpace(c.seg, this.sut!, { options: null } as PacketEvent);
        throw new DrillFailure(events[events.length - 1].line, `unexpected outbound packet after the last event: ${fmtS(c.at - T0)} ${formatActualPacket(a)}`);
      }
    }
  }

  private readonly rounded = new WeakSet<TcpConnection>();
  /** Python blocks, compiled by the pre-run check. */
  private readonly pyBlocks = new Map<UnsupportedEvent, PyStmt[]>();
  /** Some python block reads the chrono fields (tcpi_busy_time, ...): observe every connection at every step. */
  private usesChrono = false;
  /** Names some python block of the script assigns. */
  private readonly pyAssigned = new Set<string>();
  /** The script's Python variables. */
  private readonly pyEnv = new PyEnv(() => undefined);
  private readonly ledgers = new WeakMap<TcpConnection, SegLedger>();
  private readonly establishedAt = new WeakMap<TcpConnection, number>();
  private readonly chronos = new WeakMap<TcpConnection, ChronoStats>();
  /** When the call that just blocked must look again (its timeout), for the Pending made next. */
  private wakeHint: number | undefined = undefined;
  /** fds that are not sockets (epoll instances). */
  private readonly fdsTaken = new Set<number>();
  /** Scratch files the script made (`dd`), by path: their size (contents are zeros). */
  private readonly files = new Map<string, number>();
  /** open() files by fd: the path and the read offset. */
  private readonly fileFds = new Map<number, { path: string; pos: number }>();

  private fileAction(a: { path: string; size: number | null }): void {
    if (a.size === null) this.files.delete(a.path);
    else this.files.set(a.path, a.size);
  }

  /** ICMP packets, parsed by the pre-run check. */
  private readonly icmpSpecs = new Map<UnsupportedEvent, IcmpSpec>();
  /** epoll instances by their script fd. */
  private readonly epolls = new Map<number, Epoll>();

  /**
   * FreeBSD's tcp_mss(): once a connection knows its MSS (SYN-ACK received,
   * or the handshake's ACK for a passive open) both socket buffers grow to a
   * whole number of segments, at most kern.ipc.maxsockbuf. The larger
   * receive buffer is what FreeBSD then advertises, and what
   * getsockopt(SO_RCVBUF) reports (65536 becomes 65700 with MSS 1460).
   */
  private roundSockbufs(): void {
    for (const c of this.layer.connections()) {
      // Active opens learn the MSS from the peer's SYN (SYN-ACK or simultaneous open),
      // passive ones when the syncache makes the socket at the handshake's end.
      if (this.rounded.has(c) || c.state === TcpState.SynSent || (c.state === TcpState.SynReceived && !c.activeOpen)) continue;
      this.rounded.add(c);
      const mss = c.mssBase;
      if (c.cfg.rcvBuf > mss) c.cfg.rcvBuf = Math.min(FREEBSD_SB_MAX, Math.max(c.cfg.rcvBuf, Math.ceil(c.cfg.rcvBuf / mss) * mss));
      if (c.cfg.sndBuf >= mss) c.cfg.sndBuf = Math.min(FREEBSD_SB_MAX, Math.max(c.cfg.sndBuf, Math.ceil(c.cfg.sndBuf / mss) * mss));
    }
  }

  /**
   * What getsockopt(SO_RCVBUF / SO_SNDBUF) reports on the profile's OS.
   * Linux: the value set, doubled for bookkeeping overhead (socket(7)),
   * within [2304 | 4608, 2 × rmem_max | wmem_max], else tcp_rmem[1] /
   * tcp_wmem[1] of defaults.sh. FreeBSD: sb_hiwat, i.e. the value set or
   * net.inet.tcp.recvspace / sendspace, rounded up by tcp_mss() once connected.
   */
  private sockbufSize(s: Sock, name: 'SO_RCVBUF' | 'SO_SNDBUF'): number {
    const rcv = name === 'SO_RCVBUF';
    const set = s.opts.get(name);
    if (this.profile.os === 'linux') {
      if (set === undefined) return rcv ? 540000 : 262144;
      return Math.min(2 * 212992, Math.max(rcv ? 2304 : 4608, 2 * set));
    }
    const c = s.conn;
    if (c) return rcv ? c.cfg.rcvBuf : c.cfg.sndBuf;
    if (set !== undefined) return set;
    const cfg = s.listener ? s.listener.cfg : this.layer.config;
    return rcv ? cfg.rcvBuf : cfg.sndBuf;
  }

  /** A shell command the pre-check found understood (see shell.ts). */
  private runShell(ev: UnsupportedEvent): void {
    const actions = shellScript(this.profile.os, ev.text) as ShellAction[];
    for (const a of actions) {
      switch (a.kind) {
        case 'noop': break;
        case 'config': a.apply(this.layer.config, this.profile.tcp); if (a.flushFastOpen) fastOpenFlushCache(this.layer); break;
        case 'flushFastOpen': fastOpenFlushCache(this.layer); break;
        case 'nstat': {
          const k = this.layer.counters;
          if (a.counter === null) { for (const [, f] of NSTAT_COUNTERS) this.nstatBase.set(f, k[f]); break; }
          const f = NSTAT_COUNTERS.get(a.counter)!;
          const d = k[f] - (this.nstatBase.get(f) ?? 0);
          this.nstatBase.set(f, k[f]);
          if (d <= 0) throw new DrillFailure(ev.line, `shell command failed: ${a.counter} did not go up (\`${a.text}\`)`);
          break;
        }
        case 'count': {
          const n = this.countSockets(a.state, a.port);
          this.log?.(`${fmtS(this.now())} shell  ${a.text} -> ${n}`);
          // `grep N` succeeds when the count's line contains N.
          if (!String(n).includes(a.pattern)) {
            throw new DrillFailure(ev.line, `shell command failed: ${n} socket(s) in ${a.state}${a.port !== null ? ` on port ${a.port}` : ''}, the script expected ${a.pattern} (\`${a.text}\`)`);
          }
          break;
        }
        case 'file': this.fileAction(a); break;
        // The layer was made with the device's TSO setting: it can be restated, not changed mid-run.
        case 'tso': if (a.on !== this.profile.tso) throw new DrillUnsupported(ev.line, `${a.what} after the start`); break;
        case 'drop':
          for (const c of [...this.layer.connections()]) if (FREEBSD_STATE[c.state] === a.state) c.abort();
          this.layer.tick(this.clock.now());
          break;
      }
    }
  }

  /** Sockets in a FreeBSD state name, as `sockstat -s` lists them (listeners, connections, and unconnected sockets as CLOSED). */
  private countSockets(state: string, port: number | null): number {
    let n = 0;
    const portOk = (l: number, r: number): boolean => port === null || l === port || r === port;
    if (state === 'LISTEN') {
      for (const s of this.fds.values()) if (s.listener && portOk(s.listener.port, 0)) n++;
      return n;
    }
    const seen = new Set<TcpConnection>();
    for (const c of this.layer.connections()) {
      seen.add(c);
      if (FREEBSD_STATE[c.state] === state && portOk(c.localPort, c.remotePort)) n++;
    }
    if (state === 'CLOSED') {
      for (const s of this.fds.values()) {
        if (s.listener) continue;
        if (s.conn === null) { if (portOk(s.bindPort ?? 0, 0)) n++; continue; }
        if (!seen.has(s.conn) && portOk(s.conn.localPort, s.conn.remotePort)) n++;
      }
    }
    return n;
  }

  /**
   * A python block (see python.ts, tcpinfo.ts) on the socket under test:
   * packetdrill's names and the tcp_info fields of its connection; variables
   * persist from block to block, as in packetdrill's one Python process.
   */
  private assertTcpInfo(ev: UnsupportedEvent): void {
    const stmts = this.pyBlocks.get(ev) as PyStmt[];
    const f = this.sut;
    let conn: TcpConnection | null = null;
    for (const s of this.fds.values()) {
      if (s.conn && f && s.conn.localPort === f.localPort && s.conn.remotePort === f.remotePort) conn = s.conn;
    }
    // No connection: a listening or a fresh socket, whose tcpi_state is all there is to ask.
    let st: TcpState | null = null;
    if (!conn) {
      let newest: Sock | null = null;
      for (const s of this.fds.values()) if (!newest || s.fd > newest.fd) newest = s;
      if (!newest) throw new DrillFailure(ev.line, 'tcp_info assertion but no socket under test');
      st = newest.listener ? TcpState.Listen : newest.conn ? newest.conn.state : TcpState.Closed;
    }
    if (conn) this.chronoOf(conn).observe(conn, this.clock.now());
    const ctx = {
      ledger: conn ? this.ledgerOf(conn) : new SegLedger(), now: this.clock.now(),
      establishedAt: conn ? this.establishedAt.get(conn) ?? null : null, chrono: conn ? this.chronoOf(conn) : new ChronoStats(),
    };
    this.pyEnv.lookup = (name) => {
      if (name in TCPI_CONSTANTS) return TCPI_CONSTANTS[name];
      if (!name.startsWith('tcpi_')) return undefined;
      if (conn) return tcpiField(name, conn, ctx);
      if (name === 'tcpi_state') return tcpiState(st!);
      throw new DrillFailure(ev.line, `tcp_info assertion on ${name} but the socket under test has no connection`);
    };
    this.log?.(`${fmtS(this.now())} python ${ev.text.trim().replace(/\s+/g, ' ')}`);
    let bad: string | null;
    try {
      bad = runPython(stmts, this.pyEnv);
    } catch (e) {
      if (e instanceof PyUnsupported) throw new DrillUnsupported(ev.line, `python code block: ${e.message}`);
      throw e;
    }
    if (bad) throw new DrillFailure(ev.line, `tcp_info assertion failed: ${bad}`);
  }

  /** The segments a connection sent (tcp_info's per-segment counts). */
  private ledgerOf(c: TcpConnection): SegLedger {
    let l = this.ledgers.get(c);
    if (!l) { l = new SegLedger(); this.ledgers.set(c, l); }
    return l;
  }

  private chronoOf(c: TcpConnection): ChronoStats {
    let x = this.chronos.get(c);
    if (!x) { x = new ChronoStats(); this.chronos.set(c, x); }
    return x;
  }

  /** The connection a captured segment of ours belongs to, if it still exists. */
  private connOf(seg: WireSegment): TcpConnection | null {
    for (const c of this.layer.connections()) if (c.localPort === seg.srcPort && c.remotePort === seg.dstPort) return c;
    return null;
  }

  private afterActivity(): void {
    if (this.profile.os === 'freebsd') this.roundSockbufs();
    for (const c of this.layer.connections()) {
      if (!this.establishedAt.has(c) && this.established(c)) this.establishedAt.set(c, this.clock.now());
      if (this.usesChrono) this.chronoOf(c).observe(c, this.clock.now());
    }
    for (const ep of this.epolls.values()) for (const fd of ep.fds()) { const s = this.fds.get(fd); if (s) ep.observe(fd, this.wakeSig(s)); }
    const p = this.pending;
    if (!p) return;
    const r = p.attempt();
    if (!r) return;
    this.pending = null;
    this.checkResult(p.ev, r);
    if (p.endLive !== null) {
      const at = this.clock.now();
      if (Math.abs(at - p.endLive) > p.tol) {
        throw new DrillFailure(p.ev.line, `timing error: expected ${p.ev.name}() to return at ${fmtS(p.endLive - T0)} but it returned at ${fmtS(at - T0)} (tolerance ${fmtS(p.tol)})`);
      }
    }
  }

  private checkPendingDeadline(force = false): void {
    const p = this.pending;
    if (p && (force || this.clock.now() > p.deadline)) {
      throw new DrillFailure(p.ev.line, `blocking ${p.ev.name}() did not return by ${fmtS(p.deadline - T0)}${p.endLive !== null ? ` (script expected ${fmtS(p.endLive - T0)})` : ''}`);
    }
  }

  // ==================== system calls ====================

  private syscall(ev: SyscallEvent, startMs: number): void {
    // One system call at a time, as packetdrill's syscall thread: finish a blocked one first.
    while (this.pending) {
      const p = this.pending;
      if (this.clock.now() >= p.deadline) this.checkPendingDeadline(true);
      this.step(p.deadline);
    }
    this.log?.(`${fmtS(this.now())} call   ${ev.name}(...)`);
    const attempt = this.makeAttempt(ev);
    this.wakeHint = undefined;
    const r = attempt();
    this.layer.tick(this.clock.now());
    if (r) {
      this.afterActivity();
      this.checkResult(ev, r);
      if (ev.end !== null) {
        const expEnd = this.endTime(ev, startMs);
        const tol = this.tolerance(expEnd);
        if (Math.abs(this.now() - expEnd) > tol) {
          throw new DrillFailure(ev.line, `timing error: expected blocking ${ev.name}() to return at ${fmtS(expEnd)} but it returned at once, at ${fmtS(this.now())}`);
        }
      }
      this.afterActivity();
      return;
    }
    // The call blocks.
    if (ev.end !== null) {
      const expEnd = this.endTime(ev, startMs);
      const tol = this.tolerance(expEnd);
      this.pending = { ev, attempt, endLive: T0 + expEnd, tol, deadline: T0 + expEnd + tol, wakeAt: this.wakeHint };
      this.wakeHint = undefined;
      return;
    }
    this.pending = { ev, attempt, endLive: null, tol: 0, deadline: this.clock.now() + this.maxBlockMs, wakeAt: this.wakeHint };
    this.wakeHint = undefined;
    while (this.pending) {
      const p = this.pending;
      if (this.clock.now() >= p.deadline) this.checkPendingDeadline(true);
      this.step(p.deadline);
    }
  }

  private endTime(ev: SyscallEvent, startMs: number): number {
    const e = ev.end!;
    if (e.kind === 'relative' && ev.time.kind === 'relative') return startMs - ev.time.ms + e.ms;
    return e.kind === 'absolute' || e.kind === 'relative' ? e.ms : startMs;
  }

  private checkResult(ev: SyscallEvent, r: SysResult): void {
    const exp = ev.result;
    const got = r.errno ? `${r.ret} ${r.errno}` : `${r.ret}`;
    if (exp.kind !== 'ellipsis') {
      const want = this.evalInt(exp, ev.line);
      if (want !== r.ret) {
        throw new DrillFailure(ev.line, `${ev.name}() returned ${got} but the script expected ${want}${ev.errno ? ` ${ev.errno}` : ''}`);
      }
    }
    if (ev.errno !== null) {
      const want = ev.errno === 'EWOULDBLOCK' ? 'EAGAIN' : ev.errno;
      if (r.errno !== want) throw new DrillFailure(ev.line, `${ev.name}() returned ${got} but the script expected errno ${ev.errno}`);
    } else if (r.errno && r.ret === -1 && exp.kind === 'ellipsis') {
      // (An explicit `= -1` without an errno name checks the result only, as packetdrill's end_syscall.)
      throw new DrillFailure(ev.line, `${ev.name}() failed with ${r.errno} but the script expected ${this.exprText(exp)}`);
    }
  }

  private exprText(e: Expr): string {
    switch (e.kind) {
      case 'int': return String(e.value);
      case 'ellipsis': return '...';
      case 'word': return e.name;
      default: return e.kind;
    }
  }

  private tryInt(e: Expr): number | null {
    switch (e.kind) {
      case 'int': return e.value;
      case 'word': return CONSTANTS[e.name] ?? ERRNO[e.name] ?? null;
      case 'binary': {
        if (e.op !== '|') return null;
        const a = this.tryInt(e.lhs);
        const b = this.tryInt(e.rhs);
        return a === null || b === null ? null : (a | b);
      }
      case 'list': return e.items.length === 1 ? this.tryInt(e.items[0]) : null;
      case 'call': return e.fn === 'htons' && e.args.length === 1 ? this.tryInt(e.args[0]) : null;
      default: return null;
    }
  }

  private evalInt(e: Expr, line: number): number {
    const v = this.tryInt(e);
    if (v === null) throw new DrillUnsupported(line, `expression ${this.exprText(e)}`);
    return v;
  }

  private fdArg(ev: SyscallEvent): Sock | SysResult {
    const fd = this.evalInt(ev.args[0] ?? { kind: 'ellipsis' }, ev.line);
    const s = this.fds.get(fd);
    return s ?? { ret: -1, errno: 'EBADF' };
  }

  private makeAttempt(ev: SyscallEvent): Attempt {
    const line = ev.line;
    if (ev.name === 'socket') {
      return () => {
        const type = ev.args[1] && ev.args[1].kind !== 'ellipsis' ? this.evalInt(ev.args[1], line) : 1;
        const fd = this.scriptFd(ev);
        this.fds.set(fd, {
          fd, nonblock: (type & CONSTANTS.SOCK_NONBLOCK) !== 0, bindPort: null, listener: null, conn: null, connect: 'none',
          error: null, dead: false, shutWr: false, shutRd: false, linger: null, cfg: {}, opts: new Map(),
        });
        this.sut = null; // a new socket becomes the socket under test
        return { ret: fd };
      };
    }
    const special = this.pollAttempt(ev);
    if (special) return special;
    const sockOr = this.fdArg(ev);
    if (!('fd' in sockOr)) return () => sockOr;
    const s = sockOr;
    const nonblockCall = (flagsArg: Expr | undefined): boolean => {
      if (s.nonblock) return true;
      if (!flagsArg || flagsArg.kind === 'ellipsis') return false;
      return (this.evalInt(flagsArg, line) & CONSTANTS.MSG_DONTWAIT) !== 0;
    };
    switch (ev.name) {
      case 'bind': return () => {
        const port = this.sockaddrPort(ev.args[1]) ?? this.profile.bindPort;
        s.bindPort = port;
        return { ret: 0 };
      };
      case 'listen': return () => {
        const port = s.bindPort ?? this.profile.bindPort;
        const backlog = ev.args[1] && ev.args[1].kind !== 'ellipsis' ? this.evalInt(ev.args[1], line) : 128;
        try {
          // An ipv6 run's socket is bound to our IPv6 address (packetdrill's live_bind_ip).
          s.listener = this.layer.listen(port, { ...s.cfg, backlog: Math.max(1, backlog), ...(this.net6 ? { family: 6 as const, address6: this.net6.local } : {}) });
        } catch (e) {
          return { ret: -1, errno: errnoOf(e) === 'EADDRINUSE' ? 'EADDRINUSE' : 'EINVAL' };
        }
        this.sut = this.newFlow('listening', port, 0);
        return { ret: 0 };
      };
      case 'accept': return () => {
        if (!s.listener) return { ret: -1, errno: 'EINVAL' };
        const c = s.listener.accept();
        if (!c) return s.nonblock ? { ret: -1, errno: 'EAGAIN' } : null;
        const fd = this.scriptFd(ev);
        const ns: Sock = {
          fd, nonblock: false, bindPort: c.localPort, listener: null, conn: c, connect: 'connected',
          error: null, dead: false, shutWr: false, shutRd: false, linger: s.linger, cfg: { ...s.cfg }, opts: new Map(s.opts),
        };
        this.hook(ns, c);
        if (c.state === TcpState.Closed) {
          // Reset while it waited in the queue (readAfterReset): accepted dead, its error pending.
          ns.dead = true;
          if (c.closeError !== null && c.closeError !== 'EPIPE') ns.error = c.closeError;
        }
        this.fds.set(fd, ns);
        return { ret: fd };
      };
      case 'connect': return () => {
        if (s.conn) {
          if (s.error) { const e = s.error; s.error = null; return { ret: -1, errno: e }; }
          if (s.connect === 'inprogress') {
            // Linux __inet_stream_connect: a connect that failed, its error already taken by SO_ERROR: ECONNABORTED.
            if (s.dead && this.profile.os === 'linux' && !this.established(s.conn)) { s.connect = 'none'; return { ret: -1, errno: 'ECONNABORTED' }; }
            if (this.established(s.conn)) { s.connect = 'connected'; return s.nonblock ? { ret: 0 } : { ret: 0 }; }
            return s.nonblock ? { ret: -1, errno: 'EALREADY' } : null;
          }
          return { ret: -1, errno: 'EISCONN' };
        }
        if (s.listener) return { ret: -1, errno: 'EINVAL' };
        if (s.foDeferred !== undefined) return { ret: -1, errno: 'EISCONN' };
        const port = this.sockaddrPort(ev.args[1]) ?? this.profile.connectPort;
        // Linux TCP_FASTOPEN_CONNECT (tcp_fastopen_defer_connect): with a cookie, connect() returns 0
        // at once and the first write sends the SYN with its data; without, a SYN asking for one.
        const foConnect = (s.opts.get('TCP_FASTOPEN_CONNECT') ?? 0) !== 0 && this.layer.config.fastOpenClient;
        if (foConnect && (fastOpenHasCookie(this.layer, this.net6 ? this.net6.remote : this.remoteIp, this.clock.now()) || (s.cfg.fastOpenClientNoCookie ?? this.layer.config.fastOpenClientNoCookie))) {
          s.foDeferred = port;
          return { ret: 0 };
        }
        let c: TcpConnection;
        try {
          c = this.activeOpen(port, s.cfg, s.bindPort, foConnect ? new Uint8Array(0) : undefined);
        } catch (e) {
          return { ret: -1, errno: errnoOf(e) === 'EADDRINUSE' ? 'EADDRINUSE' : 'EADDRNOTAVAIL' };
        }
        s.conn = c;
        s.connect = 'inprogress';
        const flow = this.newFlow('active', c.localPort, c.remotePort);
        this.sut = flow;
        // The SYN left inside connect(): learn the ISN now.
        for (const cap of this.captured) {
          if ((cap.seg.flags & F_SYN) && cap.seg.srcPort === c.localPort && flow.localIsn === null) flow.localIsn = cap.seg.seq;
        }
        this.hook(s, c);
        if (s.nonblock) return { ret: -1, errno: 'EINPROGRESS' };
        return this.connectDone(s);
      };
      case 'read': case 'recv': case 'recvfrom': case 'readv': case 'recvmsg': {
        const nullBuf = isNull(ev.args[1]);
        const msg = ev.name === 'recvmsg' ? this.msghdr(ev.args[1], line) : null;
        const len = msg ? msg.iovLen : ev.name === 'readv' ? this.iovLen(ev.args[1], line) : this.evalInt(ev.args[2] ?? { kind: 'ellipsis' }, line);
        const flagsArg = ev.name === 'recv' || ev.name === 'recvfrom' ? ev.args[3] : ev.name === 'recvmsg' ? ev.args[2] : undefined;
        const rflags = flagsArg && flagsArg.kind !== 'ellipsis' ? this.evalInt(flagsArg, line) : 0;
        const peek = (rflags & CONSTANTS.MSG_PEEK) !== 0;
        const waitAll = (rflags & CONSTANTS.MSG_WAITALL) !== 0;
        return () => {
        const nb = nonblockCall(flagsArg);
        if (!s.conn && s.foDeferred !== undefined) return nb ? { ret: -1, errno: 'EAGAIN' } : null; // no SYN yet
        if (!s.conn) return { ret: -1, errno: 'ENOTCONN' };
        const c = s.conn;
        // MSG_WAITALL: a blocking recv waits for all `len` bytes, unless the
        // stream ends or fails first (POSIX recv; both OSes).
        if (waitAll && !nb && c.readable() < len && !c.finReceived && !s.dead && !s.error && !s.shutRd) return null;
        // A NULL buffer: the copy to user space fails (Linux skb_copy_datagram_msg), the data stays queued.
        if (nullBuf && len > 0 && c.readable() > 0) return { ret: -1, errno: 'EFAULT' };
        if (peek) {
          const n = c.recvBuf.peek(new Uint8Array(Math.min(len, c.readable())));
          if (n > 0) return { ret: n };
        } else {
          const data = c.read(len);
          if (data && data.length > 0) {
            if (msg) this.checkRecvmsg(s, c, msg, line);
            return { ret: data.length };
          }
        }
        if (msg && (c.peerClosed || s.dead || s.shutRd)) this.checkRecvmsg(s, c, msg, line);
        if (s.error) { const e = s.error; s.error = null; return { ret: -1, errno: e }; }
        if (s.conn.peerClosed || s.dead || s.shutRd) return { ret: 0 };
        if (s.conn.state === TcpState.SynSent || s.conn.state === TcpState.SynReceived) {
          return nb ? { ret: -1, errno: 'EAGAIN' } : null;
        }
        return nb ? { ret: -1, errno: 'EAGAIN' } : null;
        };
      }
      case 'write': case 'send': case 'sendto': case 'writev': case 'sendmsg': {
        const len = ev.name === 'sendmsg' ? this.msghdr(ev.args[1], line).iovLen
          : ev.name === 'writev' ? this.iovLen(ev.args[1], line) : this.evalInt(ev.args[2] ?? { kind: 'ellipsis' }, line);
        const flagsArg = ev.name === 'send' || ev.name === 'sendto' ? ev.args[3] : ev.name === 'sendmsg' ? ev.args[2] : undefined;
        const nb = nonblockCall(flagsArg);
        const nullBuf = isNull(ev.args[1]);
        const sflags = flagsArg !== undefined && flagsArg.kind !== 'ellipsis' ? this.evalInt(flagsArg, line) : 0;
        const msgFastOpen = (sflags & CONSTANTS.MSG_FASTOPEN) !== 0;
        const eor = (sflags & CONSTANTS.MSG_EOR) !== 0;
        const more = (sflags & CONSTANTS.MSG_MORE) !== 0;
        let done = 0;
        let asleep = false;
        let fastOpen: Attempt | null = null;
        return () => {
          // TCP Fast Open: Linux sendto(MSG_FASTOPEN), FreeBSD sendto() on a TCP_FASTOPEN socket: an implied connect with the data.
          const implied = !s.conn && !s.listener && (s.foDeferred !== undefined || ((ev.name === 'sendto' || ev.name === 'sendmsg')
            && (this.profile.os === 'linux' ? msgFastOpen : (s.opts.get('TCP_FASTOPEN') ?? 0) !== 0)));
          if (implied || fastOpen !== null) {
            fastOpen ??= this.fastOpenSend(s, ev, len, nb);
            return fastOpen();
          }
          if (!s.conn) return { ret: -1, errno: s.listener ? 'ENOTCONN' : 'EPIPE' };
          // Linux: another sendto(MSG_FASTOPEN) while the connect is in progress.
          if (msgFastOpen && this.profile.os === 'linux' && s.conn.state === TcpState.SynSent) return nb ? { ret: -1, errno: 'EALREADY' } : null;
          if (s.error) { const e = s.error; s.error = null; return { ret: -1, errno: e }; }
          if (s.dead || s.shutWr) return done > 0 ? { ret: done } : { ret: -1, errno: 'EPIPE' };
          // (A Fast Open child may send in SYN-RECEIVED, as Linux lets it.)
          if (s.conn.state === TcpState.SynSent || (s.conn.state === TcpState.SynReceived && !(s.conn.fo?.child ?? false))) {
            if (nb) return { ret: -1, errno: 'EAGAIN' };
            return null;
          }
          if (len === 0) return { ret: 0 };
          // A NULL buffer: nothing can be copied from user space (Linux tcp_sendmsg: EFAULT when nothing was queued).
          if (nullBuf) return done > 0 ? { ret: done } : { ret: -1, errno: 'EFAULT' };
          // Linux sk_stream_write_space: a writer asleep on a full buffer is woken
          // only once the free space is at least half of what is queued.
          if (asleep && this.profile.os === 'linux' && s.conn.sendSpace() < s.conn.sendQueued() / 2) return null;
          const n = more ? s.conn.writeMore(new Uint8Array(len - done)) : s.conn.write(new Uint8Array(len - done));
          done += n;
          // MSG_EOR: the record ends with this call's last byte.
          if (eor && (done >= len || nb) && done > 0) s.conn.endRecord();
          this.layer.tick(this.clock.now());
          if (done >= len) return { ret: done };
          if (nb) return done > 0 ? { ret: done } : { ret: -1, errno: 'EAGAIN' };
          asleep = true;
          return null; // a blocking write returns once everything is queued
        };
      }
      case 'close': return () => {
        this.fds.delete(s.fd);
        for (const ep of this.epolls.values()) ep.forget(s.fd);
        if (s.listener) s.listener.close();
        if (s.conn && !s.dead) {
          if (s.linger && s.linger.onoff && s.linger.linger === 0) s.conn.abort();
          else s.conn.close();
        }
        return { ret: 0 };
      };
      case 'shutdown': return () => {
        const how = this.evalInt(ev.args[1] ?? { kind: 'ellipsis' }, line);
        if (!s.conn || s.dead && !s.shutWr && s.connect === 'none') return { ret: -1, errno: 'ENOTCONN' };
        if (how === CONSTANTS.SHUT_RD || how === CONSTANTS.SHUT_RDWR) {
          s.shutRd = true;
          this.afterActivity(); // a blocked read returns 0 now
        }
        if (how === CONSTANTS.SHUT_WR || how === CONSTANTS.SHUT_RDWR) {
          if (!s.shutWr && !s.dead) s.conn.shutdown();
          s.shutWr = true;
        }
        return { ret: 0 };
      };
      case 'fcntl': return () => {
        const cmd = this.evalInt(ev.args[1], line);
        if (cmd === CONSTANTS.F_GETFL) return { ret: CONSTANTS.O_RDWR | (s.nonblock ? CONSTANTS.O_NONBLOCK : 0) };
        const v = this.evalInt(ev.args[2] ?? { kind: 'int', value: 0 }, line);
        s.nonblock = (v & CONSTANTS.O_NONBLOCK) !== 0;
        return { ret: 0 };
      };
      case 'ioctl': return () => {
        const req = (ev.args[1] as { name: string }).name;
        // Linux tcp_ioctl / FreeBSD: EINVAL on a listener; data bytes only (a FIN is not counted).
        if (s.listener) return { ret: -1, errno: 'EINVAL' };
        const c = s.conn;
        const actual = !c ? 0 : req === 'SIOCOUTQ' ? c.sendBuf.length : c.readable();
        const want = ev.args[2];
        if (want && want.kind !== 'ellipsis') {
          const w = this.evalInt(want, line);
          if (w !== actual) throw new DrillFailure(line, `ioctl(${req}) value: expected ${w} vs actual ${actual}`);
        }
        return { ret: 0 };
      };
      case 'setsockopt': return () => this.setsockopt(s, ev);
      case 'getsockopt': return () => this.getsockopt(s, ev);
      default: throw new DrillUnsupported(line, `system call ${ev.name}()`);
    }
  }

  /**
   * The fd number a new socket gets: packetdrill maps script fds to live ones,
   * so the number the script expects is the socket's name (only "it is an fd"
   * is checked, CHECK_FD); with no number given, the lowest free one from 3.
   */
  private scriptFd(ev: SyscallEvent): number {
    const want = ev.result.kind === 'int' ? ev.result.value : -1;
    if (want >= 0 && !this.fds.has(want) && !this.fdsTaken.has(want)) return want;
    if (want >= 0) {
      // The name is still open (the script never closed it): packetdrill only checks that the
      // call returned an fd, so the name moves to the new socket; the old one lives on unnamed.
      const old = this.fds.get(want)!;
      this.fds.delete(want);
      this.fds.set(-(++this.unnamedFds), old);
      return want;
    }
    let fd = 3;
    while (this.fds.has(fd) || this.fdsTaken.has(fd)) fd++;
    return fd;
  }

  /**
   * sendto() with an implied connect and TCP Fast Open (RFC 7413), as each
   * OS's socket layer does it. FreeBSD (TCP_FASTOPEN set on the socket):
   * the data is queued at once and the call returns, the SYN carrying what
   * the cookie allows. Linux (MSG_FASTOPEN): with a cookie the SYN carries
   * what fits and a non-blocking call returns that much; without one the
   * SYN asks for a cookie, a non-blocking call fails with EINPROGRESS and a
   * blocking one sends the data once connected.
   */
  private fastOpenSend(s: Sock, ev: SyscallEvent, len: number, nb: boolean): Attempt {
    // Linux tcp_sendmsg_fastopen: EOPNOTSUPP when the client side is off or the address is AF_UNSPEC.
    const dest = ev.name === 'sendto' ? ev.args[4] : undefined;
    if (this.profile.os === 'linux' && s.foDeferred === undefined
      && (!this.layer.config.fastOpenClient || (dest?.kind === 'word' && dest.name === 'AF_UNSPEC'))) {
      return () => ({ ret: -1, errno: 'EOPNOTSUPP' });
    }
    const port = s.foDeferred ?? this.sockaddrPort(ev.name === 'sendto' ? ev.args[4] : undefined) ?? this.profile.connectPort;
    const os = this.profile.os;
    // A NULL buffer: Linux's tcp_send_syn_data cannot copy it and falls back to a SYN without data.
    const nullBuf = isNull(ev.args[1]) && len > 0;
    if (nullBuf && os === 'freebsd') return () => ({ ret: -1, errno: 'EFAULT' });
    let phase: 'connect' | 'wait' = 'connect';
    let sent = 0;
    return () => {
      if (phase === 'connect') {
        phase = 'wait';
        const now = this.clock.now();
        const cfg = this.layer.config;
        const advMss = s.cfg.mss ?? cfg.mss ?? this.profile.mtu - (this.net6 ? 60 : 40);
        const cookie = fastOpenHasCookie(this.layer, this.net6 ? this.net6.remote : this.remoteIp, now) || (s.cfg.fastOpenClientNoCookie ?? cfg.fastOpenClientNoCookie);
        let early = len;
        // Linux, non-blocking: only what the SYN carries is taken (nothing without a cookie). Blocking, the
        // rest waits in the send buffer (Linux holds the handshake's ACK for a pending writer, so the data carries it).
        if (os === 'linux' && nb) early = cookie && cfg.fastOpenClient ? Math.min(len, fastOpenSynRoom(this.layer, this.net6 ? this.net6.remote : this.remoteIp, advMss)) : 0;
        if (nullBuf) early = 0;
        let c: TcpConnection;
        try {
          c = this.activeOpen(port, s.cfg, s.bindPort, new Uint8Array(early));
        } catch (e) {
          return { ret: -1, errno: errnoOf(e) === 'EADDRINUSE' ? 'EADDRINUSE' : 'EADDRNOTAVAIL' };
        }
        s.conn = c;
        s.connect = 'inprogress';
        const flow = this.newFlow('active', c.localPort, c.remotePort);
        this.sut = flow;
        for (const cap of this.captured) {
          if ((cap.seg.flags & F_SYN) && cap.seg.srcPort === c.localPort && flow.localIsn === null) flow.localIsn = cap.seg.seq;
        }
        this.hook(s, c);
        sent = early;
        if (os === 'freebsd') return { ret: len };
        if (nb) return sent > 0 ? { ret: sent } : { ret: -1, errno: 'EINPROGRESS' };
      }
      // Linux, blocking: wait for the handshake, then queue the rest.
      const d = this.connectDone(s);
      if (d === null) return null;
      if (d.ret < 0) return d;
      if (nullBuf) return { ret: -1, errno: 'EFAULT' };
      if (sent < len) sent += s.conn!.write(new Uint8Array(len - sent)); // (what did not fit the send buffer)
      this.layer.tick(this.clock.now());
      return sent >= len ? { ret: len } : null;
    };
  }

  /** What tcp_poll reads of a script socket (see poll.ts). */
  private pollView(s: Sock): PollView {
    const c = s.conn;
    const deferred = c === null && s.foDeferred !== undefined;
    return {
      listening: s.listener !== null,
      acceptable: s.listener ? s.listener.queue.length : 0,
      connecting: deferred || (c !== null && !s.dead && (c.state === TcpState.SynSent || (c.state === TcpState.SynReceived && !(c.fo?.child ?? false)))),
      deferredConnect: deferred,
      closed: (c === null && !deferred) || s.dead,
      readable: c ? c.readable() : 0,
      rcvShut: s.shutRd || s.dead || (c !== null && c.finReceived),
      sndShut: s.shutWr || s.dead,
      queued: c ? c.sendBuf.length : 0,
      sndBuf: c ? c.cfg.sndBuf : (s.cfg.sndBuf ?? this.layer.config.sndBuf),
      notsentOk: c === null || c.cfg.notsentLowat <= 0 || c.unsentBytes() * 2 < c.cfg.notsentLowat,
      error: s.error !== null,
    };
  }

  private pollMask(fd: number): number {
    const s = this.fds.get(fd);
    return s ? tcpPollMask(this.pollView(s)) : POLL.POLLNVAL;
  }

  /** What changes when a socket's wait queue would be woken: data or FIN in, a state change, an error, room to write again. */
  private wakeSig(s: Sock): string {
    const c = s.conn;
    const writable = (tcpPollMask(this.pollView(s)) & POLL.POLLOUT) !== 0;
    return `${c ? `${c.state}|${c.bytesReceived}|${c.finReceived}` : '-'}|${s.listener ? s.listener.queue.length : ''}|${s.dead}|${s.error}|${s.shutRd}|${s.shutWr}|${writable}`;
  }

  /** A struct field's value (`{events=..., fd=4}`), undefined when absent, null for `...`. */
  private structField(e: Expr | undefined, name: string, line: number): number | null | undefined {
    if (!e || e.kind !== 'struct') return undefined;
    for (const it of e.items) {
      if (it.kind === 'binary' && it.op === '=' && it.lhs.kind === 'word' && it.lhs.name === name) {
        return it.rhs.kind === 'ellipsis' ? null : this.evalInt(it.rhs, line);
      }
    }
    return undefined;
  }

  /** A poll/epoll_wait timeout in ms: the call returns 0 then; -1 blocks without end. */
  private timed(attempt: () => SysResult | null, timeoutMs: number): Attempt {
    let until: number | null = null;
    return () => {
      const r = attempt();
      if (r) return r;
      if (timeoutMs === 0) return { ret: 0 };
      until ??= this.clock.now() + (timeoutMs < 0 ? Infinity : timeoutMs);
      if (this.clock.now() >= until) return { ret: 0 };
      this.wakeHint = until;
      if (this.pending) this.pending.wakeAt = until;
      return null;
    };
  }

  /**
   * poll(), epoll_create(), epoll_ctl() and epoll_wait() (poll.ts), or null
   * for another call. Readiness is the connection's own state; revents and
   * the reported event are checked when the call returns, as packetdrill's
   * syscall_poll / syscall_epoll_wait do.
   */
  private pollAttempt(ev: SyscallEvent): Attempt | null {
    const line = ev.line;
    switch (ev.name) {
      case 'poll': {
        const list = ev.args[0];
        if (!list || list.kind !== 'list') throw new DrillUnsupported(line, 'poll() without a pollfd list');
        const entries = list.items.map((it) => {
          const fd = this.structField(it, 'fd', line);
          const events = this.structField(it, 'events', line) ?? 0;
          const revents = this.structField(it, 'revents', line);
          if (fd === undefined || fd === null) throw new DrillUnsupported(line, 'pollfd without fd');
          return { fd, events, revents };
        });
        const timeout = this.evalInt(ev.args[2] ?? { kind: 'int', value: -1 }, line);
        const check = (): SysResult | null => {
          let n = 0;
          const got = entries.map((e) => {
            const r = e.fd < 0 ? 0 : pollRevents(this.pollMask(e.fd), e.events);
            if (r !== 0) n++;
            return r;
          });
          if (n === 0) return null;
          entries.forEach((e, i) => {
            if (e.revents !== undefined && e.revents !== null && e.revents !== got[i]) {
              throw new DrillFailure(line, `poll() fd ${e.fd} revents: expected ${pollNames(e.revents)} vs actual ${pollNames(got[i])}`);
            }
          });
          return { ret: n };
        };
        return this.timed(check, timeout);
      }
      case 'epoll_create': case 'epoll_create1': return () => {
        if (ev.name === 'epoll_create' && this.evalInt(ev.args[0] ?? { kind: 'int', value: 1 }, line) <= 0) return { ret: -1, errno: 'EINVAL' };
        const fd = this.scriptFd(ev);
        this.epolls.set(fd, new Epoll());
        this.fdsTaken.add(fd);
        return { ret: fd };
      };
      case 'epoll_ctl': {
        const ep = this.epolls.get(this.evalInt(ev.args[0] ?? { kind: 'ellipsis' }, line));
        if (!ep) return () => ({ ret: -1, errno: 'EBADF' });
        const op = this.evalInt(ev.args[1] ?? { kind: 'ellipsis' }, line);
        const fd = this.evalInt(ev.args[2] ?? { kind: 'ellipsis' }, line);
        const evs = this.structField(ev.args[3], 'events', line) ?? 0;
        const data = this.structField(ev.args[3], 'fd', line) ?? this.structField(ev.args[3], 'ptr', line) ?? this.structField(ev.args[3], 'u32', line) ?? this.structField(ev.args[3], 'u64', line) ?? 0;
        return () => {
          const s = this.fds.get(fd);
          if (!s) return { ret: -1, errno: 'EBADF' };
          const e = ep.ctl(op, fd, evs, data, this.wakeSig(s), tcpPollMask(this.pollView(s)));
          return e ? { ret: -1, errno: e } : { ret: 0 };
        };
      }
      case 'epoll_wait': {
        const ep = this.epolls.get(this.evalInt(ev.args[0] ?? { kind: 'ellipsis' }, line));
        if (!ep) return () => ({ ret: -1, errno: 'EBADF' });
        const max = this.evalInt(ev.args[2] ?? { kind: 'int', value: 1 }, line);
        if (max <= 0) return () => ({ ret: -1, errno: 'EINVAL' });
        const timeout = this.evalInt(ev.args[3] ?? { kind: 'int', value: -1 }, line);
        const wantEvents = this.structField(ev.args[1], 'events', line);
        const wantData = this.structField(ev.args[1], 'fd', line) ?? this.structField(ev.args[1], 'ptr', line) ?? this.structField(ev.args[1], 'u32', line) ?? this.structField(ev.args[1], 'u64', line);
        const check = (): SysResult | null => {
          const got = ep.collect(max, (fd) => this.pollMask(fd));
          if (got.length === 0) return null;
          // packetdrill compares the first event the call returned.
          const g = got[0];
          if (wantEvents !== undefined && wantEvents !== null && (wantEvents >>> 0) !== (g.events >>> 0)) {
            throw new DrillFailure(line, `epoll_wait() events: expected ${pollNames(wantEvents, 'E')} vs actual ${pollNames(g.events, 'E')}`);
          }
          if (wantData !== undefined && wantData !== null && wantData !== g.data) {
            throw new DrillFailure(line, `epoll_wait() data: expected ${wantData} vs actual ${g.data}`);
          }
          return { ret: got.length };
        };
        return this.timed(check, timeout);
      }
      case 'close': {
        const fd = this.tryInt(ev.args[0] ?? { kind: 'ellipsis' });
        if (fd === null || (!this.epolls.has(fd) && !this.fileFds.has(fd))) return null;
        return () => { this.epolls.delete(fd); this.fileFds.delete(fd); this.fdsTaken.delete(fd); return { ret: 0 }; };
      }
      case 'open': return () => {
        const path = ev.args[0]?.kind === 'string' ? ev.args[0].value : null;
        const flags = this.evalInt(ev.args[1] ?? { kind: 'int', value: 0 }, line);
        if (path === null) throw new DrillUnsupported(line, 'open() of a path that is not a string');
        if ((flags & 3) !== CONSTANTS.O_RDONLY || (flags & ~(3 | CONSTANTS.O_NONBLOCK | CONSTANTS.O_CLOEXEC)) !== 0) throw new DrillUnsupported(line, 'open() for writing');
        if (!this.files.has(path)) return { ret: -1, errno: 'ENOENT' };
        const fd = this.scriptFd(ev);
        this.fileFds.set(fd, { path, pos: 0 });
        this.fdsTaken.add(fd);
        return { ret: fd };
      };
      case 'sendfile': return this.sendfileAttempt(ev);
      default: return null;
    }
  }

  /**
   * sendfile(out_fd, in_fd, offset, count): `count` bytes of a scratch file
   * (from `*offset`, or the file's position with NULL) queued on the socket
   * as write() would; Linux returns what it queued, blocking until all of
   * it is unless the socket is non-blocking.
   */
  private sendfileAttempt(ev: SyscallEvent): Attempt {
    const line = ev.line;
    const s = this.fds.get(this.evalInt(ev.args[0] ?? { kind: 'ellipsis' }, line));
    const f = this.fileFds.get(this.evalInt(ev.args[1] ?? { kind: 'ellipsis' }, line));
    if (!s || !f) return () => ({ ret: -1, errno: 'EBADF' });
    const offArg = ev.args[2];
    const off = offArg === undefined || isNull(offArg) ? null : this.evalInt(offArg, line);
    const count = this.evalInt(ev.args[3] ?? { kind: 'ellipsis' }, line);
    let done = 0;
    let len = -1;
    return () => {
      if (len < 0) len = Math.max(0, Math.min(count, (this.files.get(f.path) ?? 0) - (off ?? f.pos)));
      if (!s.conn) return { ret: -1, errno: s.listener ? 'ENOTCONN' : 'EPIPE' };
      if (s.error) { const e = s.error; s.error = null; return { ret: -1, errno: e }; }
      if (s.dead || s.shutWr) return done > 0 ? { ret: done } : { ret: -1, errno: 'EPIPE' };
      if (s.conn.state === TcpState.SynSent || s.conn.state === TcpState.SynReceived) return s.nonblock ? { ret: -1, errno: 'EAGAIN' } : null;
      if (len === 0) return { ret: 0 };
      done += s.conn.write(new Uint8Array(len - done));
      this.layer.tick(this.clock.now());
      if (done >= len || (s.nonblock && done > 0)) { if (off === null) f.pos += done; return { ret: done }; }
      return s.nonblock ? { ret: -1, errno: 'EAGAIN' } : null;
    };
  }

  /** A cookie in a SYN or SYN-ACK as hex digits: a `--define`d name resolved. */
  private cookieHex(cookie: string, line: number): string {
    if (/^[0-9a-f]*$/i.test(cookie)) return cookie.toLowerCase();
    const v = this.defines.get(cookie) ?? this.profile.defines?.[cookie];
    if (v === undefined || !/^[0-9a-f]*$/i.test(v)) throw new DrillUnsupported(line, `Fast Open cookie ${cookie} (no --define for it)`);
    return v.toLowerCase();
  }

  /**
   * The layer's active open to the script's peer in the run's family
   * (connect6 over IPv6), with the early data a Fast Open SYN may carry.
   */
  private activeOpen(port: number, cfg: Partial<TcpConfig>, localPort: number | null, earlyData: Uint8Array | undefined): TcpConnection {
    if (this.net6) return this.layer.connect6(this.net6.remote, port, { ...cfg, localPort: localPort ?? undefined, earlyData });
    return this.layer.connect(this.remoteIp as Ip4, port, { ...cfg, localPort: localPort ?? undefined, earlyData });
  }

  private connectDone(s: Sock): SysResult | null {
    if (s.error) { const e = s.error; s.error = null; return { ret: -1, errno: e }; }
    if (s.conn && this.established(s.conn)) { s.connect = 'connected'; return { ret: 0 }; }
    if (s.dead) return { ret: -1, errno: 'ECONNREFUSED' };
    return null;
  }

  private established(c: TcpConnection): boolean {
    return c.state !== TcpState.SynSent && c.state !== TcpState.SynReceived && c.state !== TcpState.Closed;
  }

  private hook(s: Sock, c: TcpConnection): void {
    c.onClose = (err?: TcpError) => {
      s.dead = true;
      if (err) s.error = err.code === 'EPIPE' ? null : err.code;
    };
    if (s.cfg.noDelay !== undefined) c.setNoDelay(s.cfg.noDelay);
    if (s.opts.get('TCP_CORK')) c.setCork(true);
  }

  private sockaddrPort(e: Expr | undefined): number | null {
    if (!e || e.kind !== 'struct') return null;
    for (const it of e.items) {
      if (it.kind === 'binary' && it.op === '=' && it.lhs.kind === 'word' && (it.lhs.name === 'sin_port' || it.lhs.name === 'sin6_port')) return this.tryInt(it.rhs);
    }
    return null;
  }

  /**
   * A `struct msghdr` argument: the iovec's total length, the expected
   * msg_flags and control messages. Control messages other than TCP_CM_INQ
   * (timestamping, zero-copy completions) are unsupported.
   */
  private msghdr(e: Expr | undefined, line: number): { iovLen: number; msgFlags: Expr | null; control: Expr[] } {
    if (!e || e.kind !== 'struct') throw new DrillUnsupported(line, 'msghdr argument');
    let iovLen: number | null = null;
    let msgFlags: Expr | null = null;
    let control: Expr[] = [];
    for (const it of e.items) {
      if (it.kind !== 'binary' || it.op !== '=') throw new DrillUnsupported(line, 'msghdr field');
      const name = it.lhs.kind === 'word' ? it.lhs.name : it.lhs.kind === 'call' ? it.lhs.fn : '';
      if (name === 'msg_name' || name === 'msg_namelen') continue; // ignored for a connected TCP socket
      if (name === 'msg_iov') iovLen = this.iovLen(it.rhs, line);
      else if (name === 'msg_flags') msgFlags = it.rhs;
      else if (name === 'msg_control') {
        if (it.rhs.kind === 'ellipsis') continue;
        if (it.rhs.kind !== 'list') throw new DrillUnsupported(line, 'msg_control');
        control = it.rhs.items;
      } else throw new DrillUnsupported(line, `msghdr field ${name || '?'}`);
    }
    if (iovLen === null) throw new DrillUnsupported(line, 'msghdr without msg_iov');
    return { iovLen, msgFlags, control };
  }

  /** After a recvmsg: msg_flags (always 0 for TCP here) and the TCP_CM_INQ hint, if the script expects them. */
  private checkRecvmsg(s: Sock, c: TcpConnection, msg: { msgFlags: Expr | null; control: Expr[] }, line: number): void {
    if (msg.msgFlags && msg.msgFlags.kind !== 'ellipsis') {
      const want = this.evalInt(msg.msgFlags, line);
      if (want !== 0) throw new DrillFailure(line, `recvmsg() msg_flags: expected ${want} vs actual 0`);
    }
    const inqOn = (s.opts.get('TCP_INQ') ?? 0) !== 0;
    if (msg.control.length > 0 && !inqOn) throw new DrillFailure(line, 'recvmsg() control: the script expects a control message but none is sent (TCP_INQ is off)');
    if (msg.control.length === 0) return;
    // Linux tcp_inq_hint: bytes still to read; 1 when none are left but a FIN came (so the reader reads on to EOF).
    let inq = c.readable();
    if (inq === 0 && c.finReceived) inq = 1;
    const data = this.cmsgField(msg.control[0], 'cmsg_data', line);
    if (data !== null && data !== inq) throw new DrillFailure(line, `recvmsg() TCP_CM_INQ: expected ${data} vs actual ${inq}`);
  }

  private cmsgField(e: Expr, field: string, line: number): number | null {
    if (e.kind !== 'struct') return null;
    for (const it of e.items) {
      if (it.kind === 'binary' && it.op === '=' && it.lhs.kind === 'word' && it.lhs.name === field) {
        return it.rhs.kind === 'ellipsis' ? null : this.evalInt(it.rhs, line);
      }
    }
    return null;
  }

  private iovLen(e: Expr | undefined, line: number): number {
    if (!e || e.kind !== 'list') throw new DrillUnsupported(line, 'iovec argument');
    let n = 0;
    for (const it of e.items) {
      if (it.kind !== 'struct' || it.items.length !== 2) throw new DrillUnsupported(line, 'iovec argument');
      n += this.evalInt(it.items[1], line);
    }
    return n;
  }

  private setsockopt(s: Sock, ev: SyscallEvent): SysResult {
    const name = (ev.args[2] as { name: string }).name;
    const valExpr = ev.args[3];
    if (name === 'SO_LINGER') {
      if (!valExpr || valExpr.kind !== 'struct') throw new DrillUnsupported(ev.line, 'SO_LINGER value');
      const get = (k: string): number => {
        for (const it of valExpr.items) if (it.kind === 'binary' && it.op === '=' && it.lhs.kind === 'word' && it.lhs.name === k) return this.evalInt(it.rhs, ev.line);
        return 0;
      };
      s.linger = { onoff: get('onoff'), linger: get('linger') };
      if (s.linger.onoff && s.linger.linger > 0) throw new DrillUnsupported(ev.line, 'SO_LINGER with a non-zero timeout');
      return { ret: 0 };
    }
    if (name === 'TCP_FASTOPEN_KEY') {
      // Linux: the 16 key bytes as they are (the sysctl's words are the same bytes little-endian); else EINVAL.
      const len = this.evalInt(ev.args[4] ?? { kind: 'ellipsis' }, ev.line);
      if (!valExpr || valExpr.kind !== 'string') throw new DrillUnsupported(ev.line, 'TCP_FASTOPEN_KEY value');
      const bytes = cStringBytes(valExpr.value);
      if (len !== 16 || bytes.length < 16) return { ret: -1, errno: 'EINVAL' };
      s.cfg.fastOpenKey = bytes.slice(0, 16);
      if (s.listener) Object.assign(s.listener.cfg, s.cfg);
      return { ret: 0 };
    }
    const v = this.evalInt(valExpr ?? { kind: 'ellipsis' }, ev.line);
    s.opts.set(name, v);
    switch (name) {
      case 'SO_RCVBUF': s.cfg.rcvBuf = v; if (s.conn) s.conn.cfg.rcvBuf = v; break;
      case 'SO_SNDBUF': {
        // Linux doubles the value for its bookkeeping and, with large
        // segments, lets about that much payload queue (blocking/blocking-write
        // writes "the full amount" of the doubled size); FreeBSD queues the value.
        const bytes = this.profile.os === 'linux' ? this.sockbufSize({ ...s, opts: new Map([[name, v]]) }, 'SO_SNDBUF') : v;
        s.cfg.sndBuf = bytes;
        if (s.conn) s.conn.cfg.sndBuf = bytes;
        break;
      }
      case 'TCP_NODELAY': s.cfg.noDelay = v !== 0; s.conn?.setNoDelay(v !== 0); break;
      case 'TCP_CORK': s.conn?.setCork(v !== 0); break;
      // 0: the host's tcp_notsent_lowat again; UINT_MAX (Linux's default): no mark.
      case 'TCP_NOTSENT_LOWAT': {
        const lowat = v === 0 ? (this.layer.config.notsentLowat) : v >>> 0 >= 0x7fffffff ? 0 : v >>> 0;
        s.cfg.notsentLowat = lowat; if (s.conn) s.conn.cfg.notsentLowat = lowat; break;
      }
      case 'TCP_MAXSEG': s.cfg.mss = v; break;
      case 'SO_KEEPALIVE': s.conn?.setKeepAlive(v !== 0); break;
      case 'TCP_KEEPIDLE': s.cfg.keepaliveIdleMs = v * 1000; break;
      case 'TCP_KEEPINTVL': s.cfg.keepaliveIntervalMs = v * 1000; break;
      case 'TCP_KEEPCNT': s.cfg.keepaliveProbes = v; break;
      // FreeBSD: seconds to establish the connection.
      case 'TCP_KEEPINIT': s.cfg.connectTimeoutMs = v * 1000; if (s.conn) s.conn.cfg.connectTimeoutMs = v * 1000; break;
      // RFC 5482 user timeout, ms (Linux: a negative value is EINVAL).
      case 'TCP_USER_TIMEOUT': if (v < 0 || v > 0x7fffffff) return { ret: -1, errno: 'EINVAL' }; s.cfg.userTimeoutMs = v; if (s.conn) s.conn.cfg.userTimeoutMs = v; break;
      // SYN retransmissions before connect() fails (Linux: 1..255).
      case 'TCP_SYNCNT': if (v < 1 || v > 255) return { ret: -1, errno: 'EINVAL' }; s.cfg.synRetries = v; if (s.conn) s.conn.cfg.synRetries = v; break;
      // On a listener the Fast Open queue length (Linux; FreeBSD: on/off); on a FreeBSD client socket, sendto() uses Fast Open.
      case 'TCP_FASTOPEN': s.cfg.fastOpen = this.profile.os === 'freebsd' ? (v !== 0 ? 1 << 16 : 0) : v; break;
      // Linux: EOPNOTSUPP unless the host's client side is on (tcp_fastopen & 1).
      case 'TCP_FASTOPEN_CONNECT':
        if (this.profile.os === 'linux' && !this.layer.config.fastOpenClient) { s.opts.delete(name); return { ret: -1, errno: 'EOPNOTSUPP' }; }
        break;
      case 'TCP_FASTOPEN_NO_COOKIE': s.cfg.fastOpenClientNoCookie = v !== 0; s.cfg.fastOpenServerNoCookie = v !== 0; break;
      default: break; // SO_REUSEADDR / SO_REUSEPORT: nothing to do in a fresh stack
    }
    // Set on a listening socket after listen(): connections it accepts from now on inherit it, as in Linux.
    if (s.listener) Object.assign(s.listener.cfg, s.cfg);
    return { ret: 0 };
  }

  private getsockopt(s: Sock, ev: SyscallEvent): SysResult {
    const name = (ev.args[2] as { name: string }).name;
    let actual: number;
    switch (name) {
      case 'SO_ERROR': actual = s.error ? ERRNO[s.error] : 0; s.error = null; break;
      case 'SO_RCVBUF': case 'SO_SNDBUF': actual = this.sockbufSize(s, name); break;
      // Not set on the socket: the host's current setting (Linux keepalive_time(tp), FreeBSD TP_KEEPIDLE(tp)), in seconds.
      case 'TCP_KEEPIDLE': actual = s.opts.get(name) ?? Math.floor(this.layer.config.keepaliveIdleMs / 1000); break;
      case 'TCP_KEEPINTVL': actual = s.opts.get(name) ?? Math.floor(this.layer.config.keepaliveIntervalMs / 1000); break;
      case 'TCP_KEEPCNT': actual = s.opts.get(name) ?? this.layer.config.keepaliveProbes; break;
      case 'TCP_KEEPINIT': actual = s.opts.get(name) ?? Math.floor(this.layer.config.connectTimeoutMs / 1000); break;
      case 'TCP_MAXSEG': actual = s.conn ? s.conn.info().mss : (s.cfg.mss ?? this.profile.tcp.mss ?? TCP_DEFAULT_MSS); break;
      case 'TCP_NODELAY': actual = s.opts.get(name) ? 1 : 0; break;
      default: actual = s.opts.get(name) ?? 0;
    }
    const want = ev.args[3];
    if (want && want.kind !== 'ellipsis') {
      const w = this.evalInt(want, ev.line);
      if (w !== actual) throw new DrillFailure(ev.line, `getsockopt(${name}) value: expected ${w} vs actual ${actual}`);
    }
    return { ret: 0 };
  }
}

/**
 * The names `#ifdef` tests in a profile's OS: NPLab's packetdrill (which
 * FreeBSD's suite runs on) defines the name of the OS it was built for.
 */
const OS_DEFINES: Record<string, ReadonlySet<string>> = {
  linux: new Set(['Linux', 'linux', '__linux__']),
  freebsd: new Set(['FreeBSD', '__FreeBSD__']),
};

/**
 * `#ifdef NAME` / `#ifndef NAME` / `#else` / `#endif` lines: the lines not
 * taken become empty (line numbers stay), the directives too.
 * @throws ScriptSyntaxError on an unbalanced `#else` / `#endif`
 */
export function preprocess(text: string, defined: ReadonlySet<string>): string {
  if (!/^#\s*(ifn?def|else|endif)\b/m.test(text)) return text;
  const lines = text.split('\n');
  const stack: Array<{ taking: boolean; parent: boolean }> = [];
  let taking = true;
  for (let i = 0; i < lines.length; i++) {
    const m = /^#\s*(ifdef|ifndef|else|endif)\b\s*(\S*)/.exec(lines[i]);
    if (m) {
      if (m[1] === 'ifdef' || m[1] === 'ifndef') {
        stack.push({ taking, parent: taking });
        taking = taking && (defined.has(m[2]) === (m[1] === 'ifdef'));
      } else if (m[1] === 'else') {
        const top = stack[stack.length - 1];
        if (!top) throw new ScriptSyntaxError(i + 1, '#else without #ifdef');
        taking = top.parent && !taking;
      } else {
        const top = stack.pop();
        if (!top) throw new ScriptSyntaxError(i + 1, '#endif without #ifdef');
        taking = top.taking;
      }
      lines[i] = '';
    } else if (!taking) {
      lines[i] = '';
    }
  }
  if (stack.length > 0) throw new ScriptSyntaxError(lines.length, '#ifdef without #endif');
  return lines.join('\n');
}

/** FreeBSD's sb_max (kern.ipc.maxsockbuf, 2 MB by default). */
const FREEBSD_SB_MAX = 2097152;

/** FreeBSD's names of the states (sockstat -s, tcpdrop -s). */
const FREEBSD_STATE: Record<TcpState, string> = {
  [TcpState.Closed]: 'CLOSED', [TcpState.Listen]: 'LISTEN', [TcpState.SynSent]: 'SYN_SENT', [TcpState.SynReceived]: 'SYN_RCVD',
  [TcpState.Established]: 'ESTABLISHED', [TcpState.FinWait1]: 'FIN_WAIT_1', [TcpState.FinWait2]: 'FIN_WAIT_2',
  [TcpState.CloseWait]: 'CLOSE_WAIT', [TcpState.Closing]: 'CLOSING', [TcpState.LastAck]: 'LAST_ACK', [TcpState.TimeWait]: 'TIME_WAIT',
};

/** An argument written NULL (a null buffer pointer). */
function isNull(e: Expr | undefined): boolean {
  return e !== undefined && e.kind === 'word' && e.name === 'NULL';
}

/** POLL* / EPOLL* names of a mask, for failure messages. */
function pollNames(v: number, prefix = ''): string {
  const names: string[] = [];
  v >>>= 0;
  for (const k of ['POLLIN', 'POLLPRI', 'POLLOUT', 'POLLERR', 'POLLHUP', 'POLLNVAL', 'POLLRDNORM', 'POLLRDBAND', 'POLLWRNORM', 'POLLWRBAND', 'POLLMSG', 'POLLRDHUP'] as const) {
    const bit = POLL[k];
    if (v & bit) { names.push(prefix + k); v = (v & ~bit) >>> 0; }
  }
  if (v !== 0) names.push(`0x${v.toString(16)}`);
  return names.length ? names.join('|') : '0';
}

/** Names of MSG_* bits, for skip reasons. */
function flagNames(v: number): string {
  const names: string[] = [];
  for (const [k, bit] of Object.entries(CONSTANTS)) if (k.startsWith('MSG_') && (v & bit) === bit) { names.push(k); v &= ~bit; }
  if (v !== 0) names.push(`0x${v.toString(16)}`);
  return names.join('|');
}

/** The bytes of a string literal (the lexer already turned C escapes into char codes 0-255). */
function cStringBytes(body: string): Uint8Array {
  const out = new Uint8Array(body.length);
  for (let i = 0; i < body.length; i++) out[i] = body.charCodeAt(i) & 0xff;
  return out;
}

function fmtS(ms: number): string { return (ms / 1000).toFixed(6).replace(/0{1,3}$/, ''); }

function fmtOpt(o: WireOption): string {
  switch (o.kind) {
    case 'mss': return `mss ${o.value}`;
    case 'wscale': return `wscale ${o.value}`;
    case 'timestamp': return `TS val ${o.val} ecr ${o.ecr}`;
    case 'sack': return `sack ${o.blocks.map(([a, b]) => `${a}:${b}`).join(' ')}`;
    case 'unknown': return `option ${o.code} (len ${o.length})`;
    case 'fastopen': return `${o.exp ? 'FOEXP' : 'FO'}${o.cookie ? ' ' + o.cookie : ''}`;
    default: return o.kind;
  }
}

export { DrillFailure };

/** The errno code of what listen/connect threw (a TcpError or a coded RangeError), or undefined. */
function errnoOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
