/**
 * The shell commands packetdrill scripts run (`` `sysctl -w ...` ``,
 * `set_sysctls.py`, `sockstat | grep -c STATE | grep N`, `tcpdrop`), read
 * as what they say about the stack, never executed.
 *
 * A host setting (sysctl) either names a TCP setting tzstack has — then it
 * is mapped onto the {@link TcpConfig} field, for connections made after it
 * (as a sysctl applies to new sockets) — or it is accepted only when its
 * value is what the profile's OS has by default (the scripts "restore
 * defaults" before they start), so nothing the script relies on differs.
 * Anything else is unsupported: the script is skipped, never run with the
 * wrong assumption.
 */
import type { TcpConfig } from '../tcp/config.js';
import { WSCALE_OFF } from '../tcp/config.js';
import { parseFastOpenKey } from '../tcp/fastopen.js';

/** What a profile's OS is, for the names and defaults of its host settings. */
export type DrillOs = 'linux' | 'freebsd';

/** A command understood. */
export type ShellAction =
  /** Change the stack's config (for sockets made from now on). */
  | { kind: 'config'; what: string; apply: (cfg: Partial<TcpConfig>, base: Partial<TcpConfig>) => void; flushFastOpen?: boolean }
  /** Forget the TCP Fast Open cookie cache (Linux `ip tcp_metrics flush`, FreeBSD `fastopen.client_enable=0`). */
  | { kind: 'flushFastOpen'; what: string }
  /** Nothing to do: a default restored, a cache tzstack does not have flushed. */
  | { kind: 'noop'; what: string }
  /** `sockstat ... | grep -c STATE | grep N`: so many sockets in STATE (on PORT), else the script fails. */
  | { kind: 'count'; state: string; port: number | null; pattern: string; text: string }
  /** Linux `nstat` (no -a): start counting anew; `nstat | grep NAME`: NAME went up since. */
  | { kind: 'nstat'; counter: string | null; text: string }
  /** `tcpdrop -s STATE`: drop every connection in STATE (no RST from TIME-WAIT, as FreeBSD's tcp_twclose). */
  | { kind: 'drop'; state: string }
  /** `ethtool -K DEV tso off gso off`: the test device's segmentation offload (the profile's `tso`). */
  | { kind: 'tso'; on: boolean; what: string }
  /** A scratch file a script prepares for open()/sendfile(): `dd if=/dev/zero of=PATH` (size), `rm -f PATH` (null). */
  | { kind: 'file'; path: string; size: number | null; what: string };

type Mapper = (value: string) => ((cfg: Partial<TcpConfig>, base: Partial<TcpConfig>) => void) | null;

interface Setting {
  /** The OS's default: accepted as a no-op when nothing maps it. */
  dflt?: string;
  /** Map a value onto the config; null when the value has no counterpart. */
  map?: Mapper;
  /** Setting it also empties the Fast Open cookie cache. */
  flushFastOpen?: boolean;
}

const int = (v: string): number | null => (/^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : null);
const field = <K extends keyof TcpConfig>(k: K, conv: (v: string) => TcpConfig[K] | null): Mapper => (v) => {
  const x = conv(v);
  return x === null ? null : (cfg) => { cfg[k] = x; };
};
const flag = (v: string): boolean | null => (v === '0' ? false : v === '1' ? true : null);
const ms = (v: string): number | null => int(v);
/** ECN 0 off, 1 ask and accept, 2 accept only (the same numbers on both OSes). */
const ecnMode: Mapper = (v) => (v === '0' ? (cfg) => { cfg.ecn = false; cfg.ecnPassive = false; }
  : v === '1' ? (cfg) => { cfg.ecn = true; cfg.ecnPassive = false; }
  : v === '2' ? (cfg) => { cfg.ecn = false; cfg.ecnPassive = true; } : null);

/**
 * FreeBSD's `net.inet.tcp.*` / `kern.ipc.*` settings (defaults of FreeBSD 12-14,
 * sys/netinet/tcp_*.c), as the tcp-testsuite scripts set them.
 */
const FREEBSD: Record<string, Setting> = {
  'net.inet.tcp.rfc1323': {
    dflt: '1',
    // RFC 1323 (7323) on/off: timestamps and window scaling together.
    map: (v) => (v === '0' ? (cfg) => { cfg.timestamps = false; cfg.wscale = WSCALE_OFF; }
      : v === '1' ? (cfg, base) => { cfg.timestamps = true; cfg.wscale = base.wscale; } : null),
  },
  'net.inet.tcp.sack.enable': { dflt: '1', map: field('sack', flag) },
  // 2 (default): accept ECN when the peer asks, do not ask (TcpConfig ecnPassive).
  'net.inet.tcp.ecn.enable': { dflt: '2', map: (v) => ecnMode(v) },
  'net.inet.tcp.ecn.maxretries': { dflt: '1' },
  'net.inet.tcp.recvspace': { dflt: '65536', map: field('rcvBuf', int) },
  'net.inet.tcp.sendspace': { dflt: '32768', map: field('sndBuf', int) },
  // FreeBSD picks its window shift from sb_max: the smallest s with 65535 << s >= kern.ipc.maxsockbuf
  // (tcp_connect / syncache), so 2 MB gives the profile's 6.
  'kern.ipc.maxsockbuf': {
    dflt: '2097152',
    map: (v) => {
      const n = int(v);
      if (n === null || n <= 0) return null;
      let shift = 0;
      while (shift < 14 && 65535 * 2 ** shift < n) shift++;
      return (cfg, base) => { if ((cfg.wscale ?? base.wscale ?? 0) > WSCALE_OFF) cfg.wscale = shift; };
    },
  },
  'net.inet.tcp.blackhole': { dflt: '0' },
  // RFC 793 RST / SYN acceptance instead of RFC 5961's challenge ACKs.
  'net.inet.tcp.insecure_rst': { dflt: '0', map: field('rstAcceptInWindow', flag) },
  'net.inet.tcp.insecure_syn': { dflt: '0', map: field('synInWindowReset', flag) },
  // Read by the layer itself (before any lookup): applies to segments from then on.
  'net.inet.tcp.drop_synfin': { dflt: '0', map: field('dropSynFin', flag) },
  'net.inet.tcp.icmp_may_rst': { dflt: '1', map: field('icmpMayReset', flag) },
  'net.inet.tcp.rexmit_drop_options': { dflt: '0' },
  'net.inet.tcp.rexmit_initial': { dflt: '1000', map: field('initialRtoMs', ms) },
  'net.inet.tcp.rexmit_min': { dflt: '30', map: field('minRtoMs', ms) },
  'net.inet.tcp.rexmit_slop': { dflt: '200' },
  'net.inet.tcp.syncookies': { dflt: '1' },
  'net.inet.tcp.syncookies_only': { dflt: '0' },
  'net.inet.tcp.keepinit': { dflt: '75000', map: field('connectTimeoutMs', ms) },
  'net.inet.tcp.keepidle': { dflt: '7200000', map: field('keepaliveIdleMs', ms) },
  'net.inet.tcp.keepintvl': { dflt: '75000', map: field('keepaliveIntervalMs', ms) },
  'net.inet.tcp.keepcnt': { dflt: '8', map: field('keepaliveProbes', int) },
  'net.inet.tcp.pmtud_blackhole_mss': { dflt: '1200' },
  // TCP over UDP (RFC 8085 tunnelling) is not in tzstack, by design: only "off".
  'net.inet.tcp.udp_tunneling_port': { dflt: '0' },
  'net.inet.tcp.udp_tunneling_overhead': { dflt: '8' },
  // tzstack has no host cache: a purge has nothing to do.
  'net.inet.tcp.hostcache.purgenow': { dflt: '1' },
  'net.inet.tcp.delacktime': { dflt: '100', map: field('delayedAckMs', ms) },
  // TCP Fast Open (sys/netinet/tcp_fastopen.c): toggling client_enable is how scripts reset the cookie cache.
  'net.inet.tcp.fastopen.client_enable': { dflt: '1', map: field('fastOpenClient', flag), flushFastOpen: true },
  'net.inet.tcp.fastopen.server_enable': { dflt: '0', map: field('fastOpenServer', flag) },
  'net.inet.tcp.fastopen.path_disable_time': { dflt: '900', map: field('fastOpenPathDisableMs', (v) => { const n = int(v); return n === null ? null : n * 1000; }) },
  'net.inet.tcp.fastopen.acceptany': { dflt: '0', map: field('fastOpenServerNoCookie', flag) },
  'net.inet.tcp.fastopen.autokey': { dflt: '120' },
  'net.inet.tcp.fastopen.ccache_bucket_limit': { dflt: '16' },
};

/**
 * Linux's `net.ipv4.tcp_*` settings with the values google/packetdrill's
 * `defaults.sh` gives them (the state every Linux script starts from).
 */
const LINUX: Record<string, Setting> = {
  tcp_sack: { dflt: '1', map: field('sack', flag) },
  tcp_timestamps: { dflt: '1', map: field('timestamps', flag) },
  tcp_window_scaling: { dflt: '1', map: (v) => (v === '0' ? (cfg) => { cfg.wscale = WSCALE_OFF; } : v === '1' ? (cfg, base) => { cfg.wscale = base.wscale; } : null) },
  tcp_syn_retries: { dflt: '5', map: field('synRetries', int) },
  tcp_synack_retries: { dflt: '5' },
  tcp_retries2: { dflt: '15', map: field('maxRetries', int) },
  tcp_ecn: { dflt: '0', map: (v) => ecnMode(v) },
  tcp_ecn_option: { dflt: '2' },
  tcp_frto: { dflt: '2' },
  tcp_dsack: { dflt: '1' },
  tcp_fack: { dflt: '0' },
  tcp_reordering: { dflt: '3' },
  tcp_congestion_control: { dflt: 'cubic', map: (v) => (/^(cubic|reno|newreno|dctcp)$/.test(v) ? (cfg) => { cfg.cc = v === 'reno' ? 'newreno' : v; } : null) },
  tcp_slow_start_after_idle: { dflt: '0', map: field('slowStartAfterIdle', flag) },
  tcp_early_retrans: { dflt: '4' },
  tcp_recovery: { dflt: '1' },
  // TSO burst sizing: drill compares MSS-sized segments merged up to each
  // expected packet's length (as packetdrill sees a TSO device); how Linux
  // defers to build bigger bursts has no counterpart: any value is accepted
  // (README). The fewest segments of a GSO packet decide where the linux
  // profile's PSH goes (pshOnBurst).
  tcp_tso_win_divisor: { map: (v) => (int(v) !== null ? () => undefined : null) },
  tcp_min_tso_segs: { dflt: '2', map: field('minTsoSegs', int) },
  tcp_pacing_ss_ratio: { dflt: '200' },
  tcp_pacing_ca_ratio: { dflt: '120' },
  tcp_notsent_lowat: { dflt: '4294967295', map: (v) => { const n = int(v); return n === null ? null : (cfg) => { cfg.notsentLowat = n >= 0x7fffffff ? 0 : n; }; } },
  // Old kernels' size of the Fast Open cookie cache: setting it (to 0, then back) empties the cache.
  tcp_fastopen_cookies: { map: (v) => (int(v) !== null ? () => undefined : null), flushFastOpen: true },
  tcp_syncookies: { dflt: '1' },
  tcp_rmem: { dflt: '4096 540000 15728640' },
  tcp_wmem: { dflt: '4096 262144 4194304' },
  // TCP Fast Open bits (Documentation/networking/ip-sysctl): 0x1 client, 0x2 server, 0x4 client without
  // cookie, 0x200 server without cookie, 0x400 every listener (queue = backlog). Others: none tzstack has.
  tcp_fastopen: {
    dflt: '0x70403',
    map: (v) => {
      const n = int(v);
      if (n === null || (n & ~0x70607) !== 0) return null;
      return (cfg) => {
        cfg.fastOpenClient = (n & 1) !== 0;
        cfg.fastOpenServer = (n & 2) !== 0;
        cfg.fastOpenClientNoCookie = (n & 4) !== 0;
        cfg.fastOpenServerNoCookie = (n & 0x200) !== 0;
        cfg.fastOpen = (n & 0x400) !== 0 ? -1 : 0;
      };
    },
  },
  tcp_fastopen_key: { map: (v) => { const k = parseFastOpenKey(v); return k === null ? null : (cfg) => { cfg.fastOpenKey = k; }; } },
  tcp_fastopen_blackhole_timeout_sec: { dflt: '0' },
  tcp_no_metrics_save: { dflt: '1' },
  tcp_mtu_probing: { dflt: '0' },
  tcp_autocorking: { dflt: '0' },
};

/** Normalise a value the way the kernel reads it: quotes off, whitespace collapsed, shell arithmetic done. */
function normValue(raw: string): string {
  let v = raw.trim().replace(/^["']|["']$/g, '').trim();
  v = v.replace(/\$\(\(([0-9*+\- ]+)\)\)/g, (_m, e: string) => {
    let acc = 0; let op = '+';
    for (const tok of e.replace(/\s+/g, '').split(/([*+-])/)) {
      if (tok === '*' || tok === '+' || tok === '-') { op = tok; continue; }
      const n = Number(tok);
      acc = op === '*' ? acc * n : op === '-' ? acc - n : acc + n;
    }
    return String(acc);
  });
  return v.split(/\s+/).join(' ');
}

/** One `name=value` setting of `os`; a string says why it is unsupported. */
export function sysctlAction(os: DrillOs, name: string, rawValue: string): ShellAction | string {
  const value = normValue(rawValue);
  let s: Setting | undefined;
  if (os === 'linux') {
    const m = /^(?:\/proc\/sys\/)?net[./]ipv4[./](tcp_[a-z_0-9]+)$/.exec(name);
    s = m ? LINUX[m[1]] : undefined;
  } else {
    s = FREEBSD[name];
  }
  const what = `${name}=${value}`;
  const tfo = /fastopen/.test(name) ? 'TCP Fast Open: ' : '';
  if (!s) return `${tfo}host setting ${what}`;
  const apply = s.map?.(value) ?? null;
  if (apply) return s.flushFastOpen ? { kind: 'config', what, apply, flushFastOpen: true } : { kind: 'config', what, apply };
  if (s.dflt !== undefined && normValue(s.dflt) === value) return { kind: 'noop', what };
  return `${tfo}host setting ${what} (only the default ${s.dflt ?? '-'} is supported)`;
}

const SOCKSTAT = /^sockstat\s+(?:-[46lcPs]+\s+|-P\s+tcp\s+|-p\s+(\d+)\s+)*\|(?:\s*grep\s+packetdril\s*\|)?\s*grep\s+-c\s+([A-Z_0-9]+)\s*\|\s*grep\s+(\d+)$/;

/**
 * Read one command line (no `;`, `&&` or newlines) of `os`: the actions, or
 * why it is unsupported.
 */
export function shellCommand(os: DrillOs, cmd: string): ShellAction[] | string {
  cmd = cmd.replace(/\s+#.*$/, '').replace(/\s*>\s*\/dev\/null(\s+2>&1)?\s*$/, '').trim();
  if (!cmd) return [];
  let m = /^(?:\S*\/)?sysctl\s+((?:-[qw]\s+)*)(.+)$/.exec(cmd);
  if (m) {
    const out: ShellAction[] = [];
    // Values may be quoted with spaces inside (net.ipv4.tcp_rmem="4096 87380 6291456").
    for (const a of m[2].match(/[^\s=]+=(?:"[^"]*"|'[^']*'|\S+)/g) ?? []) {
      const i = a.indexOf('=');
      const r = sysctlAction(os, a.slice(0, i), a.slice(i + 1));
      if (typeof r === 'string') return r;
      out.push(r);
    }
    if (out.length === 0) return `shell command \`${cmd}\``;
    return out;
  }
  m = /^(?:\S*\/)?set_sysctls\.py\s+(.+)$/.exec(cmd);
  if (m && os === 'linux') {
    const out: ShellAction[] = [];
    for (const a of m[1].match(/[^\s=]+=(?:"[^"]*"|'[^']*'|\S+)/g) ?? []) {
      const i = a.indexOf('=');
      const r = sysctlAction(os, a.slice(0, i), a.slice(i + 1));
      if (typeof r === 'string') return r;
      out.push(r);
    }
    return out.length > 0 ? out : `shell command \`${cmd}\``;
  }
  m = /^echo\s+("[^"]*"|'[^']*'|\S+)\s*>\s*(\/proc\/sys\/\S+)$/.exec(cmd);
  if (m && os === 'linux') {
    const r = sysctlAction(os, m[2], m[1]);
    return typeof r === 'string' ? r : [r];
  }
  // The restore script set_sysctls.py leaves behind; every run starts from a fresh stack anyway.
  if (/^\/tmp\/sysctl_restore_\$\{PPID\}\.sh$/.test(cmd)) return [{ kind: 'noop', what: 'sysctl restore' }];
  if (/^(?:\S*\/)?(?:defaults)\.sh$/.test(cmd)) return [{ kind: 'noop', what: 'defaults.sh (the profile is its equivalent)' }];
  // The tun device's offloads: TSO and GSO together are the profile's `tso` (what reaches the wire is
  // compared segment by segment either way; GRO/LRO have no counterpart in the harness).
  m = /^(?:\S*\/)?ethtool\s+-K\s+\S+((?:\s+(?:tso|gso)\s+(?:on|off))+)$/.exec(cmd);
  if (m) {
    const v = [...m[1].matchAll(/(tso|gso)\s+(on|off)/g)].map((x) => x[2] === 'on');
    if (v.some((x) => x !== v[0])) return `shell command \`${cmd}\` (TSO and GSO set apart)`;
    return [{ kind: 'tso', on: v[0], what: cmd }];
  }
  // Scratch files for open()/sendfile(), in the run's own namespace of paths (nothing on the host is touched).
  m = /^(?:\/bin\/)?rm\s+-f\s+(\/tmp\/[\w.-]+)$/.exec(cmd);
  if (m) return [{ kind: 'file', path: m[1], size: null, what: cmd }];
  m = /^(?:\/bin\/)?dd\s+(.+)$/.exec(cmd);
  if (m) {
    const kv = new Map(m[1].split(/\s+/).map((a) => a.split('=') as [string, string]));
    const bs = int(kv.get('bs') ?? '512');
    const count = int(kv.get('count') ?? '');
    const of = kv.get('of') ?? '';
    const known = [...kv.keys()].every((k) => ['bs', 'count', 'if', 'of', 'status'].includes(k));
    if (known && bs !== null && count !== null && kv.get('if') === '/dev/zero' && /^\/tmp\/[\w.-]+$/.test(of)) {
      return [{ kind: 'file', path: of, size: bs * count, what: cmd }];
    }
  }
  // tzstack keeps no TCP metrics but the Fast Open cookies Linux keeps there.
  if (/^ip\s+tcp_metrics\s+flush(\s+all)?$/.test(cmd)) return [{ kind: 'flushFastOpen', what: 'Fast Open cookie cache' }];
  if (os === 'linux') {
    // nstat prints the counters that went up since its last run (and resets them): scripts
    // run it to start counting and grep its output for one counter.
    if (/^nstat(\s+-n)?(\s*>\s*\/dev\/null)?$/.test(cmd)) return [{ kind: 'nstat', counter: null, text: cmd }];
    m = /^nstat\s*\|\s*grep\s+(?:-q\s+)?(\w+)(\s*>\s*\/dev\/null)?$/.exec(cmd);
    if (m && NSTAT_COUNTERS.has(m[1])) return [{ kind: 'nstat', counter: m[1], text: cmd }];
  }
  if (os === 'freebsd') {
    m = SOCKSTAT.exec(cmd);
    // (A capture inside the repeated group is reset by later iterations: read the port on its own.)
    const port = /\s-p\s+(\d+)/.exec(cmd.split('|')[0]);
    if (m) return [{ kind: 'count', state: m[2], port: port ? Number(port[1]) : null, pattern: m[3], text: cmd }];
    m = /^tcpdrop\s+-s\s+([A-Z_0-9]+)$/.exec(cmd);
    if (m) return [{ kind: 'drop', state: m[1] }];
    // IPsec SA database flush: tzstack has no IPsec, so there is nothing to flush.
    if (/^setkey\s+-F$/.test(cmd)) return [{ kind: 'noop', what: 'no IPsec SAs' }];
  }
  return `shell command \`${cmd.length > 70 ? cmd.slice(0, 67) + '...' : cmd}\``;
}

/** The nstat counters (Linux SNMP MIB names) tzstack counts, by TcpCounters field. */
export const NSTAT_COUNTERS: ReadonlyMap<string, 'icmpOutOfWindow'> = new Map([['TcpExtOutOfWindowIcmps', 'icmpOutOfWindow']]);

/** A whole back-quoted command (several lines / `;` / `&&`): every part must be understood. */
export function shellScript(os: DrillOs, text: string): ShellAction[] | string {
  const out: ShellAction[] = [];
  text = text.replace(/\\\n/g, ' '); // shell line continuations
  // Split on ; && and newlines outside quotes.
  const parts: string[] = [];
  let cur = ''; let q = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) { cur += c; if (c === q) q = ''; continue; }
    if (c === '"' || c === "'") { q = c; cur += c; continue; }
    if (c === ';' || c === '\n') { parts.push(cur); cur = ''; continue; }
    if (c === '&' && text[i + 1] === '&') { parts.push(cur); cur = ''; i++; continue; }
    cur += c;
  }
  parts.push(cur);
  for (const p of parts) {
    const r = shellCommand(os, p.trim());
    if (typeof r === 'string') return r;
    out.push(...r);
  }
  return out;
}
