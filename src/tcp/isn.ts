import { createHmac, randomBytes } from 'node:crypto';

/** Options for {@link IsnGenerator}. */
export interface IsnOptions {
  /** The key of F; random (16 bytes) when omitted. Pass a fixed one for deterministic tests. */
  secret?: Uint8Array;
}

/**
 * Initial sequence numbers per RFC 6528: `ISN = M + F(localip, localport,
 * remoteip, remoteport, secretkey)`, where M is a clock ticking every 4 µs
 * and F a keyed hash (HMAC-SHA-256 truncated to 32 bits).
 *
 * F makes each 4-tuple start at an unpredictable offset, defeating blind
 * injection; M keeps successive incarnations of the same 4-tuple moving
 * forward, so old duplicates fall outside the new connection's window. The
 * hash runs once per connection attempt, never per packet.
 */
export class IsnGenerator {
  private readonly secret: Uint8Array;
  private readonly buf = Buffer.alloc(12);

  constructor(opts?: IsnOptions | Uint8Array) {
    const s = opts instanceof Uint8Array ? opts : opts?.secret;
    this.secret = s !== undefined ? Uint8Array.from(s) : new Uint8Array(randomBytes(16));
  }

  /** F alone: the keyed hash of the 4-tuple (no clock). */
  offset(localIp: number, localPort: number, remoteIp: number, remotePort: number): number {
    const b = this.buf;
    b.writeUInt32BE(localIp >>> 0, 0);
    b.writeUInt16BE(localPort & 0xffff, 4);
    b.writeUInt32BE(remoteIp >>> 0, 6);
    b.writeUInt16BE(remotePort & 0xffff, 10);
    return createHmac('sha256', this.secret).update(b).digest().readUInt32BE(0);
  }

  /**
   * The ISN for a connection on this 4-tuple at time `now` (clock
   * milliseconds, fractions used).
   */
  next(localIp: number, localPort: number, remoteIp: number, remotePort: number, now: number): number {
    const m = Math.floor(now * 250) % 4294967296; // 4 µs ticks
    return (this.offset(localIp, localPort, remoteIp, remotePort) + m) >>> 0;
  }
}
