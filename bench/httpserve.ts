/**
 * The kernel peer of the HTTP benchmark as its own process, run inside a
 * network namespace: the same Node `http.Server` and routes that
 * `tzstack serve` runs over tzstack sockets (src/app/services.ts), here over
 * Node's own `net` and the Linux kernel.
 *   node httpserve.js <ip> <port>   prints {"event":"ready"}, serves until SIGTERM/SIGINT
 */
import { createServicesHttpServer } from '../src/app/services.js';

const [host, port] = process.argv.slice(2);
const server = createServicesHttpServer();
server.keepAliveTimeout = 60_000;
server.listen(Number(port), host, () => {
  process.stdout.write(`${JSON.stringify({ event: 'ready', port: Number(port) })}\n`);
});
const stop = (): void => { server.close(() => process.exit(0)); server.closeAllConnections(); };
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
