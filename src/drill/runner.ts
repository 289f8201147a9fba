/**
 * Running many scripts: file discovery, defaults-file lookup, profile
 * choice. Shared by the CLI (`tzstack drill`) and the test suite.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { builtinProfiles, DrillProfile, loadDefaults } from './defaults.js';
import { runScriptText } from './interpreter.js';
import type { ScriptReport } from './report.js';

/** Options of {@link runFiles}. */
export interface RunFilesOptions {
  /** Profile name (default `linux`); a script's `// drill: profile=` directive overrides it. */
  profile?: string;
  /** Defaults file; when absent, `defaults.conf` next to each script is used if it exists. */
  defaults?: string;
  /** `key=value` settings over the profile (after the defaults file and directives). */
  set?: Array<[string, string]>;
  log?: (line: string) => void;
}

/** Expand directories to the `.pkt` files inside (sorted), keep files as given. */
export function expandScripts(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (existsSync(p) && statSync(p).isDirectory()) {
      for (const f of readdirSync(p).filter((n) => n.endsWith('.pkt')).sort()) out.push(join(p, f));
    } else {
      out.push(p);
    }
  }
  return out;
}

const profileCache = new Map<string, Record<string, DrillProfile>>();

function profilesFor(script: string, defaults: string | undefined): Record<string, DrillProfile> {
  const file = defaults ?? join(dirname(script), 'defaults.conf');
  if (!existsSync(file)) {
    if (defaults !== undefined) throw new Error(`defaults file not found: ${defaults}`);
    return builtinProfiles();
  }
  let p = profileCache.get(file);
  if (!p) { p = loadDefaults(file); profileCache.set(file, p); }
  return p;
}

/** Run each script and return its report (a missing file is a failure, not an exception). */
export function runFiles(paths: string[], opts: RunFilesOptions = {}): ScriptReport[] {
  const reports: ScriptReport[] = [];
  for (const file of expandScripts(paths)) {
    const profiles = profilesFor(file, opts.defaults);
    const name = opts.profile ?? 'linux';
    const profile = profiles[name];
    if (!profile) throw new Error(`unknown profile '${name}' (known: ${Object.keys(profiles).join(', ')})`);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      reports.push({ file, result: { status: 'fail', line: 0, message: `cannot read: ${(e as Error).message}`, events: 0, virtualMs: 0, profile: name, notes: [] } });
      continue;
    }
    opts.log?.(`== ${file}`);
    reports.push({ file, result: runScriptText(text, { profile, profiles, overrides: opts.set, log: opts.log }) });
  }
  return reports;
}
