/**
 * `tzstack serve`: bring the stack up on a device, answer ARP and ping (and
 * TCP echo, discard and HTTP) until SIGINT/SIGTERM, then shut down
 * cleanly and write every counter as JSON.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { listOf, oneLine, type Command, type ParsedArgs } from './args.js';
import { startServices, type ServicesHandle } from '../app/services.js';
import { bringUp, stackFlagValues, STACK_FLAGS, type ShutdownReport } from './bringup.js';

/** TCP services `serve` can run, with their ports. */
export const SERVICES = { echo: 7, discard: 9, http: 80 } as const;
export type ServiceName = keyof typeof SERVICES;

/** Resolve on the first SIGINT or SIGTERM; a second one exits at once. */
function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const first = (sig: NodeJS.Signals): void => {
      process.off('SIGINT', first);
      process.off('SIGTERM', first);
      const again = (): void => {
        process.stderr.write('tzstack: second signal, exiting without cleanup\n');
        process.exit(130);
      };
      process.on('SIGINT', again);
      process.on('SIGTERM', again);
      resolve(sig);
    };
    process.on('SIGINT', first);
    process.on('SIGTERM', first);
  });
}

/** Write `data` as JSON so that a reader never sees half a file. */
function writeJson(path: string, data: unknown): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n');
  renameSync(tmp, path);
}

async function run(args: ParsedArgs): Promise<number> {
  const o = stackFlagValues(args.values);
  const wanted = args.values.services as ServiceName[];
  const statsPath = args.values.stats as string | undefined;
  // Signals that arrive while starting up still stop us cleanly afterwards.
  const signal = waitForSignal();
  let b;
  try {
    b = await bringUp(o);
  } catch (e) {
    process.stderr.write(`tzstack serve: ${oneLine(e)}\n`);
    return 1;
  }
  let services: ServicesHandle | undefined;
  try {
    b.stack.start();
    if (wanted.length > 0) {
      services = startServices(b.stack, { services: wanted });
      process.stdout.write(`tzstack: tcp services ${wanted.map((s) => `${s}:${SERVICES[s]}`).join(' ')}\n`);
    }
  } catch (e) {
    process.stderr.write(`tzstack serve: ${oneLine(e)}\n`);
    await b.shutdown().catch(() => undefined);
    return 1;
  }
  // One turn of the event loop: the first poll ran, so the port is up and the
  // gratuitous ARP is on the wire before anyone is told we are ready.
  await new Promise((r) => setImmediate(r));
  process.stdout.write(`tzstack: ready ${b.describe()}\n`);

  const sig = await signal;
  process.stdout.write(`tzstack: ${sig}, stopping\n`);
  let servicesStats: unknown;
  if (services) {
    try {
      await services.close();
      servicesStats = services.stats();
    } catch (e) {
      process.stderr.write(`tzstack: closing services: ${oneLine(e)}\n`);
    }
  }
  const report: ShutdownReport = await b.shutdown();
  if (servicesStats !== undefined) report.services = servicesStats;
  if (statsPath) {
    try {
      writeJson(statsPath, report);
    } catch (e) {
      process.stderr.write(`tzstack serve: writing --stats: ${oneLine(e)}\n`);
      return 1;
    }
  }
  const p = report.port;
  process.stdout.write(`tzstack: stopped; device rx ${p.rxPackets} tx ${p.txPackets} packets, `
    + `${report.pool.inUseAtExit} of ${report.pool.capacity} mbufs in use at exit\n`);
  return 0;
}

/** The `serve` subcommand. */
export const command: Command = {
  spec: {
    name: 'serve',
    summary: 'Run the stack on a device: answer ARP, ping and the TCP services echo, discard and HTTP until SIGINT or SIGTERM.',
    description: "Prints a line containing 'ready' once the port is up and a gratuitous ARP was sent. "
      + 'On SIGINT or SIGTERM it stops polling, closes the stack (every packet buffer returned), writes its counters '
      + '(stack, device, impairment, pool in use at exit) as JSON to --stats if given, and exits 0. '
      + 'Runs as root for DPDK devices; the device must exist (e.g. a veth end for net_af_packet).',
    flags: [
      ...STACK_FLAGS,
      { name: 'stats', value: '<file>', help: 'Write all counters as JSON to this file on exit.' },
      {
        name: 'services', value: '<list>', default: 'all', parse: listOf(Object.keys(SERVICES)),
        help: 'TCP services to run: a comma-separated subset of echo (port 7), discard (9), http (80: GET /, GET /bytes/<n>, POST /echo); all or none.',
      },
    ],
    examples: [
      'tzstack serve --dev net_af_packet0,iface=veth-near --ip 10.73.0.1/24 --stats /tmp/tz.json',
      'tzstack serve --dev net_tap0,iface=tz0 --ip 10.73.1.1/24 --pcap /tmp/tz.pcap --impair loss=0.02,seed=7',
      'tzstack serve --dev mem --ip 10.0.0.1/24',
    ],
  },
  run,
};
