/**
 * One side of Node `net` RPC as its own process, for running the kernel
 * peer inside a network namespace (`ip netns exec NS node netrpc.js ...`):
 *   serve <ip> <port>                 echo server; prints {"event":"ready"}, runs until SIGTERM
 *   client <ip> <port> <size> <conns> <warmupMs> <durationMs>   prints the RpcResult as one JSON line
 */
import { nodeEchoServer, nodeRpcClient } from './rpc.js';

async function main(argv: string[]): Promise<void> {
  const [role, host, port] = argv;
  if (role === 'serve') {
    const srv = await nodeEchoServer(host, Number(port));
    process.stdout.write(`${JSON.stringify({ event: 'ready', port: srv.port })}\n`);
    await new Promise<void>((r) => { process.once('SIGTERM', () => r()); process.once('SIGINT', () => r()); });
    await srv.close();
    return;
  }
  if (role === 'client') {
    const [size, conns, warmupMs, durationMs] = argv.slice(3).map(Number);
    const r = await nodeRpcClient(host, Number(port), { size, conns, warmupMs, durationMs });
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  throw new Error('usage: netrpc.js serve <ip> <port> | client <ip> <port> <size> <conns> <warmupMs> <durationMs>');
}

main(process.argv.slice(2)).then(() => process.exit(0), (e: unknown) => {
  process.stderr.write(`netrpc: ${(e as Error).message}\n`);
  process.exit(1);
});
