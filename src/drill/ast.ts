/**
 * The syntax tree of a packetdrill script, as {@link parseScript} builds it.
 *
 * Times are kept in milliseconds (the stack's Clock unit); scripts write
 * seconds. Sequence and acknowledgement numbers are the script's relative
 * values; the interpreter maps them to live values.
 */

/** When an event happens, as the script wrote it. */
export type TimeSpec =
  | { kind: 'absolute'; ms: number }
  | { kind: 'relative'; ms: number }
  | { kind: 'any' }
  | { kind: 'absoluteRange'; ms: number; endMs: number }
  | { kind: 'relativeRange'; ms: number; endMs: number };

/** One TCP option as written in `<...>`. */
export type TcpOptionSpec =
  | { kind: 'nop' }
  | { kind: 'eol' }
  | { kind: 'mss'; value: number }
  | { kind: 'wscale'; value: number }
  | { kind: 'sackOK' }
  | { kind: 'sack'; blocks: Array<[number, number]> }
  | { kind: 'timestamp'; val: number; ecr: number }
  /** TCP Fast Open (RFC 7413, kind 34; `exp`: kind 254 magic 0xF989); `cookie` hex digits, '' a request, or a `--define`d name. */
  | { kind: 'fastopen'; exp: boolean; cookie: string };

/** A script expression (system call arguments and return values). */
export type Expr =
  | { kind: 'ellipsis' }
  | { kind: 'int'; value: number }
  | { kind: 'word'; name: string }
  | { kind: 'string'; value: string; trailingEllipsis: boolean }
  | { kind: 'binary'; op: '|' | '='; lhs: Expr; rhs: Expr }
  | { kind: 'list'; items: Expr[] }           // [a, b]
  | { kind: 'struct'; items: Expr[] }         // {a=1, b=2} or {..., 100}
  | { kind: 'call'; fn: string; args: Expr[] }; // htons(8080), inet_addr("..."), msg_iov(1)

/** Fields common to every event. */
export interface EventBase {
  /** 1-based line of the event's time in the script. */
  line: number;
  time: TimeSpec;
}

/** A `<` (injected) or `>` (expected) TCP segment. */
export interface PacketEvent extends EventBase {
  type: 'packet';
  direction: 'in' | 'out';
  /** Flag letters as written, e.g. `S.`, `P.`, `F.`, `R`, `` for `-`. */
  flags: string;
  seq: number;
  end: number;
  len: number;
  /** How `seq` is read: relative to the ISN (packetdrill), absolute (`seq:end(len)!`), or not checked (`...(len)`). */
  seqMode: 'relative' | 'absolute' | 'ignore';
  /** Script ack number, or null when the script gave none. */
  ack: number | null;
  /** Raw window, or null when not given (not checked on outbound packets). */
  win: number | null;
  urg: number;
  /** Options, or null for `<...>` (don't check). Empty list: no options. */
  options: TcpOptionSpec[] | null;
  /** Explicit `src>dst` ports, when the script gave them. */
  ports: { src: number; dst: number } | null;
  /** ECN codepoint / tos written in `[...]` or `(...)`, kept as text. */
  ipInfo: string | null;
}

/** A system call with its expected result. */
export interface SyscallEvent extends EventBase {
  type: 'syscall';
  name: string;
  args: Expr[];
  /** End time of a blocking call written `start...end`, or null. */
  end: TimeSpec | null;
  result: Expr;
  errno: string | null;
  /** The `(text)` after the errno, if any. */
  note: string | null;
}

/** A construct we parse but cannot run: reported as skipped, never pass. */
export interface UnsupportedEvent extends EventBase {
  type: 'unsupported';
  /** Short name of the construct, e.g. `python code block`, `udp packet`. */
  construct: string;
  /** Raw text (shell command or code) when it matters to the interpreter. */
  text: string;
}

export type ScriptEvent = PacketEvent | SyscallEvent | UnsupportedEvent;

/** A `--name=value` option at the top of a script. */
export interface ScriptOption {
  name: string;
  value: string | null;
  line: number;
}

/** A parsed script. */
export interface Script {
  /** Top-of-script `--option=value` lines. */
  options: ScriptOption[];
  /** The back-quoted command before the first event (usually `./defaults.sh`), if any. */
  initCommand: { text: string; line: number } | null;
  events: ScriptEvent[];
  /** `// drill: key=value` comment directives (profile, expect-skip, ...). */
  directives: Map<string, string>;
}

/** A syntax error with its position. */
export class ScriptSyntaxError extends Error {
  constructor(readonly line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'ScriptSyntaxError';
  }
}
