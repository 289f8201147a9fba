/**
 * `tzstack serve`: bring the stack up on a device, answer ARP and ping (and
 * TCP echo, discard and HTTP) until SIGINT/SIGTERM, then shut down
 * cleanly and write every counter as JSON.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { intIn, listOf, oneLine, type Command, type ParsedArgs } from './args.js';
import { startServices, type ServicesHandle } from '../app/services.js';
import { bringUp, formatMac, MEM_DEV, stackFlagValues, STACK_FLAGS, type ShutdownReport, type StackFlagValues } from './bringup.js';
import type { ShardedStack } from '../shard/sharded.js';

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
  if (args.values.shards !== undefined) return runSharded(o, args.values.shards as number, wanted, statsPath);
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

/** A shard's stats as the shards report them (the parts printed here). */
interface ShardStatsView {
  port?: { rxPackets?: number; txPackets?: number };
  steer?: Record<string, number>;
  app?: { services?: { echo?: number; discard?: number; http?: number } };
}

/** One line per shard: what it took from its queue and what it served. */
function shardLine(i: number, s: Record<string, unknown> | null | undefined): string {
  if (!s) return `shard ${i}: not running`;
  const v = s as ShardStatsView;
  const sv = v.app?.services ?? {};
  const st = v.steer ?? {};
  return `shard ${i}: rx ${v.port?.rxPackets ?? 0} tx ${v.port?.txPackets ?? 0} packets, connections echo ${sv.echo ?? 0} `
    + `discard ${sv.discard ?? 0} http ${sv.http ?? 0}, handed over out ${st.forwardedOut ?? 0} in ${st.forwardedIn ?? 0}`;
}

/**
 * `serve --shards N`: the same services on a {@link ShardedStack}, one
 * worker thread per device queue, each with its own stack; connections land
 * where the device puts them. `--stats` gets the summed counters under
 * `stack`, each shard's under `shards`, and the layout under `info`.
 */
async function runSharded(o: StackFlagValues, shards: number, wanted: ServiceName[], statsPath: string | undefined): Promise<number> {
  if (o.dev === MEM_DEV) {
    process.stderr.write(`tzstack serve: --shards needs a DPDK device with ${shards} queue(s) (not --dev ${MEM_DEV}), e.g. net_af_packet0,iface=veth0,qpairs=${shards}\n`);
    return 2;
  }
  if (o.impair) {
    process.stderr.write('tzstack serve: --impair is not available with --shards (each shard polls its device queue directly)\n');
    return 2;
  }
  const signal = waitForSignal();
  let sharded: ShardedStack;
  try {
    const { Dpdk, isPciAddress } = await import('../pmd/dpdk.js');
    const { ShardedStack } = await import('../shard/sharded.js');
    const pci = isPciAddress(o.dev);
    const dpdk = Dpdk.init(pci ? { memMb: o.mem, hugepages: true, pci: [o.dev] } : { memMb: o.mem });
    try {
      sharded = await ShardedStack.start({
        dpdk, dev: o.dev, ip: o.ip, gateway: o.gateway, shards,
        module: new URL('./serve-shard.js', import.meta.url), data: { services: wanted },
        mbufs: Math.min(65535, o.mbufs * shards), pcap: o.pcap,
        portOptions: o.mtu !== undefined ? { mtu: o.mtu } : {},
        stack: {
          idleBackoff: o.busyPoll !== true,
          ip6: o.ip6 !== undefined || o.gateway6 !== undefined ? { addresses: o.ip6 ?? [], gateway: o.gateway6 } : undefined,
          tcp: {
            ...(o.synCookies !== undefined ? { synCookies: o.synCookies } : {}),
            ...(o.synBacklog !== undefined ? { synBacklog: o.synBacklog } : {}),
            ...(o.backlog !== undefined ? { backlog: o.backlog } : {}),
          },
        },
      });
    } catch (e) {
      dpdk.close();
      throw e;
    }
  } catch (e) {
    process.stderr.write(`tzstack serve: ${oneLine(e)}\n`);
    return 1;
  }
  sharded.on('shardExit', (e: { shard: number; message: string; drained: number }) => {
    process.stderr.write(`tzstack: shard ${e.shard} ended (${oneLine(new Error(e.message))}); its queue was drained (${e.drained} frames), the other shards keep serving\n`);
  });
  const info = sharded.info();
  if (wanted.length > 0) process.stdout.write(`tzstack: tcp services ${wanted.map((s) => `${s}:${SERVICES[s]}`).join(' ')} on each of ${shards} shard(s)\n`);
  process.stdout.write(`tzstack: ready ${o.ip} mac ${formatMac(sharded.port.caps.mac)} on ${o.dev}, ${shards} shards `
    + `(steering ${String(info.steering)}, lcores ${(info.lcores as number[]).join(',')})${o.pcap ? ` (capturing to ${o.pcap})` : ''}\n`);

  // SIGUSR2: one line per shard now, without stopping (what the device spread where).
  const printShards = (): void => {
    void sharded.stats().then((st) => {
      for (let i = 0; i < shards; i++) process.stdout.write(`tzstack: ${shardLine(i, st.shards[i])}\n`);
    });
  };
  process.on('SIGUSR2', printShards);
  const sig = await signal;
  process.off('SIGUSR2', printShards);
  process.stdout.write(`tzstack: ${sig}, stopping\n`);
  // The last counters of every shard (a shard that no longer answers is not waited for: close reports it).
  const st = await Promise.race([sharded.stats(), new Promise<undefined>((r) => { const t = setTimeout(() => r(undefined), 3000); t.unref(); })]).catch(() => undefined);
  const rep = await sharded.close();
  const last = rep.shards.map((s, i) => s ?? st?.shards[i] ?? null);
  const { sumStats } = await import('../shard/sharded.js');
  const total = sumStats(last.filter((x): x is Record<string, unknown> => x !== null));
  const report: ShutdownReport = {
    dev: o.dev, ip: o.ip, shards,
    info: { ...info, alive: sharded.alive(), exits: rep.exits },
    stack: total,
    port: rep.port,
    perShard: last,
    services: (total.app as { services?: unknown } | undefined)?.services,
    pool: { name: sharded.pool.name, capacity: sharded.pool.capacity, inUseAtExit: rep.mbufsInUse },
    ...(rep.pcap ? { pcap: { ...rep.pcap, truncated: (total.pcap as { truncated?: number } | undefined)?.truncated ?? 0 } } : {}),
  };
  sharded.dpdk.close();
  if (statsPath) {
    try {
      writeJson(statsPath, report);
    } catch (e) {
      process.stderr.write(`tzstack serve: writing --stats: ${oneLine(e)}\n`);
      return 1;
    }
  }
  for (let i = 0; i < shards; i++) process.stdout.write(`tzstack: ${shardLine(i, last[i])}\n`);
  process.stdout.write(`tzstack: stopped; device rx ${rep.port.rxPackets} tx ${rep.port.txPackets} packets, `
    + `${rep.mbufsInUse} of ${sharded.pool.capacity} mbufs in use at exit\n`);
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
        name: 'shards', value: '<n>', parse: intIn(1, 64),
        help: 'Run n shards: one worker thread per device queue, each with its own stack serving the same services on the same address '
          + '(the device needs n queues: qpairs=n for net_af_packet, a NIC with RSS). --mbufs is then per shard; --stats holds the sum '
          + 'under stack and each shard under perShard; SIGUSR2 prints a line per shard while it runs; --pcap writes one capture of the '
          + 'whole device. Not with --impair or --dev mem.',
      },
      {
        name: 'services', value: '<list>', default: 'all', parse: listOf(Object.keys(SERVICES)),
        help: 'TCP services to run: a comma-separated subset of echo (port 7), discard (9), http (80: GET /, GET /bytes/<n>, POST /echo); all or none.',
      },
    ],
    examples: [
      'tzstack serve --dev net_af_packet0,iface=veth-near --ip 10.73.0.1/24 --stats /tmp/tz.json',
      'tzstack serve --dev net_tap0,iface=tz0 --ip 10.73.1.1/24 --pcap /tmp/tz.pcap --impair loss=0.02,seed=7',
      'tzstack serve --dev mem --ip 10.0.0.1/24',
      'tzstack serve --dev net_af_packet0,iface=veth-near,qpairs=2 --shards 2 --ip 10.73.0.1/24 --stats /tmp/tz.json',
    ],
  },
  run,
};
