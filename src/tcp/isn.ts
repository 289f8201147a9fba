import type { Seq } from './seq.js';
import { createHmac, randomBytes } from 'node:crypto';
import { SipHash } from '../util/siphash.js';
import type { Addr6 } from '../ip/addr6.js';
import type { AddrKey } from './route.js';

/** Options for {@link IsnGenerator}. */
export interface IsnOptions {
  /** The key of F; random (16 bytes) when omitted. Pass a fixed one for deterministic tests. */
  secret?: Uint8Array;
}

/**
 * Initial sequence numbers per RFC 6528: `ISN = M + F(localip, localport,
 * remoteip, remoteport, secretkey)`, where M is a clock ticking every 4 µs
 * and F a keyed hash (SipHash-2-4 truncated to 32 bits, as Linux's
 * secure_tcp_seq).
 *
 * F makes each 4-tuple start at an unpredictable offset, defeating blind
 * injection; M keeps successive incarnations of the same 4-tuple moving
 * forward, so old duplicates fall outside the new connection's window. The
 * hash allocates nothing, so it may run per SYN under a flood.
 */
export class IsnGenerator {
  private readonly secret: Uint8Array;
  private readonly sip: SipHash;
  private flowSip: SipHash | undefined;

  constructor(opts?: IsnOptions | Uint8Array) {
    const s = opts instanceof Uint8Array ? opts : opts?.secret;
    this.secret = s !== undefined ? Uint8Array.from(s) : new Uint8Array(randomBytes(16));
    this.sip = new SipHash(this.derive('tzstack isn'));
  }

  /** F over an IPv6 4-tuple: the same keyed hash over the 16-byte addresses (as Linux secure_tcpv6_seq). */
  offset6(local: Readonly<Addr6>, localPort: number, remote: Readonly<Addr6>, remotePort: number): number {
    const b = this.sip.buf;
    putTuple6(b, local, localPort, remote, remotePort);
    return this.sip.hash(36);
  }

  /** {@link next} for an IPv6 4-tuple. */
  next6(local: Readonly<Addr6>, localPort: number, remote: Readonly<Addr6>, remotePort: number, now: number): Seq {
    const m = Math.floor(now * 250) % 4294967296;
    return ((this.offset6(local, localPort, remote, remotePort) + m) >>> 0) as Seq;
  }

  /**
   * The RFC 6437 flow label of an IPv6 flow (§3: a keyed hash of the
   * 5-tuple, so labels are uniformly spread and unguessable off-path, and
   * stable for the connection's life). Never 0 (0 means "no label").
   */
  flowLabel6(local: Readonly<Addr6>, localPort: number, remote: Readonly<Addr6>, remotePort: number): number {
    const h = this.flowSip ??= new SipHash(this.derive('tzstack flow label'));
    putTuple6(h.buf, local, localPort, remote, remotePort);
    const v = h.hash(36) & 0xfffff;
    return v === 0 ? 1 : v;
  }

  /**
   * A 16-byte key for another use of the same secret (SYN cookies, the
   * challenge-ACK budget): HMAC-SHA-256(secret, label), so knowing one
   * derived key tells nothing of the secret or of the others.
   */
  derive(label: string): Uint8Array {
    return new Uint8Array(createHmac('sha256', this.secret).update(label).digest().subarray(0, 16));
  }

  /** F alone: the keyed hash of the 4-tuple (no clock). */
  offset(localIp: AddrKey, localPort: number, remoteIp: AddrKey, remotePort: number): number {
    const b = this.sip.buf;
    putTuple(b, localIp, localPort, remoteIp, remotePort);
    return this.sip.hash(12);
  }

  /**
   * The ISN for a connection on this 4-tuple at time `now` (clock
   * milliseconds, fractions used).
   */
  next(localIp: AddrKey, localPort: number, remoteIp: AddrKey, remotePort: number, now: number): Seq {
    const m = Math.floor(now * 250) % 4294967296; // 4 µs ticks
    return ((this.offset(localIp, localPort, remoteIp, remotePort) + m) >>> 0) as Seq;
  }
}

/** The 4-tuple as 12 bytes, network order, at the start of `b`. */
export function putTuple(b: Uint8Array, localIp: AddrKey, localPort: number, remoteIp: AddrKey, remotePort: number): void {
  b[0] = localIp >>> 24; b[1] = localIp >>> 16; b[2] = localIp >>> 8; b[3] = localIp;
  b[4] = localPort >>> 8; b[5] = localPort;
  b[6] = remoteIp >>> 24; b[7] = remoteIp >>> 16; b[8] = remoteIp >>> 8; b[9] = remoteIp;
  b[10] = remotePort >>> 8; b[11] = remotePort;
}

/** An IPv6 4-tuple as 36 bytes, network order (address, port, address, port), at the start of `b`. */
export function putTuple6(b: Uint8Array, local: Readonly<Addr6>, localPort: number, remote: Readonly<Addr6>, remotePort: number): void {
  for (let i = 0; i < 4; i++) {
    const a = local[i];
    const r = remote[i];
    const j = 4 * i;
    b[j] = a >>> 24; b[j + 1] = a >>> 16; b[j + 2] = a >>> 8; b[j + 3] = a;
    b[18 + j] = r >>> 24; b[18 + j + 1] = r >>> 16; b[18 + j + 2] = r >>> 8; b[18 + j + 3] = r;
  }
  b[16] = localPort >>> 8; b[17] = localPort;
  b[34] = remotePort >>> 8; b[35] = remotePort;
}
