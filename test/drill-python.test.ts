import { expect } from 'chai';
import fc from 'fast-check';
import { pinnedSeed } from './helpers/seed.js';
import { parsePython, PyEnv, PySyntaxError, PyUnsupported, runPython } from '../src/drill/python.js';
import { runScriptText } from '../src/drill/interpreter.js';
import { PASSIVE_OPEN, linux } from './helpers/drill-open.js';

function run(code: string, names: Record<string, number> = {}, env?: PyEnv): string | null {
  const e = env ?? new PyEnv((n) => names[n]);
  return runPython(parsePython(code), e);
}

describe('drill python blocks (python.ts)', () => {
  it('evaluates chained comparisons, boolean operators and arithmetic as Python does', () => {
    expect(run('assert 15000 <= tcpi_rtt <= 25000', { tcpi_rtt: 20000 })).to.equal(null);
    expect(run('assert 15000 <= tcpi_rtt <= 25000', { tcpi_rtt: 25001 })).to.match(/actual tcpi_rtt = 25001/);
    expect(run('assert 1 < 2 > 1 and not 0 or 1 // 0')).to.equal(null); // `or` short-circuits
    expect(run('assert -7 // 2 == -4 and -7 % 2 == 1 and 1 << 4 == 16 and (6 & 3) | 8 == 10')).to.equal(null);
  });

  it('keeps variables from block to block, with augmented assignment', () => {
    const env = new PyEnv((n) => (n === 'tcpi_snd_cwnd' ? 20 : undefined));
    expect(run('cwnd = 10', {}, env)).to.equal(null);
    expect(run('print(tcpi_snd_cwnd); cwnd += 10; assert tcpi_snd_cwnd == cwnd, tcpi_snd_cwnd', {}, env)).to.equal(null);
    expect(run('cwnd += 1\nassert tcpi_snd_cwnd == cwnd', {}, env)).to.equal('assert tcpi_snd_cwnd == cwnd (actual tcpi_snd_cwnd = 20, cwnd = 21)');
  });

  it('formats messages with % and joins backslash-continued lines', () => {
    const env = new PyEnv((n) => (n === 'x' ? 5 : undefined));
    expect(runPython(parsePython("assert 'a=%d b=%s %%' % (x, 'y') == 'a=5 b=y %'"), env)).to.equal(null);
    expect(run('assert x == 5, \\\n  x; assert (x & 4) != 0 # comment', { x: 5 })).to.equal(null);
  });

  it('refuses what is outside the subset instead of guessing', () => {
    for (const code of ['import os', 'x = [1]', 'assert x.y', 'if x: pass', 'assert 1.5 > 1', 'eval("1")']) {
      expect(() => parsePython(code), code).to.throw(PySyntaxError);
    }
    expect(() => run('assert nope == 1')).to.throw(PyUnsupported);
  });
});

describe('drill: python blocks in scripts', () => {
  const open = PASSIVE_OPEN;
  it('fails a script whose assertion is false, at the block', () => {
    const r = runScriptText(`${open}+0 %{ assert tcpi_delivered == 2 }%\n`, { profile: linux() });
    expect(r.status).to.equal('fail');
    expect(r.line).to.equal(9);
    expect(r.message).to.equal('tcp_info assertion failed: assert tcpi_delivered == 2 (actual tcpi_delivered = 1)');
  });

  it('skips a block that reads a name no block assigns, or a field it cannot compute', () => {
    const r = runScriptText(`${open}+0 %{ assert cwnd == 10 }%\n`, { profile: linux() });
    expect(r.status).to.equal('skipped');
    expect(r.message).to.match(/python name cwnd/);
    const f = runScriptText(`${open}+0 %{ assert tcpi_rcv_rtt == 0 }%\n`, { profile: linux() });
    expect(f.status).to.equal('skipped');
    expect(f.message).to.match(/tcp_info field tcpi_rcv_rtt/);
  });

  it('takes a variable a block without tcp_info assigns', () => {
    const r = runScriptText(`${open}+0 %{ TCP_INFINITE_SSTHRESH = 0x7fffffff }%\n+0 %{ assert tcpi_snd_ssthresh == TCP_INFINITE_SSTHRESH }%\n`, { profile: linux() });
    expect(r.status, r.message).to.equal('pass');
  });
});


/** A reference for the generated expressions: Python's semantics on BigInt (floor division and modulo). */
type Gen = { text: string; value: bigint | boolean };
const pyBool = (v: bigint | boolean): boolean => (typeof v === 'boolean' ? v : v !== 0n);
const pyInt = (v: bigint | boolean): bigint => (typeof v === 'boolean' ? (v ? 1n : 0n) : v);

function genExpr(depth: number): fc.Arbitrary<Gen> {
  const leaf = fc.integer({ min: -50, max: 50 }).map((n): Gen => ({ text: n < 0 ? `(${n})` : String(n), value: BigInt(n) }));
  if (depth <= 0) return leaf;
  const sub = genExpr(depth - 1);
  const arith = fc.tuple(sub, fc.constantFrom('+', '-', '*', '//', '%', '&', '|', '^'), sub).map(([a, op, b]): Gen | null => {
    const x = pyInt(a.value); const y = pyInt(b.value);
    let v: bigint;
    switch (op) {
      case '+': v = x + y; break;
      case '-': v = x - y; break;
      case '*': v = x * y; break;
      case '//': if (y === 0n) return null; v = x / y; if ((x % y !== 0n) && ((x < 0n) !== (y < 0n))) v -= 1n; break;
      case '%': { if (y === 0n) return null; const q = x / y - ((x % y !== 0n) && ((x < 0n) !== (y < 0n)) ? 1n : 0n); v = x - y * q; break; }
      case '&': v = x & y; break;
      case '|': v = x | y; break;
      default: v = x ^ y;
    }
    return { text: `(${a.text} ${op} ${b.text})`, value: v };
  }).filter((g): g is Gen => g !== null && (typeof g.value === 'boolean' || (g.value < 2n ** 50n && g.value > -(2n ** 50n))));
  const cmp = fc.tuple(sub, fc.constantFrom('==', '!=', '<', '<=', '>', '>='), sub, fc.constantFrom('<', '<=', '=='), sub).map(([a, o1, b, o2, c]): Gen => {
    const f = (o: string, x: bigint, y: bigint): boolean => (o === '==' ? x === y : o === '!=' ? x !== y : o === '<' ? x < y : o === '<=' ? x <= y : o === '>' ? x > y : x >= y);
    const x = pyInt(a.value); const y = pyInt(b.value); const z = pyInt(c.value);
    return { text: `(${a.text} ${o1} ${b.text} ${o2} ${c.text})`, value: f(o1, x, y) && f(o2, y, z) };
  });
  const logic = fc.tuple(sub, fc.constantFrom('and', 'or'), sub, fc.boolean()).map(([a, op, b, neg]): Gen => {
    // Python's and / or give an operand, not a bool.
    const v = op === 'and' ? (pyBool(a.value) ? b.value : a.value) : (pyBool(a.value) ? a.value : b.value);
    return { text: `(${neg ? 'not ' : ''}(${a.text} ${op} ${b.text}))`, value: neg ? !pyBool(v) : v };
  });
  return fc.oneof(leaf, arith, cmp, logic);
}

describe('drill python blocks: randomized', () => {
  const seed = pinnedSeed(2026_1205, 'PY_SEED');
  it(`agrees with Python's integer semantics on generated expressions (seed ${seed})`, () => {
    fc.assert(fc.property(genExpr(3), (g) => {
      const env = new PyEnv(() => undefined);
      // `assert E` holds exactly when E is true in Python.
      const r = runPython(parsePython(`assert ${g.text}`), env);
      expect(r === null, `${g.text} should be ${String(g.value)}`).to.equal(pyBool(g.value));
    }), { seed, numRuns: 300 });
  });

  it(`never throws anything but PySyntaxError on arbitrary text (seed ${seed})`, () => {
    fc.assert(fc.property(fc.string({ maxLength: 60 }), (text) => {
      try { parsePython(text); } catch (e) { if (!(e instanceof PySyntaxError)) throw e; }
    }), { seed, numRuns: 500 });
  });
});
