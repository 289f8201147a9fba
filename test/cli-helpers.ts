/**
 * Running the `tzstack` program from tests: the compiled main.js next to the
 * compiled tests, spawned with the current node.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Path of the compiled CLI entry point. */
export const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Run `tzstack <args>` to completion. */
export function tzstack(args: string[], timeoutMs = 20000): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** A `tzstack` process running in the background. */
export interface Running {
  child: ChildProcess;
  /** Everything printed so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Resolve once stdout matches `re`; reject if the process exits first or `timeoutMs` passes. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolve with the exit code (or signal name) once the process ends. */
  exited(): Promise<number | string>;
  /** Kill it (SIGKILL) if still running. */
  kill(): void;
}

/** Start `tzstack <args>` in the background. */
export function startTzstack(args: string[]): Running {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let status: number | string | undefined;
  const waiters: Array<() => void> = [];
  const wake = (): void => { for (const w of waiters.splice(0)) w(); };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; wake(); });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; wake(); });
  const done = new Promise<number | string>((resolve) => {
    child.on('exit', (code, sig) => { status = code ?? sig ?? -1; wake(); resolve(status); });
  });
  return {
    child,
    get stdout() { return out; },
    get stderr() { return err; },
    waitFor(re, timeoutMs = 30000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}; stdout: ${out} stderr: ${err}`)), timeoutMs);
        const check = (): void => {
          if (re.test(out)) { clearTimeout(timer); resolve(); return; }
          if (status !== undefined) { clearTimeout(timer); reject(new Error(`exited (${status}) before ${re}; stdout: ${out} stderr: ${err}`)); return; }
          waiters.push(check);
        };
        check();
      });
    },
    exited: () => done,
    kill() { if (status === undefined) child.kill('SIGKILL'); },
  };
}
