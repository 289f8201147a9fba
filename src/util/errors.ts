/**
 * Errors shaped as Node's socket errors (`code`, `errno`, `syscall`,
 * `address`/`port`), shared by the TCP and UDP socket APIs.
 */

/** `Error` with the fields Node puts on socket errors. */
export interface TzSocketError extends Error {
  code: string;
  errno?: number;
  syscall?: string;
  address?: string;
  port?: number;
}

// Linux errno values, negated as libuv (and so Node's `err.errno`) reports them.
const ERRNO: Record<string, number> = {
  EPIPE: -32, EINVAL: -22, EADDRINUSE: -98, EADDRNOTAVAIL: -99, ENETDOWN: -100,
  ENETUNREACH: -101, ECONNABORTED: -103, ECONNRESET: -104, ETIMEDOUT: -110,
  ECONNREFUSED: -111, EHOSTDOWN: -112, EHOSTUNREACH: -113,
  EBADF: -9, EACCES: -13, EMSGSIZE: -90, ENOBUFS: -105,
  // getaddrinfo's "no such name" as libuv reports it (UV_EAI_NONAME).
  ENOTFOUND: -3008,
};

/**
 * Build a Node-style socket error (TCP's and UDP's) for an error code: `code`, `errno`,
 * `syscall`, and `address`/`port` when given (Node gives them on `connect`
 * and `listen` errors only). Without `detail` the message is Node's exactly
 * (`connect ECONNREFUSED 10.0.0.2:80`, `read ECONNRESET`).
 */
export function socketError(code: string, syscall: string, address?: string, port?: number, detail?: string): TzSocketError {
  const where = address !== undefined ? ` ${address}${port !== undefined ? `:${port}` : ''}` : '';
  const e = new Error(`${syscall} ${code}${where}${detail ? ` (${detail})` : ''}`) as TzSocketError;
  if (ERRNO[code] !== undefined) e.errno = ERRNO[code];
  e.code = code;
  e.syscall = syscall;
  if (address !== undefined) e.address = address;
  if (port !== undefined) e.port = port;
  return e;
}
