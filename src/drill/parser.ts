/**
 * A recursive-descent parser for packetdrill scripts (our own, written from
 * the grammar in google/packetdrill's parser.y and syntax notes):
 *
 * ```
 * script  := option* [command] event*
 * event   := time action
 * time    := T | '+' T | '*' | T '~' T | '+' T '~' '+' T        (T in seconds)
 * action  := packet | syscall | `command` | %{ code }%
 * packet  := ('<'|'>') [ip-info] [port '>' port] flags seq [ack N] [win N] [urg N] [options]
 * syscall := ['...' T] name '(' [expr {',' expr}] ')' '=' expr [ERRNO] ['(' words ')']
 * ```
 *
 * Constructs we cannot run — UDP/ICMP packets, IPv6/GRE/MPLS encapsulation,
 * python blocks, shell commands — become {@link UnsupportedEvent}s so the
 * interpreter reports the script as skipped rather than passing it.
 */
import {
  Expr, PacketEvent, Script, ScriptEvent, ScriptOption, ScriptSyntaxError, SyscallEvent, TcpOptionSpec, TimeSpec,
} from './ast.js';
import { Token, tokenize } from './lexer.js';

const VALID_FLAGS = /^[.FSRPEWAU]*$/;
/**
 * Options packetdrill knows that tzstack does not implement (Fast Open
 * cookies, MD5 signatures, MPTCP, experimental and AccECN options): the
 * packet is reported as unsupported, the script skipped. Any other word is
 * a syntax error, so typos still fail.
 */
const OTHER_OPTIONS = /^(md5|exp|mp_?capable|mp_?join|dss|add_?address|remove_?address|mp_?prio|mp_?fail|mp_?fastclose|AccECN\w*|accecn\w*)$/;

/** Thrown from an option list holding one of {@link OTHER_OPTIONS}. */
class UnsupportedOption extends Error {
  constructor(readonly option: string) { super(option); }
}

class Parser {
  private pos = 0;
  constructor(private readonly toks: Token[]) {}

  peek(k = 0): Token { return this.toks[Math.min(this.pos + k, this.toks.length - 1)]; }
  next(): Token { const t = this.peek(); if (this.pos < this.toks.length - 1) this.pos++; return t; }
  isPunct(c: string, k = 0): boolean { const t = this.peek(k); return t.kind === 'punct' && t.text === c; }
  isWord(w: string, k = 0): boolean { const t = this.peek(k); return t.kind === 'word' && t.text === w; }
  fail(msg: string, t: Token = this.peek()): never {
    const what = t.kind === 'eof' ? 'end of script' : `'${t.text}'`;
    throw new ScriptSyntaxError(t.line, `${msg} (at ${what})`);
  }
  expectPunct(c: string): Token {
    if (!this.isPunct(c)) this.fail(`expected '${c}'`);
    return this.next();
  }
  expectInt(what: string): number {
    const t = this.peek();
    if (t.kind !== 'int' && t.kind !== 'hex') this.fail(`expected ${what}`);
    this.next();
    return t.value;
  }

  // ---- script level ----
  script(directives: Map<string, string>): Script {
    const options: ScriptOption[] = [];
    while (this.peek().kind === 'option') {
      const t = this.next();
      let value: string | null = null;
      if (this.isPunct('=')) {
        this.next();
        const v = this.next();
        value = v.text;
        // The value runs to the end of the line: an IPv6 address (fd::1) or ipv4-mapped-ipv6 lexes as several tokens.
        while (!this.peek().bol && this.peek().kind !== 'eof' && !this.isPunct('=')) value += this.next().text;
        // --define=NAME=value
        if (this.isPunct('=') && !this.peek().bol) { this.next(); value += '=' + this.next().text; }
      }
      options.push({ name: t.text, value, line: t.line });
    }
    let initCommand: Script['initCommand'] = null;
    if (this.peek().kind === 'command') {
      const t = this.next();
      initCommand = { text: t.text, line: t.line };
    }
    const events: ScriptEvent[] = [];
    while (this.peek().kind !== 'eof') {
      // A trailing back-quoted command without a time is packetdrill's cleanup command.
      if (this.peek().kind === 'command' && this.peek(1).kind === 'eof') {
        const t = this.next();
        events.push({ type: 'unsupported', line: t.line, time: { kind: 'relative', ms: 0 }, construct: 'cleanup shell command', text: t.text });
        continue;
      }
      events.push(this.event());
    }
    return { options, initCommand, events, directives };
  }

  time(): number {
    const t = this.peek();
    if (t.kind !== 'int' && t.kind !== 'float') this.fail('expected a time in seconds');
    if (t.value < 0) this.fail('negative time');
    this.next();
    return t.value * 1000;
  }

  eventTime(): TimeSpec {
    if (this.isPunct('*')) { this.next(); return { kind: 'any' }; }
    if (this.isPunct('+')) {
      this.next();
      const ms = this.time();
      if (this.isPunct('~')) {
        this.next();
        this.expectPunct('+');
        const endMs = this.time();
        if (endMs < ms) this.fail('time range is backwards');
        return { kind: 'relativeRange', ms, endMs };
      }
      return { kind: 'relative', ms };
    }
    const ms = this.time();
    if (this.isPunct('~')) {
      this.next();
      const endMs = this.time();
      if (endMs < ms) this.fail('time range is backwards');
      return { kind: 'absoluteRange', ms, endMs };
    }
    return { kind: 'absolute', ms };
  }

  event(): ScriptEvent {
    const start = this.peek();
    const line = start.line;
    const time = this.eventTime();
    const t = this.peek();
    let ev: ScriptEvent;
    if (t.kind === 'command') {
      this.next();
      ev = { type: 'unsupported', line, time, construct: 'shell command', text: t.text };
    } else if (t.kind === 'code') {
      this.next();
      ev = { type: 'unsupported', line, time, construct: /tcpi_/.test(t.text) ? 'tcp_info assertion (python code block)' : 'python code block', text: t.text };
    } else if (this.isPunct('<') || this.isPunct('>')) {
      ev = this.packet(line, time);
    } else if (t.kind === 'word' || t.kind === 'ellipsis') {
      ev = this.syscall(line, time);
    } else {
      this.fail('expected a packet, a system call, a `command` or a %{ code }% block');
    }
    if ((time.kind === 'any' || time.kind === 'absoluteRange' || time.kind === 'relativeRange')
        && !(ev.type === 'packet' && ev.direction === 'out') && ev.type !== 'unsupported') {
      throw new ScriptSyntaxError(line, `event time ${time.kind === 'any' ? '*' : 'range'} can only be used with outbound packets`);
    }
    return ev;
  }

  /** Skip to the first token of a later line that can start an event (after an unsupported packet form). */
  skipToNextEvent(fromLine: number): string {
    const words: string[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === 'eof') return words.join(' ');
      if (t.bol && t.line > fromLine && (t.kind === 'int' || t.kind === 'float' || (t.kind === 'punct' && (t.text === '+' || t.text === '*')))) return words.join(' ');
      words.push(t.text);
      this.next();
    }
  }

  packet(line: number, time: TimeSpec): ScriptEvent {
    const dirTok = this.next();
    const direction = dirTok.text === '<' ? 'in' : 'out';
    // Encapsulation prefixes (ipv4/ipv6/gre/mpls ... :) are beyond a layer-3 TCP harness.
    const w = this.peek();
    if (w.kind === 'word' && ['ipv4', 'ipv6', 'gre', 'GREv0', 'mpls'].includes(w.text)) {
      this.skipToNextEvent(line);
      return { type: 'unsupported', line, time, construct: `${w.text} encapsulated packet`, text: '' };
    }
    let ipInfo: string | null = null;
    if (this.isPunct('[') || this.isPunct('(')) {
      const close = this.next().text === '[' ? ']' : ')';
      const parts: string[] = [];
      while (!this.isPunct(close)) {
        if (this.peek().kind === 'eof') this.fail(`expected '${close}'`);
        parts.push(this.next().text);
      }
      this.next();
      ipInfo = parts.join(' ');
    }
    if (this.isWord('udp') || this.isWord('icmp')) {
      const what = this.peek().text;
      const from = this.pos;
      this.skipToNextEvent(line);
      // The tokens as text (src/drill/icmp6.ts reads an ICMPv6 line of an ipv6 run from it).
      const text = this.toks.slice(from, this.pos).map((t) => t.text).join(' ');
      return { type: 'unsupported', line, time, construct: `${what} packet`, text: `${direction === 'in' ? '<' : '>'} ${text}` };
    }
    let ports: PacketEvent['ports'] = null;
    if (this.peek().kind === 'int' && this.isPunct('>', 1)) {
      const src = this.next().value;
      this.next();
      const dst = this.expectInt('destination port');
      ports = { src, dst };
    }
    const flags = this.flags();
    // NPLab packetdrill (FreeBSD's suite): `...(len)` leaves the sequence number
    // unchecked, `seq:end(len)!` gives it as an absolute number, not relative to the ISN.
    let seqMode: PacketEvent['seqMode'] = 'relative';
    let seq: number;
    let end: number;
    let len: number;
    if (this.peek().kind === 'ellipsis') {
      this.next();
      this.expectPunct('(');
      len = this.expectInt('payload length');
      this.expectPunct(')');
      seq = 0; end = len; seqMode = 'ignore';
    } else {
      seq = this.expectInt('start sequence number');
      this.expectPunct(':');
      end = this.expectInt('end sequence number');
      this.expectPunct('(');
      len = this.expectInt('payload length');
      this.expectPunct(')');
      if (this.isPunct('!')) { this.next(); seqMode = 'absolute'; }
    }
    if (end !== seq + len) throw new ScriptSyntaxError(line, `inconsistent TCP sequence numbers and payload size: ${seq}:${end}(${len})`);
    let ack: number | null = null;
    let win: number | null = null;
    let urg = 0;
    for (;;) {
      if (this.isWord('ack')) { this.next(); ack = this.expectInt('ack number') >>> 0; continue; }
      if (this.isWord('win')) { this.next(); win = this.expectInt('window'); continue; }
      if (this.isWord('urg')) { this.next(); urg = this.expectInt('urgent pointer'); continue; }
      break;
    }
    if (win !== null && (win < 0 || win > 0xffff)) throw new ScriptSyntaxError(line, `TCP window value out of range: ${win}`);
    let options: TcpOptionSpec[] | null = [];
    if (this.isPunct('<')) {
      this.next();
      if (this.peek().kind === 'ellipsis') {
        this.next();
        options = null;
      } else {
        try {
          options.push(this.tcpOption());
          while (this.isPunct(',')) { this.next(); options.push(this.tcpOption()); }
        } catch (e) {
          if (!(e instanceof UnsupportedOption)) throw e;
          this.skipToNextEvent(line);
          const tfo = /^FO/.test(e.option) ? 'TCP Fast Open: ' : /^md5$/.test(e.option) ? 'TCP-MD5 signatures (not in tzstack, by design): ' : '';
          return { type: 'unsupported', line, time, construct: `${tfo}TCP option '${e.option}'`, text: '' };
        }
      }
      this.expectPunct('>');
    }
    if (this.isPunct('{')) {
      this.skipToNextEvent(line);
      return { type: 'unsupported', line, time, construct: 'packet fuzzing {...}', text: '' };
    }
    if (this.isPunct('/') && (this.isWord('udp', 1) || this.isWord('udplite', 1))) {
      this.skipToNextEvent(line);
      return { type: 'unsupported', line, time, construct: 'TCP over UDP encapsulation (RFC 8085 tunnelling, not in tzstack)', text: '' };
    }
    if (options === null && direction === 'in') throw new ScriptSyntaxError(line, '<...> for TCP options can only be used with outbound packets');
    if (win === null && direction === 'in') throw new ScriptSyntaxError(line, 'window must be specified for inbound packets');
    if (options) {
      const bytes = optionsLength(options);
      if (bytes % 4 !== 0) throw new ScriptSyntaxError(line, `TCP options are not padded to a multiple of 4 bytes: ${bytes % 4} excess bytes`);
      if (bytes > 40) throw new ScriptSyntaxError(line, 'TCP option list too long');
    }
    return { type: 'packet', line, time, direction, flags, seq: seq >>> 0, end: end >>> 0, len, seqMode, ack, win, urg, options, ports, ipInfo };
  }

  flags(): string {
    const t = this.peek();
    let flags: string;
    if (t.kind === 'punct' && t.text === '.') { this.next(); flags = '.'; }
    else if (t.kind === 'punct' && t.text === '-') { this.next(); flags = ''; }
    else if (t.kind === 'word') {
      this.next();
      flags = t.text;
      if (this.isPunct('.')) { this.next(); flags += '.'; }
    } else {
      this.fail('expected TCP flags');
    }
    if (!VALID_FLAGS.test(flags)) throw new ScriptSyntaxError(t.line, `invalid TCP flags '${flags}'`);
    return flags;
  }

  tcpOption(): TcpOptionSpec {
    const t = this.next();
    if (t.kind !== 'word') this.fail('expected a TCP option', t);
    switch (t.text) {
      case 'nop': return { kind: 'nop' };
      case 'eol': return { kind: 'eol' };
      case 'sackOK': return { kind: 'sackOK' };
      case 'mss': {
        const v = this.expectInt('mss value');
        if (v < 0 || v > 0xffff) this.fail('mss value out of range', t);
        return { kind: 'mss', value: v };
      }
      case 'wscale': {
        const v = this.expectInt('window scale shift count');
        if (v < 0 || v > 255) this.fail('window scale shift count out of range', t);
        return { kind: 'wscale', value: v };
      }
      case 'TS': {
        if (!this.isWord('val')) this.fail("expected 'val'");
        this.next();
        const val = this.expectInt('TS val') >>> 0;
        if (!this.isWord('ecr')) this.fail("expected 'ecr'");
        this.next();
        const ecr = this.expectInt('TS ecr') >>> 0;
        return { kind: 'timestamp', val, ecr };
      }
      case 'sack': {
        const blocks: Array<[number, number]> = [];
        while (this.peek().kind === 'int' && this.isPunct(':', 1)) {
          const a = this.next().value >>> 0;
          this.next();
          const b = this.expectInt('SACK right edge') >>> 0;
          blocks.push([a, b]);
        }
        if (blocks.length === 0) this.fail('expected SACK blocks a:b');
        return { kind: 'sack', blocks };
      }
      case 'FO': case 'FOEXP': {
        // An optional cookie: hex digits (lexed as an int or a word) or a --define'd name (TFO_COOKIE).
        const n = this.peek();
        let cookie = '';
        if ((n.kind === 'int' || n.kind === 'word') && !n.bol) { this.next(); cookie = n.text; }
        return { kind: 'fastopen', exp: t.text === 'FOEXP', cookie };
      }
      default:
        if (OTHER_OPTIONS.test(t.text)) throw new UnsupportedOption(t.text);
        return this.fail(`unknown or unsupported TCP option '${t.text}'`, t);
    }
  }

  syscall(line: number, time: TimeSpec): SyscallEvent {
    let end: TimeSpec | null = null;
    if (this.peek().kind === 'ellipsis') {
      this.next();
      end = { kind: 'absolute', ms: this.time() };
      if (time.kind === 'relative') end = { kind: 'relative', ms: end.ms };
    }
    const nameTok = this.next();
    if (nameTok.kind !== 'word') this.fail('expected a system call name', nameTok);
    this.expectPunct('(');
    const args: Expr[] = [];
    if (!this.isPunct(')')) {
      args.push(this.expr());
      while (this.isPunct(',')) { this.next(); args.push(this.expr()); }
    }
    this.expectPunct(')');
    this.expectPunct('=');
    const result = this.expr();
    let errno: string | null = null;
    let note: string | null = null;
    if (this.peek().kind === 'word' && !this.peek().bol) errno = this.next().text;
    if (this.isPunct('(') && !this.peek().bol) note = this.note();
    return { type: 'syscall', line, time, name: nameTok.text, args, end, result, errno, note };
  }

  note(): string {
    this.expectPunct('(');
    const words: string[] = [];
    let depth = 1;
    for (;;) {
      const t = this.next();
      if (t.kind === 'eof') this.fail("expected ')' closing the note");
      if (t.kind === 'punct' && t.text === '(') depth++;
      if (t.kind === 'punct' && t.text === ')' && --depth === 0) break;
      words.push(t.text);
    }
    return words.join(' ');
  }

  // ---- expressions ----
  expr(): Expr {
    let lhs = this.primary();
    for (;;) {
      if (this.isPunct('|')) { this.next(); lhs = { kind: 'binary', op: '|', lhs, rhs: this.primary() }; continue; }
      if (this.isPunct('=') && (lhs.kind === 'word' || lhs.kind === 'call')) {
        this.next();
        lhs = { kind: 'binary', op: '=', lhs, rhs: this.expr() };
        continue;
      }
      return lhs;
    }
  }

  primary(): Expr {
    const t = this.peek();
    switch (t.kind) {
      case 'ellipsis': this.next(); return { kind: 'ellipsis' };
      case 'int': case 'hex': this.next(); return { kind: 'int', value: t.value };
      case 'float': this.next(); return { kind: 'int', value: t.value };
      case 'ipv4': this.next(); return { kind: 'word', name: t.text };
      case 'string': {
        this.next();
        let value = t.text;
        while (this.peek().kind === 'string') value += this.next().text;
        let trailingEllipsis = false;
        if (this.peek().kind === 'ellipsis') { this.next(); trailingEllipsis = true; }
        return { kind: 'string', value, trailingEllipsis };
      }
      case 'word': {
        this.next();
        if (this.isPunct('(')) {
          this.next();
          const args: Expr[] = [];
          if (!this.isPunct(')')) {
            args.push(this.expr());
            while (this.isPunct(',')) { this.next(); args.push(this.expr()); }
          }
          this.expectPunct(')');
          return { kind: 'call', fn: t.text, args };
        }
        return { kind: 'word', name: t.text };
      }
      case 'punct':
        if (t.text === '[' || t.text === '{') {
          this.next();
          const close = t.text === '[' ? ']' : '}';
          const items: Expr[] = [];
          if (!this.isPunct(close)) {
            items.push(this.expr());
            while (this.isPunct(',')) { this.next(); items.push(this.expr()); }
          }
          this.expectPunct(close);
          return { kind: t.text === '[' ? 'list' : 'struct', items };
        }
        // A negative number written `- 1` is not valid; anything else is an error.
        return this.fail('expected an expression');
      default:
        return this.fail('expected an expression');
    }
  }
}

/** Bytes the options take on the wire (for the 4-byte padding rule). */
export function optionsLength(opts: TcpOptionSpec[]): number {
  let n = 0;
  for (const o of opts) {
    switch (o.kind) {
      case 'nop': case 'eol': n += 1; break;
      case 'mss': n += 4; break;
      case 'wscale': n += 3; break;
      case 'sackOK': n += 2; break;
      case 'timestamp': n += 10; break;
      case 'sack': n += 2 + 8 * o.blocks.length; break;
      // A named cookie (TFO_COOKIE, packetdrill's run_all.py -D) is 8 bytes.
      case 'fastopen': n += (o.exp ? 4 : 2) + (/^[0-9a-f]*$/i.test(o.cookie) ? o.cookie.length >> 1 : 8); break;
    }
  }
  return n;
}

const DIRECTIVE_RE = /^[ \t]*\/\/[ \t]*drill:[ \t]*([A-Za-z0-9_-]+)(?:[ \t]*=?[ \t]*(.*))?$/gm;

/**
 * Parse a script. `// drill: key=value` (or `// drill: key value`) comment lines become
 * {@link Script.directives}.
 * @throws ScriptSyntaxError with the line of the first error
 */
export function parseScript(src: string): Script {
  const directives = new Map<string, string>();
  for (const m of src.matchAll(DIRECTIVE_RE)) directives.set(m[1], (m[2] ?? '').trim());
  return new Parser(tokenize(src)).script(directives);
}
