/**
 * The TCP services `tzstack serve` offers, each built on the public socket
 * API (so they double as examples of it):
 *
 * - **echo** (port 7, RFC 862): every byte comes back; the peer's FIN is
 *   answered with ours once everything has been echoed (half-close works).
 * - **discard** (port 9, RFC 863): bytes are read and dropped.
 * - **HTTP/1.1** (port 80): an unmodified Node `http.Server` fed with
 *   tzstack sockets. Routes:
 *   - `GET /` — a small HTML page naming tzstack;
 *   - `GET /bytes/<n>` — `n` bytes (`Content-Length: n`, any n up to 2^53−1)
 *     of the pattern *byte i = (i × 31 + 7) mod 256*, streamed with
 *     backpressure from one shared 64 KiB chunk, never built in memory;
 *   - `POST /echo` — the request body back, same length and content type;
 *   - `HEAD` on the GET routes; 404 / 405 / 400 otherwise.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer, type TcpStackLike, type TzServer } from '../tcp/server.js';
import type { TzSocket } from '../tcp/socket.js';
import { patternChunk } from './pattern.js';

export { checkPattern, fillPattern, patternByte } from './pattern.js';

/** Which services to start (all default to on) and where. */
export interface ServicesOptions {
  /**
   * The services to run, by name (`'echo'`, `'discard'`, `'http'`), as
   * `tzstack serve --services` gives them; when present it decides, and the
   * booleans below are ignored.
   */
  services?: readonly string[];
  echo?: boolean;
  discard?: boolean;
  http?: boolean;
  echoPort?: number;
  discardPort?: number;
  /** Default 80. */
  httpPort?: number;
}

/** What {@link startServices} returns. */
export interface ServicesHandle {
  /** The listening servers, by service. */
  readonly servers: { echo?: TzServer; discard?: TzServer; http?: TzServer };
  /** The Node HTTP server behind the HTTP service, if started. */
  readonly httpServer?: HttpServer;
  /** Counters for `--stats`: connections accepted and HTTP requests by route. */
  readonly counters: { echo: number; discard: number; http: number; requests: Record<string, number> };
  /** A JSON-able snapshot of {@link counters} (for `--stats`). */
  stats(): unknown;
  /** Stop listening and close every open connection. */
  close(): Promise<void>;
}

const HOME_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>tzstack</title></head>
<body>
<h1>Hello from tzstack</h1>
<p>This page was served by Node's own <code>http</code> module running over <b>tzstack</b>,
a zero-copy TCP/IP stack written in TypeScript on top of DPDK.</p>
<ul>
<li><a href="/bytes/1048576">/bytes/&lt;n&gt;</a> &mdash; n bytes where byte i = (i &times; 31 + 7) mod 256</li>
<li><code>POST /echo</code> &mdash; echoes the request body</li>
</ul>
</body></html>
`;

/**
 * Route one HTTP request (the HTTP service's request listener; usable with any
 * `http.Server`).
 */
export function handleHttpRequest(req: IncomingMessage, res: ServerResponse, counts?: Record<string, number>): void {
  const url = req.url ?? '/';
  const path = url.split('?')[0];
  const method = req.method ?? 'GET';
  const count = (route: string): void => { if (counts) counts[route] = (counts[route] ?? 0) + 1; };
  res.setHeader('server', 'tzstack');
  if (path === '/') {
    count('/');
    if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(req, res, 'GET, HEAD');
    const body = Buffer.from(HOME_PAGE);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': body.length });
    res.end(method === 'HEAD' ? undefined : body);
    return;
  }
  const bytes = /^\/bytes\/(\d{1,16})$/.exec(path);
  if (bytes || path.startsWith('/bytes/')) {
    count('/bytes');
    if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(req, res, 'GET, HEAD');
    const n = bytes ? Number(bytes[1]) : NaN;
    if (!Number.isSafeInteger(n)) return simple(req, res, 400, 'bad length: use /bytes/<n> with 0 <= n < 2^53\n');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
    if (method === 'HEAD') { res.end(); return; }
    sendPattern(res, n);
    return;
  }
  if (path === '/echo') {
    count('/echo');
    if (method !== 'POST' && method !== 'PUT') return methodNotAllowed(req, res, 'POST, PUT');
    const headers: Record<string, string> = { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' };
    if (req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
    res.writeHead(200, headers);
    req.pipe(res);
    return;
  }
  count('other');
  simple(req, res, 404, `not found: ${path}\n`);
}

/** Stream `n` pattern bytes into `res`, waiting for 'drain' whenever write() says so. */
function sendPattern(res: ServerResponse, n: number): void {
  const chunk = patternChunk();
  let sent = 0;
  const pump = (): void => {
    while (sent < n) {
      if (res.destroyed) return;
      const take = Math.min(chunk.length, n - sent);
      sent += take;
      // Every chunk starts at a multiple of 256, where the pattern restarts.
      if (!res.write(take === chunk.length ? chunk : chunk.subarray(0, take))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  res.once('close', () => res.removeListener('drain', pump));
  pump();
}

function simple(req: IncomingMessage, res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  const body = Buffer.from(text);
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, ...extra });
  res.end(req.method === 'HEAD' ? undefined : body);
  req.resume();
}

function methodNotAllowed(req: IncomingMessage, res: ServerResponse, allow: string): void {
  simple(req, res, 405, `method ${req.method} not allowed\n`, { allow });
}

/**
 * A Node `http.Server` with the tzstack routes ({@link handleHttpRequest}),
 * not listening anywhere: feed it sockets with `server.emit('connection', s)`.
 */
export function createServicesHttpServer(counts?: Record<string, number>): HttpServer {
  return createHttpServer((req, res) => handleHttpRequest(req, res, counts));
}

function ignoreErrors(s: TzSocket): void {
  // A peer's reset is routine for a server; it must not crash the process.
  s.on('error', () => {});
}

/**
 * Start echo, discard and HTTP on `stack` (each on unless set to false).
 * @returns a handle whose `close()` stops them all
 */
export function startServices(stack: TcpStackLike, opts: ServicesOptions = {}): ServicesHandle {
  const servers: { echo?: TzServer; discard?: TzServer; http?: TzServer } = {};
  const counters = { echo: 0, discard: 0, http: 0, requests: {} as Record<string, number> };
  let httpServer: HttpServer | undefined;
  const on = (name: 'echo' | 'discard' | 'http'): boolean => (opts.services ? opts.services.includes(name) : opts[name] !== false);

  if (on('echo')) {
    servers.echo = createServer(stack, { allowHalfOpen: true }, (s) => {
      counters.echo++;
      ignoreErrors(s);
      s.setNoDelay(true);
      s.pipe(s);
    }).listen(opts.echoPort ?? 7);
  }
  if (on('discard')) {
    servers.discard = createServer(stack, { allowHalfOpen: true }, (s) => {
      counters.discard++;
      ignoreErrors(s);
      s.on('end', () => s.end());
      s.resume();
    }).listen(opts.discardPort ?? 9);
  }
  if (on('http')) {
    const hs = createServicesHttpServer(counters.requests);
    httpServer = hs;
    servers.http = createServer(stack, { allowHalfOpen: true, noDelay: true }, (s) => {
      counters.http++;
      hs.emit('connection', s);
    }).listen(opts.httpPort ?? 80);
  }

  return {
    servers,
    httpServer,
    counters,
    stats: () => JSON.parse(JSON.stringify(counters)) as unknown,
    async close(): Promise<void> {
      const waits: Promise<void>[] = [];
      for (const srv of Object.values(servers)) {
        if (!srv) continue;
        waits.push(new Promise<void>((r) => srv.close(() => r())));
        srv.destroyAll();
      }
      if (httpServer) {
        httpServer.closeAllConnections();
        httpServer.close();
      }
      await Promise.all(waits);
    },
  };
}
