/**
 * The measured window of a harness run under bench/callgrind.sh (or
 * bench/memif-callgrind.sh): valgrind starts with instrumentation off
 * (`--instr-atstart=no`) and TZSTACK_CALLGRIND=1, and the harness switches
 * it on for its window and off after it, so start-up, EAL set-up and JIT
 * warm-up are not counted.
 */
import { execFileSync } from 'node:child_process';

/** This process runs under callgrind with its instrumentation left to the harness. */
export const UNDER_CALLGRIND = process.env.TZSTACK_CALLGRIND === '1';

/** Switch callgrind's instrumentation of this process on or off (nothing outside callgrind). */
export function callgrindInstrument(on: boolean): void {
  if (UNDER_CALLGRIND) execFileSync('callgrind_control', ['-i', on ? 'on' : 'off', String(process.pid)], { stdio: 'ignore' });
}
