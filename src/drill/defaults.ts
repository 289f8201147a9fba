/**
 * What a script assumes of the stack under test, made explicit: the
 * equivalent of Linux selftests' `defaults.sh` (sysctls) plus the
 * packetdrill command-line knobs (tolerance, addresses, ports).
 *
 * Two built-in profiles: `linux` (IW10, 40 ms delayed ACK, 200 ms minimum
 * RTO, 1 s initial RTO, wscale 8, Linux SYN option order compared exactly)
 * and `freebsd` (IW10, 100 ms delayed ACK, 30 ms minimum RTO, wscale 6,
 * options compared as a set because FreeBSD orders them differently from
 * what tzstack emits).
 *
 * A defaults file overrides or adds profiles. Format (`defaults.conf`):
 * ```
 * # comment
 * [linux]
 * initial_cwnd = 10
 * delayed_ack_ms = 40
 * ```
 * Keys: see {@link KEYS}.
 */
import { readFileSync } from 'node:fs';
import type { TcpConfig } from '../tcp/config.js';
import { parseFastOpenKey } from '../tcp/fastopen.js';
import { DrillOs, shellScript, type ShellAction } from './shell.js';

/** packetdrill's --ip_version values. */
export type DrillIpVersion = 'ipv4' | 'ipv4-mapped-ipv6' | 'ipv6';

/** Everything the interpreter needs to know besides the script. */
export interface DrillProfile {
  name: string;
  /** Whose host settings (sysctl names and defaults), socket-option values and `#ifdef` names the scripts assume. */
  os: DrillOs;
  /** Config handed to the TcpLayer (unset fields: the layer's defaults). */
  tcp: Partial<TcpConfig>;
  /** Link MTU; the MSS we announce is MTU − 40 unless `tcp.mss` is set. */
  mtu: number;
  /** Whether the layer may emit TSO super-segments (off: every segment is ≤ MSS, as packetdrill expects by default). */
  tso: boolean;
  /** packetdrill's `--tolerance_usecs` (default 4000). */
  toleranceUsecs: number;
  /** packetdrill's `--tolerance_percent` of the gap since the previous event (default 12.5). */
  tolerancePercent: number;
  /** `exact`: options compared kind by kind in order, NOPs included (packetdrill); `set`: order and padding ignored. */
  optionOrder: 'exact' | 'set';
  /** Compare PSH on outbound packets (packetdrill does). */
  checkPsh: boolean;
  /** Compare CWR on outbound packets. */
  checkCwr: boolean;
  /** Compare the TS ecr of outbound packets (packetdrill does not; our corpus does). */
  checkTsEcr: boolean;
  /** Fail on outbound packets left unmatched after the last event (packetdrill does not check). */
  checkTrailing: boolean;
  localIp: string;
  remoteIp: string;
  /**
   * packetdrill's --ip_version: `ipv4` (AF_INET sockets, IPv4 packets),
   * `ipv4-mapped-ipv6` (AF_INET6 sockets at ::ffff:a.b.c.d, IPv4 packets)
   * or `ipv6` (both IPv6).
   */
  ipVersion: DrillIpVersion;
  /** Our IPv6 address in `ipv6` runs (packetdrill --local_ip given an IPv6 address). */
  localIp6: string;
  /** The scripted peer's IPv6 address in `ipv6` runs. */
  remoteIp6: string;
  /** The default router towards the peer in `ipv6` runs (packetdrill --gateway_ip; the peer is off-link). */
  gatewayIp6: string;
  /** Length of our IPv6 address's on-link prefix (packetdrill's DEFAULT_V6_LIVE_PREFIX_LEN, 48). */
  prefixLen6: number;
  /** Port a listening socket is bound to by `bind(..., ...)` (packetdrill --bind_port). */
  bindPort: number;
  /** Remote port `connect(..., ...)` connects to (packetdrill --connect_port). */
  connectPort: number;
  /** First remote port used for an injected SYN. */
  remotePortBase: number;
  /** Names scripts use that the OS's packetdrill runner defines (`-D`), e.g. Linux's run_all.py TFO_COOKIE. */
  defines?: Record<string, string>;
  /** {@link defines} that differ in `ipv6` runs (run_all.py's -D for its IPv6 run: the cookie of that address pair). */
  defines6?: Record<string, string>;
}

const COMMON: Omit<DrillProfile, 'name' | 'tcp' | 'optionOrder' | 'os'> = {
  mtu: 1500,
  tso: false,
  toleranceUsecs: 4000,
  tolerancePercent: 12.5,
  checkPsh: true,
  checkCwr: false,
  checkTsEcr: false,
  checkTrailing: false,
  localIp: '192.168.0.1',
  remoteIp: '192.0.2.1',
  ipVersion: 'ipv4',
  // packetdrill's own IPv6 defaults (config.c: a ULA /48 of ours, the peer in 2001:db8::/32, RFC 3849).
  localIp6: 'fd3d:fa7b:d17d::1',
  remoteIp6: '2001:db8::1',
  gatewayIp6: 'fd3d:fa7b:d17d:8888::1',
  prefixLen6: 48,
  bindPort: 8080,
  connectPort: 8080,
  remotePortBase: 48000,
};

/** The built-in profiles. */
export const BUILTIN_PROFILES: Readonly<Record<string, DrillProfile>> = {
  linux: {
    ...COMMON,
    name: 'linux',
    os: 'linux',
    optionOrder: 'exact',
    tcp: {
      initialCwndSegments: 10,
      initialRtoMs: 1000,
      minRtoMs: 200,
      maxRtoMs: 120000,
      delayedAckMs: 40,
      quickAck: 16,
      // defaults.sh: tcp_syn_retries = tcp_synack_retries = 5 (tzstack has one knob for both).
      synRetries: 5,
      wscale: 8,
      sack: true,
      timestamps: true,
      timeWaitMs: 60000,
      isnSecret: new Uint8Array(16).fill(7),
      // tcp_ack: an ACK of unsent data is discarded without an answer.
      unsentAckSilentDrop: true,
      // tcp_cleanup_rbuf: a window update after a read only when the window doubles.
      windowUpdateDoubling: true,
      // __tcp_transmit_skb: every GSO packet (a burst of two or more segments) carries PSH.
      pshOnBurst: true,
      // tcp_reset: a reset child stays in the accept queue; what was received is read before ECONNRESET.
      readAfterReset: true,
      // tcp_slow_start / tcp_is_cwnd_limited.
      linuxSlowStart: true,
      // tcp_nagle_check with tcp_minshall_check.
      nagleMinshall: true,
      // tcp_rtt_estimator / __tcp_set_rto: RTO = SRTT + rttvar (at least SRTT + 200 ms).
      linuxRto: true,
      // tcp_schedule_loss_probe: PTO = 2·SRTT + 2 ms, cut to the RTO, restarted by new data.
      linuxTlp: true,
      // tcp_match_skb_to_sack / tcp_retransmit_skb: SACK and retransmission by whole segments.
      resendWholeSegments: true,
      // tcp_rack_reo_timeout: tcp_cwnd_reduction(sk, 1, ...) when the timer starts recovery.
      prrOnRackTimer: true,
      // tcp_send_syn_data / tcp_rcv_fastopen_synack: unacknowledged SYN data resent as its own skb.
      fastOpenSynDataSegment: true,
      // defaults.sh: tcp_fastopen=0x70403 (client, server, every listener), tcp_fastopen_key.
      fastOpenClient: true,
      fastOpen: -1,
      fastOpenKey: parseFastOpenKey('a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4')!,
    },
    // run_all.py's -D for IPv4: the cookie of 192.0.2.1 → 192.168.0.1 under defaults.sh's key, and the ICMP code of icmp-*.pkt.
    defines: { TFO_COOKIE: '3021b9d889017eeb', CODE: 'host_unreachable' },
    defines6: { TFO_COOKIE: 'c1d1e9742a47a9bc' },
    // run_all.py's addresses for its IPv6 runs (CmdTestIPv6).
    localIp6: 'fd3d:a0b:17d6::1',
    remoteIp6: 'fd3d:fa7b:d17d::1',
    gatewayIp6: 'fd3d:a0b:17d6:8888::1',
  },
  freebsd: {
    ...COMMON,
    name: 'freebsd',
    os: 'freebsd',
    optionOrder: 'set',
    tcp: {
      initialCwndSegments: 10,
      initialRtoMs: 1000,
      minRtoMs: 30,
      maxRtoMs: 64000,
      delayedAckMs: 100,
      wscale: 6,
      // net.inet.tcp.recvspace / sendspace / keepcnt defaults.
      rcvBuf: 65536,
      sndBuf: 32768,
      keepaliveProbes: 8,
      // net.inet.tcp.drop_synfin=0: a SYN+FIN is taken as a SYN.
      dropSynFin: false,
      // tcp_input's rcv_wnd: the buffer space when wider than the window advertised.
      rcvWndFromBuffer: true,
      // net.inet.tcp.keepinit: 75 s to establish a connection, SYNs retransmitted until then
      // (at most TCP_MAXRXTSHIFT = 12 times).
      connectTimeoutMs: 75000,
      synRetries: 12,
      // net.inet.tcp.ecn.enable=2: accept ECN, do not ask for it.
      ecnPassive: true,
      // tcp_output: an ACK owed while our FIN is unacknowledged repeats it.
      ackRepeatsFin: true,
      // tcp_twcheck: TIME-WAIT without a window test.
      bsdTimeWait: true,
      // tcp_ctlinput / icmp_errmap: quotes below SND.MAX, prohibited codes refuse.
      bsdIcmp: true,
      // DELAY_ACK: a second segment while an ACK is delayed is ACKed at once, whatever its size.
      ackEverySecondSegment: true,
      // net.inet.tcp.fastopen.client_enable=1, server_enable=0, path_disable_time=900.
      fastOpenClient: true,
      fastOpenServer: false,
      fastOpenPathDisableMs: 900000,
      sack: true,
      timestamps: true,
      timeWaitMs: 60000,
      isnSecret: new Uint8Array(16).fill(7),
    },
  },
};

type Setter = (p: DrillProfile, v: string) => void;
const num = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`not a number: ${v}`);
  return n;
};
const bool = (v: string): boolean => {
  if (/^(1|on|yes|true)$/i.test(v)) return true;
  if (/^(0|off|no|false)$/i.test(v)) return false;
  throw new Error(`not a boolean: ${v}`);
};

/** Keys of the defaults file and what they set. */
export const KEYS: Readonly<Record<string, Setter>> = {
  initial_cwnd: (p, v) => { p.tcp.initialCwndSegments = num(v); },
  initial_rto_ms: (p, v) => { p.tcp.initialRtoMs = num(v); },
  min_rto_ms: (p, v) => { p.tcp.minRtoMs = num(v); },
  max_rto_ms: (p, v) => { p.tcp.maxRtoMs = num(v); },
  delayed_ack_ms: (p, v) => { p.tcp.delayedAckMs = num(v); },
  quick_ack: (p, v) => { p.tcp.quickAck = num(v); },
  time_wait_ms: (p, v) => { p.tcp.timeWaitMs = num(v); },
  syn_retries: (p, v) => { p.tcp.synRetries = num(v); },
  max_retries: (p, v) => { p.tcp.maxRetries = num(v); },
  wscale: (p, v) => { p.tcp.wscale = num(v); },
  mss: (p, v) => { p.tcp.mss = num(v); },
  mtu: (p, v) => { p.mtu = num(v); },
  tso: (p, v) => { p.tso = bool(v); },
  sack: (p, v) => { p.tcp.sack = bool(v); },
  timestamps: (p, v) => { p.tcp.timestamps = bool(v); },
  rcvbuf: (p, v) => { p.tcp.rcvBuf = num(v); },
  sndbuf: (p, v) => { p.tcp.sndBuf = num(v); },
  cc: (p, v) => { p.tcp.cc = v; },
  nodelay: (p, v) => { p.tcp.noDelay = bool(v); },
  // The OS-behaviour switches the built-in profiles set (TcpConfig of the same names).
  ack_repeats_fin: (p, v) => { p.tcp.ackRepeatsFin = bool(v); },
  bsd_time_wait: (p, v) => { p.tcp.bsdTimeWait = bool(v); },
  ack_every_second_segment: (p, v) => { p.tcp.ackEverySecondSegment = bool(v); },
  unsent_ack_silent_drop: (p, v) => { p.tcp.unsentAckSilentDrop = bool(v); },
  window_update_doubling: (p, v) => { p.tcp.windowUpdateDoubling = bool(v); },
  linux_rto: (p, v) => { p.tcp.linuxRto = bool(v); },
  linux_tlp: (p, v) => { p.tcp.linuxTlp = bool(v); },
  resend_whole_segments: (p, v) => { p.tcp.resendWholeSegments = bool(v); },
  prr_on_rack_timer: (p, v) => { p.tcp.prrOnRackTimer = bool(v); },
  fast_open_syn_data_segment: (p, v) => { p.tcp.fastOpenSynDataSegment = bool(v); },
  fast_open: (p, v) => { p.tcp.fastOpen = num(v); },
  fast_open_client: (p, v) => { p.tcp.fastOpenClient = bool(v); },
  os: (p, v) => {
    if (v !== 'linux' && v !== 'freebsd') throw new Error(`os must be linux or freebsd, not ${v}`);
    p.os = v;
  },
  tolerance_usecs: (p, v) => { p.toleranceUsecs = num(v); },
  tolerance_percent: (p, v) => { p.tolerancePercent = num(v); },
  option_order: (p, v) => {
    if (v !== 'exact' && v !== 'set') throw new Error(`option_order must be exact or set, not ${v}`);
    p.optionOrder = v;
  },
  check_psh: (p, v) => { p.checkPsh = bool(v); },
  check_cwr: (p, v) => { p.checkCwr = bool(v); },
  check_ts_ecr: (p, v) => { p.checkTsEcr = bool(v); },
  check_trailing: (p, v) => { p.checkTrailing = bool(v); },
  // An IPv6 address sets the address of `ipv6` runs (packetdrill takes either family's here).
  local_ip: (p, v) => { if (v.includes(':')) p.localIp6 = v; else p.localIp = v; },
  remote_ip: (p, v) => { const a = v.replace(/\/\d+$/, ''); if (a.includes(':')) p.remoteIp6 = a; else p.remoteIp = a; },
  gateway_ip: (p, v) => { if (v.includes(':')) p.gatewayIp6 = v; },
  ip_version: (p, v) => {
    if (v !== 'ipv4' && v !== 'ipv4-mapped-ipv6' && v !== 'ipv6') throw new Error(`ip_version must be ipv4, ipv4-mapped-ipv6 or ipv6, not ${v}`);
    p.ipVersion = v;
  },
  bind_port: (p, v) => { p.bindPort = num(v); },
  connect_port: (p, v) => { p.connectPort = num(v); },
  remote_port_base: (p, v) => { p.remotePortBase = num(v); },
};

/** A deep-enough copy so per-script overrides never leak into the shared profile. */
export function cloneProfile(p: DrillProfile): DrillProfile {
  return { ...p, tcp: { ...p.tcp } };
}

/** Apply one `key = value` setting; throws on an unknown key or bad value. */
export function applySetting(p: DrillProfile, key: string, value: string): void {
  const set = KEYS[key.toLowerCase().replace(/-/g, '_')];
  if (!set) throw new Error(`unknown setting '${key}' (known: ${Object.keys(KEYS).join(', ')})`);
  set(p, value.trim());
}

/**
 * Parse a defaults file into profiles layered over the built-ins: a section
 * named like a built-in overrides it; a new name starts from `linux` unless
 * it says `base = freebsd`.
 */
export function parseDefaults(text: string, origin = 'defaults'): Record<string, DrillProfile> {
  const out: Record<string, DrillProfile> = {};
  for (const [k, v] of Object.entries(BUILTIN_PROFILES)) out[k] = cloneProfile(v);
  let cur: DrillProfile | null = null;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].replace(/#.*$/, '').trim();
    if (!raw) continue;
    const sec = /^\[([A-Za-z0-9_-]+)\]$/.exec(raw);
    if (sec) {
      const name = sec[1];
      cur = out[name] ?? { ...cloneProfile(out.linux), name };
      out[name] = cur;
      continue;
    }
    const kv = /^([A-Za-z0-9_-]+)\s*=\s*(.*)$/.exec(raw);
    if (!kv) throw new Error(`${origin}:${i + 1}: expected 'key = value' or '[profile]'`);
    if (!cur) throw new Error(`${origin}:${i + 1}: setting outside a [profile] section`);
    try {
      if (kv[1] === 'base') {
        const base = out[kv[2].trim()];
        if (!base) throw new Error(`unknown base profile '${kv[2].trim()}'`);
        const name = cur.name;
        Object.assign(cur, cloneProfile(base), { name });
      } else {
        applySetting(cur, kv[1], kv[2]);
      }
    } catch (e) {
      throw new Error(`${origin}:${i + 1}: ${(e as Error).message}`);
    }
  }
  return out;
}

/** Load a defaults file (see {@link parseDefaults}). */
export function loadDefaults(path: string): Record<string, DrillProfile> {
  return parseDefaults(readFileSync(path, 'utf8'), path);
}

/** The built-in profiles, copied so callers may modify them. */
export function builtinProfiles(): Record<string, DrillProfile> {
  const out: Record<string, DrillProfile> = {};
  for (const [k, v] of Object.entries(BUILTIN_PROFILES)) out[k] = cloneProfile(v);
  return out;
}

/**
 * Apply the settings a script's init command makes (`sysctl -q
 * net.ipv4.tcp_sack=0`, `set_sysctls.py /proc/sys/...=...`, the defaults
 * script itself) through {@link shellScript}. Returns the parts it could not
 * map, so the caller reports the script as unsupported instead of running
 * it with the wrong assumptions.
 */
export function applyInitCommand(p: DrillProfile, command: string, other?: (a: ShellAction) => boolean): string[] {
  const base = { ...p.tcp };
  const r = shellScript(p.os, command);
  if (typeof r === 'string') return [r.replace(/^shell command `(.*)`$/, '$1')];
  const unknown: string[] = [];
  for (const a of r) {
    if (a.kind === 'config') a.apply(p.tcp, base);
    else if (a.kind === 'tso') p.tso = a.on;
    // (A fresh layer has no Fast Open cookies to flush.)
    else if (a.kind !== 'noop' && a.kind !== 'flushFastOpen' && !(other?.(a) ?? false)) {
      unknown.push(a.kind === 'count' || a.kind === 'nstat' ? a.text : a.kind === 'drop' ? `tcpdrop -s ${a.state}` : a.what);
    }
  }
  return unknown;
}
