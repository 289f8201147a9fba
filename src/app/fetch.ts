/**
 * An HTTP/1.1 client over tzstack: Node's own `http.request`, with
 * `createConnection` handing it a tzstack socket instead of a kernel one.
 * Used by `tzstack fetch`; usable as a library.
 */
import { createHash } from 'node:crypto';
import { request, type IncomingHttpHeaders } from 'node:http';
import type { Writable } from 'node:stream';
import { parseIpv4 } from '../ip/addr.js';
import { parseIpv6 } from '../ip/addr6.js';
import { connect, type TcpStackLike } from '../tcp/server.js';
import type { TzSocket } from '../tcp/socket.js';

/** Options of {@link httpFetch}. */
export interface FetchOptions {
  /** Default GET. */
  method?: string;
  headers?: Record<string, string | number>;
  /** Request body (sent with Content-Length). */
  body?: Uint8Array;
  /** Where the response body goes (not ended when it is `process.stdout`). Default: discarded. */
  output?: Writable;
  /** End `output` when the body is complete (default true, except for process.stdout). */
  endOutput?: boolean;
  /** Called as body bytes arrive. */
  onProgress?: (received: number, total: number | undefined) => void;
  /** Also compute the body's SHA-256. */
  sha256?: boolean;
  /** Give up when no byte arrives for this long (ms of wall time; default 30 000; 0 = never). */
  idleTimeoutMs?: number;
}

/** What {@link httpFetch} resolves to. */
export interface FetchResult {
  status: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  /** Body bytes received. */
  bytes: number;
  /** Hex SHA-256 of the body, when asked for. */
  sha256?: string;
  /** The socket's local port (for logs). */
  localPort?: number;
}

/** A parsed `http://a.b.c.d[:port]/path` or `http://[v6addr][:port]/path` URL (tzstack resolves no names); `host` without brackets. */
export interface HttpTarget {
  host: string;
  port: number;
  path: string;
}

/**
 * Parse a URL for {@link httpFetch}.
 * @throws Error for anything but `http:` with a dotted-quad or bracketed IPv6 host
 */
export function parseHttpUrl(text: string): HttpTarget {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new Error(`not a URL: ${text}`);
  }
  if (u.protocol !== 'http:') throw new Error(`only http:// URLs are supported, not ${u.protocol}`);
  // An IPv6 literal comes bracketed (RFC 3986 §3.2.2): http://[fd00::2]:8000/
  const v6 = u.hostname.startsWith('[') && u.hostname.endsWith(']');
  const host = v6 ? u.hostname.slice(1, -1) : u.hostname;
  try {
    if (v6) parseIpv6(host); else parseIpv4(host);
  } catch {
    throw new Error(`the host must be an IPv4 or [IPv6] address (tzstack does no DNS): ${u.hostname}`);
  }
  return { host, port: u.port ? Number(u.port) : 80, path: `${u.pathname}${u.search}` };
}

/** The Host header value of a target (an IPv6 address in brackets). */
function hostHeader(t: HttpTarget): string {
  const h = t.host.includes(':') ? `[${t.host}]` : t.host;
  return t.port === 80 ? h : `${h}:${t.port}`;
}

/**
 * Fetch `url` over `stack` (which must be polling, e.g. `stack.start()`).
 * Resolves when the whole body has been received and written to `output`;
 * rejects on a connection error, an incomplete body or the idle timeout.
 * Any status code resolves: the caller decides what counts as success.
 */
export function httpFetch(stack: TcpStackLike, url: string, opts: FetchOptions = {}): Promise<FetchResult> {
  const t = parseHttpUrl(url);
  return new Promise<FetchResult>((resolve, reject) => {
    let sock: TzSocket | undefined;
    let done = false;
    const fail = (e: Error): void => {
      if (done) return;
      done = true;
      sock?.destroy();
      reject(e);
    };
    const headers: Record<string, string | number> = { host: hostHeader(t), 'user-agent': 'tzstack-fetch', ...opts.headers };
    if (opts.body) headers['content-length'] = opts.body.length;
    const req = request({
      method: opts.method ?? 'GET',
      host: t.host,
      port: t.port,
      path: t.path,
      headers,
      createConnection: () => {
        sock = connect(stack, t.port, t.host);
        return sock as unknown as import('node:net').Socket;
      },
    }, (res) => {
      const total = res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : undefined;
      const hash = opts.sha256 ? createHash('sha256') : undefined;
      const out = opts.output;
      const endOut = opts.endOutput ?? (out !== undefined && out !== (process.stdout as unknown as Writable));
      let bytes = 0;
      res.on('data', (d: Buffer) => {
        bytes += d.length;
        hash?.update(d);
        opts.onProgress?.(bytes, total);
        if (out && !out.write(d)) {
          res.pause();
          out.once('drain', () => res.resume());
        }
      });
      res.on('error', fail);
      res.on('aborted', () => fail(new Error(`connection closed after ${bytes} bytes of the body`)));
      res.on('end', () => {
        if (done) return;
        if (!res.complete || (total !== undefined && bytes !== total)) {
          fail(new Error(`incomplete body: ${bytes} of ${total ?? '?'} bytes`));
          return;
        }
        const result: FetchResult = {
          status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers, bytes,
          sha256: hash?.digest('hex'), localPort: sock?.localPort,
        };
        const finish = (): void => { done = true; resolve(result); };
        if (out && endOut) out.end(finish);
        else finish();
      });
    });
    req.on('error', (e) => fail(e));
    if (opts.idleTimeoutMs !== 0) {
      req.setTimeout(opts.idleTimeoutMs ?? 30_000, () => fail(new Error(`no data for ${opts.idleTimeoutMs ?? 30_000} ms`)));
    }
    req.end(opts.body);
  });
}
