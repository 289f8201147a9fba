/**
 * A small strict command-line parser: every flag is declared, anything
 * undeclared or malformed is a {@link UsageError} naming the flag, which the
 * CLI reports on one line with exit code 2.
 */
import { parseCidr, parseIpv4 } from '../ip/addr.js';

/** Exit code for a usage error, as in BSD sysexits' EX_USAGE tradition of shells. */
export const EXIT_USAGE = 2;

/** A wrong command line. Its message is one line, naming the flag at fault. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** One `--flag` a command accepts. */
export interface FlagSpec {
  /** Name without the dashes: `dev` for `--dev`. */
  name: string;
  /** Placeholder for the value in help, e.g. `<devargs>`; absent for a boolean switch. */
  value?: string;
  /** One or more sentences for `--help`. */
  help: string;
  /** The command refuses to run without it. */
  required?: boolean;
  /** Default value (as typed on the command line), shown in help and parsed like a given value. */
  default?: string;
  /**
   * Turn the text into the value, throwing an Error whose message explains
   * what was expected; the parser prefixes it with the flag's name.
   */
  parse?: (text: string) => unknown;
  /** Whether the flag may be given several times (values collected in an array). */
  repeatable?: boolean;
  /** A one-letter alias: `o` lets `-o x` stand for `--output x`. */
  short?: string;
}

/** A positional argument. */
export interface PositionalSpec {
  name: string;
  help: string;
  required?: boolean;
  /** Last positional only: takes every remaining argument. */
  variadic?: boolean;
}

/** A subcommand's interface, for parsing and for `--help`. */
export interface CommandSpec {
  /** `serve`, `fetch`, ... */
  name: string;
  /** One line for the program's command list. */
  summary: string;
  /** Paragraphs printed under the usage line. */
  description?: string;
  flags: FlagSpec[];
  positionals?: PositionalSpec[];
  /** Example command lines. */
  examples?: string[];
}

/** The result of {@link parseArgs}. */
export interface ParsedArgs {
  /** Parsed flag values by name (defaults applied); booleans are `true` when given. */
  values: Record<string, unknown>;
  /** Positional arguments in order. */
  positionals: string[];
  /** `--help` or `-h` was given: print help and do nothing else. */
  help: boolean;
}

/**
 * Parse `argv` (the words after the subcommand) against `spec`. Accepts
 * `--flag value`, `--flag=value`, `--switch`, `-h`/`--help` and `--` before
 * positionals that start with a dash.
 * @throws UsageError on an unknown flag, a missing or bad value, a missing
 *   required flag, a repeated flag, or a wrong number of positionals
 */
export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const flags = new Map(spec.flags.map((f) => [f.name, f]));
  const values: Record<string, unknown> = {};
  const positionals: string[] = [];
  const cmd = `tzstack ${spec.name}`;
  const end = argv.indexOf('--');
  // Help wins over every other mistake on the line.
  if ((end < 0 ? argv : argv.slice(0, end)).some((a) => a === '-h' || a === '--help')) return { values: {}, positionals: [], help: true };
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    if (onlyPositionals || !a.startsWith('-') || a === '-') { positionals.push(a); continue; }
    const alias = /^-[A-Za-z]$/.test(a) ? spec.flags.find((f) => f.short === a[1]) : undefined;
    if (alias) a = `--${alias.name}`;
    if (a === '--') { onlyPositionals = true; continue; }
    if (!a.startsWith('--')) throw new UsageError(`${cmd}: unknown option ${a} (flags are --long; see ${cmd} --help)`);
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const f = flags.get(name);
    if (!f) throw new UsageError(`${cmd}: unknown flag --${name} (see ${cmd} --help)`);
    let text: string | undefined;
    if (f.value === undefined) {
      if (eq >= 0) throw new UsageError(`${cmd}: --${name} takes no value`);
    } else if (eq >= 0) {
      text = a.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) throw new UsageError(`${cmd}: --${name} needs a value ${f.value}`);
      text = argv[++i];
    }
    const v = text === undefined ? true : convert(cmd, f, text);
    if (f.repeatable) {
      ((values[name] ??= []) as unknown[]).push(v);
    } else {
      if (name in values) throw new UsageError(`${cmd}: --${name} given more than once`);
      values[name] = v;
    }
  }
  for (const f of spec.flags) {
    if (f.name in values) continue;
    if (f.required) throw new UsageError(`${cmd}: missing --${f.name} ${f.value ?? ''}`.trimEnd());
    if (f.default !== undefined) values[f.name] = f.repeatable ? [convert(cmd, f, f.default)] : convert(cmd, f, f.default);
  }
  const pos = spec.positionals ?? [];
  const needed = pos.filter((p) => p.required).length;
  if (positionals.length > pos.length && !pos[pos.length - 1]?.variadic) throw new UsageError(`${cmd}: unexpected argument '${positionals[pos.length]}'`);
  if (positionals.length < needed) throw new UsageError(`${cmd}: missing <${pos[positionals.length].name}>`);
  return { values, positionals, help: false };
}

function convert(cmd: string, f: FlagSpec, text: string): unknown {
  if (!f.parse) return text;
  try {
    return f.parse(text);
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    throw new UsageError(`${cmd}: --${f.name}: ${msg}`);
  }
}

/** Help text for one command: usage, description, flags, examples. */
export function formatHelp(spec: CommandSpec): string {
  const usage = [`tzstack ${spec.name}`];
  for (const f of spec.flags) {
    const w = f.value ? `--${f.name} ${f.value}` : `--${f.name}`;
    usage.push(f.required ? w : `[${w}]`);
  }
  for (const p of spec.positionals ?? []) usage.push((p.required ? `<${p.name}>` : `[<${p.name}>]`) + (p.variadic ? '...' : ''));
  const out = [`Usage: ${wrap(usage.join(' '), 78, '  ').trimStart()}`, '', wrap(spec.summary, 78, '')];
  if (spec.description) out.push('', wrap(spec.description, 78, ''));
  if ((spec.positionals ?? []).length) {
    out.push('', 'Arguments:');
    for (const p of spec.positionals ?? []) out.push(`  <${p.name}>`, wrap(p.help, 78, '      '));
  }
  out.push('', 'Flags:');
  for (const f of [...spec.flags, { name: 'help', help: 'Show this help and exit.' } as FlagSpec]) {
    out.push(`  ${f.short ? `-${f.short}, ` : ''}--${f.name}${f.value ? ` ${f.value}` : ''}${f.required ? '  (required)' : ''}`);
    const def = f.default !== undefined ? ` Default: ${f.default}.` : '';
    out.push(wrap(f.help + def, 78, '      '));
  }
  if (spec.examples?.length) {
    out.push('', 'Examples:');
    for (const e of spec.examples) out.push(`  ${e}`);
  }
  return out.join('\n') + '\n';
}

/** Word-wrap `text` to `width` columns, each line starting with `indent`. */
export function wrap(text: string, width: number, indent: string): string {
  return text.split('\n').map((para) => {
    const lines: string[] = [];
    let line = indent;
    for (const word of para.split(/\s+/).filter(Boolean)) {
      if (line.length > indent.length && line.length + 1 + word.length > width) {
        lines.push(line);
        line = indent;
      }
      line += (line.length > indent.length ? ' ' : '') + word;
    }
    lines.push(line);
    return lines.join('\n');
  }).join('\n');
}

// ---- value parsers for FlagSpec.parse ----

/** An integer in [min, max]. */
export function intIn(min: number, max: number): (s: string) => number {
  return (s) => {
    if (!/^-?\d+$/.test(s)) throw new Error(`'${s}' is not an integer`);
    const n = Number(s);
    if (n < min || n > max) throw new Error(`${n} is out of range ${min}..${max}`);
    return n;
  };
}

/** `a.b.c.d/len`, returned as given after validation. */
export function cidrArg(s: string): string {
  try {
    parseCidr(s);
  } catch {
    throw new Error(`'${s}' is not an address with a prefix length (a.b.c.d/len)`);
  }
  if (!/\/\d+$/.test(s)) throw new Error(`'${s}' needs a prefix length (a.b.c.d/len)`);
  return s;
}

/** A dotted-quad IPv4 address, returned as given after validation. */
export function ipv4Arg(s: string): string {
  try {
    parseIpv4(s);
  } catch {
    throw new Error(`'${s}' is not an IPv4 address (a.b.c.d)`);
  }
  return s;
}

/** A comma-separated subset of `choices` (`all` and `none` allowed). */
export function listOf(choices: readonly string[]): (s: string) => string[] {
  return (s) => {
    if (s === 'all') return [...choices];
    if (s === 'none' || s === '') return [];
    const items = s.split(',').map((x) => x.trim());
    for (const x of items) if (!choices.includes(x)) throw new Error(`unknown '${x}' (choose from ${choices.join(', ')}, all, none)`);
    return [...new Set(items)];
  };
}

/** A non-empty string. */
export function nonEmpty(s: string): string {
  if (s.trim() === '') throw new Error('must not be empty');
  return s;
}

/**
 * A subcommand module: `src/cli/<name>.ts` exports `command` of this type
 * and main.ts lists it in its table.
 */
export interface Command {
  spec: CommandSpec;
  /** Run with parsed arguments; resolves to the process exit code. */
  run(args: ParsedArgs): Promise<number>;
}

/** The first line of an error's message, for one-line CLI errors (without a redundant `tzstack: `). */
export function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0].replace(/^tzstack: /, '');
}
