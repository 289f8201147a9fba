import { expect } from 'chai';
import { parsePython, PyEnv, PySyntaxError, PyUnsupported, runPython } from '../src/drill/python.js';
import { runScriptText } from '../src/drill/interpreter.js';
import { parseDefaults } from '../src/drill/defaults.js';

const linux = (): ReturnType<typeof parseDefaults>['linux'] => parseDefaults('', 'test').linux;

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
  const open = `
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    bind(3, ..., ...) = 0
+0    listen(3, 1) = 0
+0    < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 200 ecr 100,nop,wscale 8>
+.01  < . 1:1(0) ack 1 win 514 <nop,nop,TS val 110 ecr 200>
+0    accept(3, ..., ...) = 4
`;
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
