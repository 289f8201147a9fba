/**
 * The small part of Python that packetdrill scripts write in `%{ ... }%`
 * blocks, parsed and evaluated without `eval`:
 *
 * ```
 * +0 %{ assert 15000 <= tcpi_rtt <= 25000, 'rtt=%d' % tcpi_rtt }%
 * +0 %{ print(tcpi_snd_cwnd); cwnd += 10; assert tcpi_snd_cwnd == cwnd, tcpi_snd_cwnd }%
 * ```
 *
 * Statements: `assert EXPR [, EXPR]`, `NAME = EXPR`, `NAME += / -= / *= EXPR`,
 * `print(...)` (evaluated, output dropped) and `pass`, separated by newlines
 * or `;` (a trailing `\` joins lines, `#` starts a comment). Expressions:
 * integers (decimal, hex), strings, `True` / `False` / `None`, names,
 * parentheses and tuples, `not` / `and` / `or`, chained comparisons
 * (`a <= b <= c`), `| ^ & << >> + - * / // %`, unary `- + ~`, and `%`
 * formatting of a string (for assertion messages).
 *
 * packetdrill runs every block of a script in one Python process, so a
 * variable assigned in one block is seen by later ones; {@link PyEnv} holds
 * them for a run. Anything outside this subset is a parse error, which the
 * interpreter reports as an unsupported construct (a skip, never a pass).
 */

/** A parsed expression. */
export type PyExpr =
  | { k: 'num'; v: number }
  | { k: 'str'; v: string }
  | { k: 'const'; v: boolean | null }
  | { k: 'name'; name: string }
  | { k: 'tuple'; items: PyExpr[] }
  | { k: 'not'; e: PyExpr }
  | { k: 'neg' | 'pos' | 'inv'; e: PyExpr }
  | { k: 'bool'; op: 'and' | 'or'; l: PyExpr; r: PyExpr }
  | { k: 'cmp'; first: PyExpr; ops: string[]; rest: PyExpr[] }
  | { k: 'bin'; op: string; l: PyExpr; r: PyExpr }
  | { k: 'call'; fn: string; args: PyExpr[] };

/** A parsed statement. */
export type PyStmt =
  | { k: 'assert'; test: PyExpr; msg: PyExpr | null; text: string }
  | { k: 'assign'; name: string; op: '=' | '+=' | '-=' | '*='; value: PyExpr }
  | { k: 'expr'; e: PyExpr }
  | { k: 'pass' };

/** A value: Python ints (as JS numbers; the scripts stay far below 2^53), strings, booleans, None, tuples. */
export type PyValue = number | string | boolean | null | PyValue[];

/** Thrown for text outside the supported subset. */
export class PySyntaxError extends Error {}
/** Thrown when evaluation needs something it does not have (e.g. a tcp_info field we cannot compute). */
export class PyUnsupported extends Error {}

type Tok = { t: 'num'; v: number } | { t: 'str'; v: string } | { t: 'name'; v: string } | { t: 'op'; v: string } | { t: 'end' };

const OPS = ['//', '<<', '>>', '<=', '>=', '==', '!=', '+=', '-=', '*=', '(', ')', ',', '<', '>', '+', '-', '*', '/', '%', '&', '|', '^', '~', '='];

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i];
    if (ch === ' ' || ch === '\t') { i++; continue; }
    if (/[0-9]/.test(ch)) {
      const m = /^(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)/.exec(src.slice(i))!;
      if (/^[0-9]*\.|^[0-9]+[eEjJ]/.test(src.slice(i))) throw new PySyntaxError(`floating-point literal in \`${src}\``);
      out.push({ t: 'num', v: Number(m[1].replace(/^0[oO]/, '0o').replace(/^0[bB]/, '0b')) });
      i += m[1].length;
      continue;
    }
    if (/[A-Za-z_]/.test(ch)) {
      const m = /^[A-Za-z_][A-Za-z_0-9]*/.exec(src.slice(i))!;
      out.push({ t: 'name', v: m[0] });
      i += m[0].length;
      continue;
    }
    if (ch === '"' || ch === "'") {
      let j = i + 1;
      let v = '';
      while (j < src.length && src[j] !== ch) {
        if (src[j] === '\\' && j + 1 < src.length) {
          const e = src[j + 1];
          v += e === 'n' ? '\n' : e === 't' ? '\t' : e;
          j += 2;
          continue;
        }
        v += src[j++];
      }
      if (j >= src.length) throw new PySyntaxError(`unterminated string in \`${src}\``);
      out.push({ t: 'str', v });
      i = j + 1;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) throw new PySyntaxError(`unexpected '${ch}' in \`${src}\``);
    out.push({ t: 'op', v: op });
    i += op.length;
  }
  out.push({ t: 'end' });
  return out;
}

const CMP_OPS = new Set(['==', '!=', '<', '<=', '>', '>=']);
const KEYWORDS = new Set(['and', 'or', 'not', 'is', 'in', 'if', 'else', 'elif', 'for', 'while', 'def', 'lambda', 'import', 'from',
  'return', 'del', 'global', 'class', 'with', 'try', 'except', 'raise', 'yield']);

class Parser {
  private p = 0;
  constructor(private readonly toks: Tok[], private readonly src: string) {}

  private peek(): Tok { return this.toks[this.p]; }
  private isOp(v: string): boolean { const t = this.peek(); return t.t === 'op' && t.v === v; }
  private isName(v: string): boolean { const t = this.peek(); return t.t === 'name' && t.v === v; }
  private fail(what: string): never { throw new PySyntaxError(`${what} in \`${this.src}\``); }
  private expectOp(v: string): void { if (!this.isOp(v)) this.fail(`expected '${v}'`); this.p++; }
  atEnd(): boolean { return this.peek().t === 'end'; }

  statement(): PyStmt {
    const t = this.peek();
    if (t.t === 'name' && t.v === 'assert') {
      this.p++;
      const test = this.expr();
      let msg: PyExpr | null = null;
      if (this.isOp(',')) { this.p++; msg = this.expr(); }
      return { k: 'assert', test, msg, text: this.src.replace(/^assert\s+/, '').replace(/\s*,[^,]*$/, '') };
    }
    if (t.t === 'name' && t.v === 'pass') { this.p++; return { k: 'pass' }; }
    if (t.t === 'name' && !KEYWORDS.has(t.v)) {
      const n = this.toks[this.p + 1];
      if (n.t === 'op' && (n.v === '=' || n.v === '+=' || n.v === '-=' || n.v === '*=')) {
        this.p += 2;
        return { k: 'assign', name: t.v, op: n.v, value: this.expr() };
      }
    }
    return { k: 'expr', e: this.expr() };
  }

  /** expression, or an unparenthesised tuple `a, b` is not accepted (only inside parentheses). */
  expr(): PyExpr { return this.orExpr(); }

  private orExpr(): PyExpr {
    let l = this.andExpr();
    while (this.isName('or')) { this.p++; l = { k: 'bool', op: 'or', l, r: this.andExpr() }; }
    return l;
  }

  private andExpr(): PyExpr {
    let l = this.notExpr();
    while (this.isName('and')) { this.p++; l = { k: 'bool', op: 'and', l, r: this.notExpr() }; }
    return l;
  }

  private notExpr(): PyExpr {
    if (this.isName('not')) { this.p++; return { k: 'not', e: this.notExpr() }; }
    return this.comparison();
  }

  private comparison(): PyExpr {
    const first = this.bitOr();
    const ops: string[] = [];
    const rest: PyExpr[] = [];
    for (;;) {
      const t = this.peek();
      if (t.t === 'op' && CMP_OPS.has(t.v)) { this.p++; ops.push(t.v); rest.push(this.bitOr()); continue; }
      if (t.t === 'name' && (t.v === 'is' || t.v === 'in')) this.fail(`'${t.v}'`);
      break;
    }
    return ops.length === 0 ? first : { k: 'cmp', first, ops, rest };
  }

  private binLevel(ops: string[], next: () => PyExpr): PyExpr {
    let l = next();
    for (;;) {
      const t = this.peek();
      if (t.t === 'op' && ops.includes(t.v)) { this.p++; l = { k: 'bin', op: t.v, l, r: next() }; continue; }
      return l;
    }
  }

  private bitOr(): PyExpr { return this.binLevel(['|'], () => this.bitXor()); }
  private bitXor(): PyExpr { return this.binLevel(['^'], () => this.bitAnd()); }
  private bitAnd(): PyExpr { return this.binLevel(['&'], () => this.shift()); }
  private shift(): PyExpr { return this.binLevel(['<<', '>>'], () => this.arith()); }
  private arith(): PyExpr { return this.binLevel(['+', '-'], () => this.term()); }
  private term(): PyExpr { return this.binLevel(['*', '/', '//', '%'], () => this.unary()); }

  private unary(): PyExpr {
    if (this.isOp('-')) { this.p++; return { k: 'neg', e: this.unary() }; }
    if (this.isOp('+')) { this.p++; return { k: 'pos', e: this.unary() }; }
    if (this.isOp('~')) { this.p++; return { k: 'inv', e: this.unary() }; }
    return this.primary();
  }

  private primary(): PyExpr {
    const t = this.peek();
    switch (t.t) {
      case 'num': this.p++; return { k: 'num', v: t.v };
      case 'str': {
        this.p++;
        let v = t.v;
        // Adjacent literals concatenate.
        while (this.peek().t === 'str') v += (this.toks[this.p++] as { v: string }).v;
        return { k: 'str', v };
      }
      case 'name': {
        if (KEYWORDS.has(t.v)) this.fail(`'${t.v}'`);
        this.p++;
        if (t.v === 'True' || t.v === 'False') return { k: 'const', v: t.v === 'True' };
        if (t.v === 'None') return { k: 'const', v: null };
        if (this.isOp('(')) {
          this.p++;
          const args: PyExpr[] = [];
          while (!this.isOp(')')) {
            args.push(this.expr());
            if (this.isOp(',')) this.p++; else break;
          }
          this.expectOp(')');
          return { k: 'call', fn: t.v, args };
        }
        return { k: 'name', name: t.v };
      }
      case 'op':
        if (t.v === '(') {
          this.p++;
          if (this.isOp(')')) { this.p++; return { k: 'tuple', items: [] }; }
          const first = this.expr();
          if (!this.isOp(',')) { this.expectOp(')'); return first; }
          const items = [first];
          while (this.isOp(',')) {
            this.p++;
            if (this.isOp(')')) break;
            items.push(this.expr());
          }
          this.expectOp(')');
          return { k: 'tuple', items };
        }
        return this.fail(`unexpected '${t.v}'`);
      default: return this.fail('unexpected end');
    }
  }
}

/** Functions a block may call: print (output dropped) and a few pure builtins. */
const FUNCS = new Set(['print', 'abs', 'min', 'max', 'int', 'str', 'len', 'bool']);

/**
 * Parse a block's text into statements.
 * @throws PySyntaxError outside the subset
 */
export function parsePython(code: string): PyStmt[] {
  const out: PyStmt[] = [];
  for (const stmt of splitStatements(code)) {
    const p = new Parser(tokenize(stmt), stmt);
    const s = p.statement();
    if (!p.atEnd()) throw new PySyntaxError(`unexpected text after a statement in \`${stmt}\``);
    checkCalls(s);
    out.push(s);
  }
  return out;
}

/** Statements of a block: lines joined at a trailing backslash, split at `;` and newlines outside strings, comments dropped. */
function splitStatements(code: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  for (let i = 0; i < code.length; i++) {
    const ch = code[i];
    if (quote) {
      cur += ch;
      if (ch === '\\' && i + 1 < code.length) { cur += code[++i]; continue; }
      if (ch === quote) quote = null;
      continue;
    }
    if (ch === "'" || ch === '"') { quote = ch; cur += ch; continue; }
    if (ch === '#') { while (i + 1 < code.length && code[i + 1] !== '\n') i++; continue; }
    if (ch === '\\' && /^\\[ \t]*(\r?\n|$)/.test(code.slice(i))) { while (i < code.length && code[i] !== '\n') i++; cur += ' '; continue; }
    if (ch === ';' || ch === '\n') { if (cur.trim()) out.push(cur.trim()); cur = ''; continue; }
    cur += ch;
  }
  if (quote) throw new PySyntaxError(`unterminated string in \`${code.trim()}\``);
  if (cur.trim()) out.push(cur.trim());
  // Python's indentation rules: a block's statements all start at the same column; we take them as written.
  return out;
}

function checkCalls(s: PyStmt): void {
  const walk = (e: PyExpr | null): void => {
    if (!e) return;
    switch (e.k) {
      case 'call': if (!FUNCS.has(e.fn)) throw new PySyntaxError(`call of ${e.fn}()`); e.args.forEach(walk); break;
      case 'tuple': e.items.forEach(walk); break;
      case 'not': case 'neg': case 'pos': case 'inv': walk(e.e); break;
      case 'bool': case 'bin': walk(e.l); walk(e.r); break;
      case 'cmp': walk(e.first); e.rest.forEach(walk); break;
      default: break;
    }
  };
  if (s.k === 'assert') { walk(s.test); walk(s.msg); } else if (s.k === 'assign') walk(s.value); else if (s.k === 'expr') walk(s.e);
}

/** Every name a statement reads (for the pre-run check), and the ones it assigns. */
export function namesOf(stmts: PyStmt[]): { reads: Set<string>; writes: Set<string> } {
  const reads = new Set<string>();
  const writes = new Set<string>();
  const walk = (e: PyExpr | null): void => {
    if (!e) return;
    switch (e.k) {
      case 'name': reads.add(e.name); break;
      case 'call': e.args.forEach(walk); break;
      case 'tuple': e.items.forEach(walk); break;
      case 'not': case 'neg': case 'pos': case 'inv': walk(e.e); break;
      case 'bool': case 'bin': walk(e.l); walk(e.r); break;
      case 'cmp': walk(e.first); e.rest.forEach(walk); break;
      default: break;
    }
  };
  for (const s of stmts) {
    if (s.k === 'assert') { walk(s.test); walk(s.msg); } else if (s.k === 'assign') {
      if (s.op !== '=') reads.add(s.name);
      walk(s.value);
      writes.add(s.name);
    } else if (s.k === 'expr') walk(s.e);
  }
  return { reads, writes };
}

/** Variables of one script's Python process: assignments persist from block to block. */
export class PyEnv {
  readonly vars = new Map<string, PyValue>();
  /**
   * @param lookup - names the host provides (tcp_info fields, constants) when
   *   no variable has them; undefined when unknown
   */
  constructor(public lookup: (name: string) => PyValue | undefined) {}

  get(name: string): PyValue {
    if (this.vars.has(name)) return this.vars.get(name)!;
    const v = this.lookup(name);
    if (v === undefined) throw new PyUnsupported(`name ${name}`);
    return v;
  }
}

/** Result of a block: null when every assertion held, else what failed. */
export function runPython(stmts: PyStmt[], env: PyEnv): string | null {
  for (const s of stmts) {
    switch (s.k) {
      case 'pass': break;
      case 'expr': evaluate(s.e, env); break;
      case 'assign': {
        const v = evaluate(s.value, env);
        if (s.op === '=') env.vars.set(s.name, v);
        else env.vars.set(s.name, binary(s.op[0], env.get(s.name), v));
        break;
      }
      case 'assert': {
        if (truthy(evaluate(s.test, env))) break;
        // What the names in the test held (Python would print the message; the values say more).
        const vals = [...namesOf([{ k: 'expr', e: s.test }]).reads].map((n) => `${n} = ${str(env.get(n))}`);
        return `assert ${s.text}${vals.length > 0 ? ` (actual ${vals.join(', ')})` : ''}`;
      }
    }
  }
  return null;
}

function truthy(v: PyValue): boolean {
  if (Array.isArray(v)) return v.length > 0;
  return v !== null && v !== false && v !== 0 && v !== '';
}

function num(v: PyValue, what: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new PyUnsupported(`${what} of ${typeName(v)}`);
}

function typeName(v: PyValue): string {
  return v === null ? 'None' : Array.isArray(v) ? 'tuple' : typeof v === 'string' ? 'str' : typeof v === 'boolean' ? 'bool' : 'int';
}

function str(v: PyValue): string {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (Array.isArray(v)) return `(${v.map((x) => (typeof x === 'string' ? `'${x}'` : str(x))).join(', ')}${v.length === 1 ? ',' : ''})`;
  return String(v);
}

function equal(a: PyValue, b: PyValue): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    const bs: PyValue[] = b;
    return a.every((x, i) => equal(x, bs[i]));
  }
  if (typeof a === 'boolean') a = a ? 1 : 0;
  if (typeof b === 'boolean') b = b ? 1 : 0;
  return a === b;
}

function compare(op: string, a: PyValue, b: PyValue): boolean {
  if (op === '==') return equal(a, b);
  if (op === '!=') return !equal(a, b);
  if (typeof a === 'string' && typeof b === 'string') {
    return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
  }
  const x = num(a, `'${op}'`);
  const y = num(b, `'${op}'`);
  return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
}

/** Python's `%` formatting of a string with %d %i %u %s %r %x %X %o %%, width and '-' / '0' flags. */
function format(fmt: string, arg: PyValue): string {
  const args = Array.isArray(arg) ? arg : [arg];
  let n = 0;
  const out = fmt.replace(/%([-0]*)(\d*)([diusrxXo%])/g, (_m, flags: string, width: string, conv: string) => {
    if (conv === '%') return '%';
    if (n >= args.length) throw new PyUnsupported('not enough arguments for format string');
    const v = args[n++];
    let s: string;
    switch (conv) {
      case 'd': case 'i': case 'u': s = String(Math.trunc(num(v, '%d format'))); break;
      case 'x': s = num(v, '%x format').toString(16); break;
      case 'X': s = num(v, '%X format').toString(16).toUpperCase(); break;
      case 'o': s = num(v, '%o format').toString(8); break;
      case 'r': s = typeof v === 'string' ? `'${v}'` : str(v); break;
      default: s = str(v);
    }
    const w = width ? Number(width) : 0;
    if (s.length < w) s = flags.includes('-') ? s.padEnd(w) : flags.includes('0') && conv !== 's' ? s.padStart(w, '0') : s.padStart(w);
    return s;
  });
  if (n < args.length) throw new PyUnsupported('not all arguments converted during string formatting');
  return out;
}

function binary(op: string, a: PyValue, b: PyValue): PyValue {
  if (op === '%' && typeof a === 'string') return format(a, b);
  if (op === '+' && typeof a === 'string' && typeof b === 'string') return a + b;
  const x = num(a, `'${op}'`);
  const y = num(b, `'${op}'`);
  switch (op) {
    case '+': return x + y;
    case '-': return x - y;
    case '*': return x * y;
    case '/': if (y === 0) throw new PyUnsupported('division by zero'); return x / y;
    case '//': if (y === 0) throw new PyUnsupported('division by zero'); return Math.floor(x / y);
    case '%': if (y === 0) throw new PyUnsupported('modulo by zero'); return x - y * Math.floor(x / y);
    // Bitwise operators on the values as (up to 53-bit) integers, as Python's arbitrary-precision ints would give.
    case '&': return Number(BigInt(Math.trunc(x)) & BigInt(Math.trunc(y)));
    case '|': return Number(BigInt(Math.trunc(x)) | BigInt(Math.trunc(y)));
    case '^': return Number(BigInt(Math.trunc(x)) ^ BigInt(Math.trunc(y)));
    case '<<': return Number(BigInt(Math.trunc(x)) << BigInt(Math.trunc(y)));
    case '>>': return Number(BigInt(Math.trunc(x)) >> BigInt(Math.trunc(y)));
    default: throw new PyUnsupported(`operator ${op}`);
  }
}

/** Evaluate an expression (and/or short-circuit, comparisons chain as Python's). */
export function evaluate(e: PyExpr, env: PyEnv): PyValue {
  switch (e.k) {
    case 'num': return e.v;
    case 'str': return e.v;
    case 'const': return e.v;
    case 'name': return env.get(e.name);
    case 'tuple': return e.items.map((x) => evaluate(x, env));
    case 'not': return !truthy(evaluate(e.e, env));
    case 'neg': return -num(evaluate(e.e, env), 'unary -');
    case 'pos': return num(evaluate(e.e, env), 'unary +');
    case 'inv': return -num(evaluate(e.e, env), 'unary ~') - 1;
    case 'bool': {
      const l = evaluate(e.l, env);
      if (e.op === 'and') return truthy(l) ? evaluate(e.r, env) : l;
      return truthy(l) ? l : evaluate(e.r, env);
    }
    case 'cmp': {
      let left = evaluate(e.first, env);
      for (let i = 0; i < e.ops.length; i++) {
        const right = evaluate(e.rest[i], env);
        if (!compare(e.ops[i], left, right)) return false;
        left = right;
      }
      return true;
    }
    case 'bin': return binary(e.op, evaluate(e.l, env), evaluate(e.r, env));
    case 'call': {
      const args = e.args.map((x) => evaluate(x, env));
      switch (e.fn) {
        case 'print': return null;
        case 'abs': return Math.abs(num(args[0] ?? null, 'abs()'));
        case 'min': return Math.min(...args.map((a) => num(a, 'min()')));
        case 'max': return Math.max(...args.map((a) => num(a, 'max()')));
        case 'int': return Math.trunc(num(args[0] ?? 0, 'int()'));
        case 'bool': return truthy(args[0] ?? false);
        case 'str': return str(args[0] ?? '');
        case 'len': { const a = args[0]; if (typeof a === 'string' || Array.isArray(a)) return a.length; throw new PyUnsupported('len()'); }
        default: throw new PyUnsupported(`call of ${e.fn}()`);
      }
    }
  }
}
