/**
 * The port table both UDP layers (src/udp/layer.ts for IPv4,
 * src/udp/udp6.ts for IPv6) bind sockets in: endpoints by local port, an
 * ephemeral port from a rotating start (IANA's range, RFC 6335, unless set
 * otherwise: a shard of a sharded stack takes its own block, see
 * `setUdpEphemeralRange` in src/udp/socket.ts), EADDRINUSE when a binding
 * conflicts. What conflicts is the family's (addresses and SO_REUSEADDR),
 * given as a predicate.
 */

/** The first and last ephemeral port (IANA, RFC 6335). */
export const EPHEMERAL_LOW = 49152;
export const EPHEMERAL_HIGH = 65535;

function inUse(port?: number): Error {
  return port === undefined
    ? Object.assign(new Error('bind EADDRINUSE: no ephemeral UDP port left'), { code: 'EADDRINUSE', errno: -98, syscall: 'bind' })
    : Object.assign(new Error(`bind EADDRINUSE ${port}`), { code: 'EADDRINUSE', errno: -98, syscall: 'bind', port });
}

/** @throws RangeError unless 1 <= low <= high <= 65535 (whole numbers) */
export function checkEphemeralRange(low: number, high: number): void {
  if (!Number.isInteger(low) || !Number.isInteger(high) || low < 1 || high > 65535 || low > high) {
    throw new RangeError(`a UDP ephemeral range must be 1 <= low <= high <= 65535, not ${String(low)}-${String(high)}`);
  }
}

/** Endpoints by local port. */
export class PortTable<E extends { readonly localPort: number }> {
  /** The endpoints bound on each port (read by the layers' demultiplexing). */
  readonly byPort = new Map<number, E[]>();
  private low = EPHEMERAL_LOW;
  private high = EPHEMERAL_HIGH;
  private nextEphemeral = EPHEMERAL_LOW + Math.floor(Math.random() * (EPHEMERAL_HIGH - EPHEMERAL_LOW + 1));

  /**
   * Take ephemeral ports from `low`..`high` (inclusive) from now on, from a
   * random start inside it; ports already bound stay.
   */
  setEphemeralRange(low: number, high: number): void {
    checkEphemeralRange(low, high);
    this.low = low;
    this.high = high;
    this.nextEphemeral = low + Math.floor(Math.random() * (high - low + 1));
  }

  /** The ephemeral range: [low, high]. */
  get ephemeralRange(): { low: number; high: number } { return { low: this.low, high: this.high }; }

  /**
   * Bind `make(port)` on `port`, or with 0 on the first ephemeral port
   * `free` accepts (given the endpoints already there).
   * @throws an error with code `EADDRINUSE` when an endpoint on the port `conflicts`
   */
  bind(make: (port: number) => E, port: number, conflicts: (o: E) => boolean, free: (list: readonly E[]) => boolean): number {
    if (port === 0) port = this.ephemeral(free);
    const list = this.byPort.get(port) ?? [];
    for (const o of list) if (conflicts(o)) throw inUse(port);
    list.push(make(port));
    this.byPort.set(port, list);
    return port;
  }

  /** Give up a binding. */
  unbind(ep: E): void {
    const list = this.byPort.get(ep.localPort);
    if (!list) return;
    const i = list.indexOf(ep);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.byPort.delete(ep.localPort);
  }

  /** Endpoints bound now. */
  get size(): number { let n = 0; for (const l of this.byPort.values()) n += l.length; return n; }

  private ephemeral(free: (list: readonly E[]) => boolean): number {
    const span = this.high - this.low + 1;
    for (let i = 0; i < span; i++) {
      const p = this.nextEphemeral;
      this.nextEphemeral = p >= this.high ? this.low : p + 1;
      const list = this.byPort.get(p);
      if (list === undefined || free(list)) return p;
    }
    throw inUse();
  }
}
