/**
 * The kernel at a NIC's MTU: two network namespaces joined by a veth pair
 * at MTU 1500 (GSO/GRO left as the kernel sets them), for iperf3 and Node
 * `net` RPC with server and client in different namespaces. The namespaces
 * are named with this process's pid, hold the only addresses used, and are
 * removed when the run ends (or this process exits).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { iperf3, inNetns, runCapture, type IperfResult } from './bulk.js';
import type { RpcParams, RpcResult } from './rpc.js';

/** Two namespaces over one veth pair. */
export interface VethNet {
  serverNs: string;
  clientNs: string;
  serverIp: string;
  clientIp: string;
  mtu: number;
  /** Delete both namespaces (and with them the veth pair); idempotent. */
  remove(): void;
}

let seq = 0;

const ip = (args: string[]): void => { execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] }); };

/** Create the namespaces and the veth pair; throws (after cleaning up) when `ip` refuses. */
export function createVeth(mtu = 1500): VethNet {
  const id = `${process.pid}${seq++ ? `x${seq}` : ''}`;
  const serverNs = `tzb-${id}-s`;
  const clientNs = `tzb-${id}-c`;
  const vs = `tzb${id}s`.slice(0, 15);
  const vc = `tzb${id}c`.slice(0, 15);
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    process.removeListener('exit', remove);
    for (const ns of [serverNs, clientNs]) {
      try { ip(['netns', 'del', ns]); } catch { /* already gone */ }
    }
  };
  process.once('exit', remove);
  try {
    ip(['netns', 'add', serverNs]);
    ip(['netns', 'add', clientNs]);
    ip(['link', 'add', vs, 'netns', serverNs, 'type', 'veth', 'peer', 'name', vc, 'netns', clientNs]);
    const net = { serverNs, clientNs, serverIp: '10.77.0.1', clientIp: '10.77.0.2', mtu, remove };
    for (const [ns, dev, addr] of [[serverNs, vs, net.serverIp], [clientNs, vc, net.clientIp]]) {
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev]);
      ip(['-n', ns, 'link', 'set', dev, 'mtu', String(mtu), 'up']);
    }
    return net;
  } catch (e) {
    remove();
    const err = (e as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`creating the veth namespaces: ${err || (e as Error).message}`);
  }
}

/** iperf3 from the client namespace to a server in the other. */
export function vethIperf3(net: VethNet, seconds: number): Promise<IperfResult | { error: string }> {
  return iperf3(seconds, { host: net.serverIp, serverNs: net.serverNs, clientNs: net.clientNs });
}

const NETRPC = (): string => fileURLToPath(new URL('./netrpc.js', import.meta.url));

/** Node `net` RPC: an echo server process in the server namespace, one client process per figure in the other. */
export async function vethNodeRpc(net: VethNet, params: RpcParams[]): Promise<Array<RpcResult | { error: string }>> {
  const port = 7007;
  const [cmd, args] = inNetns(net.serverNs, process.execPath, [NETRPC(), 'serve', net.serverIp, String(port)]);
  const server: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((res, rej) => {
      let out = '';
      const t = setTimeout(() => rej(new Error('veth echo server: not ready after 15 s')), 15000);
      server.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('"ready"')) { clearTimeout(t); res(); } });
      server.once('exit', (c) => { clearTimeout(t); rej(new Error(`veth echo server exited with ${c}`)); });
    });
    const results: Array<RpcResult | { error: string }> = [];
    for (const p of params) {
      const [ccmd, cargs] = inNetns(net.clientNs, process.execPath,
        [NETRPC(), 'client', net.serverIp, String(port), String(p.size), String(p.conns), String(p.warmupMs), String(p.durationMs)]);
      const r = await runCapture(ccmd, cargs, p.warmupMs + p.durationMs + 30000);
      const line = r.out.split('\n').find((l) => l.startsWith('{'));
      results.push(r.code === 0 && line ? JSON.parse(line) as RpcResult : { error: `client exited with ${r.code}: ${r.err.trim().split('\n')[0] ?? ''}` });
    }
    return results;
  } finally {
    if (server.exitCode === null) {
      const gone = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await gone;
    }
  }
}
