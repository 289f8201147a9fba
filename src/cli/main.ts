#!/usr/bin/env node
/**
 * The `tzstack` program: dispatches to a subcommand module. To add one,
 * write `src/cli/<name>.ts` exporting `command: Command` (see args.ts) and
 * add one line to {@link COMMANDS}.
 */
import { readFileSync } from 'node:fs';
import { EXIT_USAGE, formatHelp, oneLine, parseArgs, UsageError, wrap, type Command } from './args.js';

interface CommandEntry {
  /** One line for the command list (kept here so `--help` loads no module). */
  summary: string;
  load: () => Promise<{ command: Command }>;
}

/** Subcommands, in the order `tzstack --help` lists them. */
const COMMANDS: Record<string, CommandEntry> = {
  serve: { summary: 'Run the stack on a device and answer ARP, ping and TCP services until stopped.', load: () => import('./serve.js') },
  fetch: { summary: 'Fetch an http:// URL with an HTTP/1.1 client over tzstack (body to -o or stdout).', load: () => import('./fetch.js') },
  drill: { summary: 'Run packetdrill scripts against tzstack TCP on a virtual clock: pass/fail/skipped per script.', load: () => import('./drill.js') },
  bench: { summary: 'Benchmark tzstack against Node net and iperf3 here, or across two hosts with --role (line-rate mode).', load: () => import('./bench.js') },
};

function version(): string {
  // Walk up to the package root: the layout differs between sources, dist/ and other build dirs.
  let dir = new URL('./', import.meta.url);
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tzstack' && pkg.version) return pkg.version;
    } catch { /* not here: go up */ }
    const up = new URL('../', dir);
    if (up.href === dir.href) return 'unknown';
    dir = up;
  }
}

function programHelp(): string {
  const lines = [
    'Usage: tzstack <command> [flags]',
    '',
    'tzstack is a zero-copy TCP/IP stack in TypeScript over DPDK.',
    '',
    'Commands:',
  ];
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  for (const [name, c] of Object.entries(COMMANDS)) {
    lines.push(`  ${name.padEnd(width)}  ${wrap(c.summary, 78, ' '.repeat(width + 4)).trimStart()}`);
  }
  lines.push('', 'Flags:', '  --help, -h   Show this help (or a command\'s: tzstack <command> --help).', '  --version    Print the version.',
    '', 'Run `tzstack <command> --help` for everything a command accepts.');
  return lines.join('\n') + '\n';
}

/**
 * Run the program on `argv` (the words after `tzstack`).
 * @returns the exit code: 0 success, 1 failure, 2 usage error
 */
export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    process.stderr.write(programHelp());
    return EXIT_USAGE;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    if (rest[0] && COMMANDS[rest[0]]) return main([rest[0], '--help']);
    process.stdout.write(programHelp());
    return 0;
  }
  if (first === '--version') {
    process.stdout.write(`tzstack ${version()}\n`);
    return 0;
  }
  const entry = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
  if (!entry) {
    const what = first.startsWith('-') ? `unknown flag ${first}` : `unknown command '${first}'`;
    process.stderr.write(`tzstack: ${what} (commands: ${Object.keys(COMMANDS).join(', ')}; see tzstack --help)\n`);
    return EXIT_USAGE;
  }
  const { command } = await entry.load();
  let args;
  try {
    args = parseArgs(command.spec, rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${e.message}\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
  if (args.help) {
    process.stdout.write(formatHelp(command.spec));
    return 0;
  }
  return command.run(args);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`tzstack: ${oneLine(e)}\n`);
    if (process.env.TZSTACK_DEBUG) console.error(e);
    process.exit(1);
  },
);
