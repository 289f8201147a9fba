#!/usr/bin/env node
/**
 * `npm run bench`: the same as `tzstack bench` (see cli.ts).
 */
import { formatHelp, oneLine, parseArgs, UsageError, EXIT_USAGE } from '../src/cli/args.js';
import { command } from './cli.js';

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs(command.spec, argv);
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`${e.message}\n`); return EXIT_USAGE; }
    throw e;
  }
  if (args.help) { process.stdout.write(formatHelp(command.spec)); return 0; }
  return command.run(args);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`tzstack bench: ${oneLine(e)}\n`);
    if (process.env.TZSTACK_DEBUG) console.error(e);
    process.exit(1);
  },
);
