/**
 * `tzstack serve --stats` carries every drop counter the port has (device
 * drops by cause, transmit refusals) and the stack's transmit queue.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTzstack, type Running } from './cli-helpers.js';

describe('cli: serve --stats reports the port drops and the transmit queue', () => {
  let dir: string;
  let proc: Running | undefined;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'tzT-clistats-')); });
  afterEach(() => {
    proc?.kill();
    proc = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes rxMissed, rxNoMbuf, rxErrors, rxKernelDrops, txErrors, txRefused and stack.txQueue', async () => {
    const stats = join(dir, 'stats.json');
    proc = startTzstack(['serve', '--dev', 'mem', '--ip', '10.73.9.1/24', '--stats', stats]);
    await proc.waitFor(/ready/);
    proc.child.kill('SIGTERM');
    expect(await proc.exited()).to.equal(0);
    const s = JSON.parse(readFileSync(stats, 'utf8')) as { port: Record<string, number>; stack: { port: Record<string, number>; txQueue: Record<string, number> } };
    for (const k of ['rxDropped', 'rxMissed', 'rxNoMbuf', 'rxErrors', 'rxKernelDrops', 'txDropped', 'txErrors', 'txRefused']) {
      expect(s.port, k).to.have.property(k, 0);
      expect(s.stack.port, k).to.have.property(k);
    }
    expect(s.stack.txQueue).to.include({ deferred: 0, overflowDrops: 0, closeDrops: 0, backlog: 0 });
  });
});
