import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { type Mempool, NO_MBUF } from '../mbuf/mempool.js';
import type { Port, PortCaps, PortStats } from './port.js';
import type { Mbuf } from '../mbuf/index.js';

/*
 * Classic libpcap file format (https://wiki.wireshark.org/Development/LibpcapFileFormat),
 * written in the host's (little-endian) byte order, which readers detect from the magic.
 *
 * Global header, 24 bytes:
 *   0 magic 0xa1b2c3d4 (µs timestamps)   4 version major 2   6 version minor 4
 *   8 thiszone 0   12 sigfigs 0   16 snaplen   20 linktype (1 = Ethernet)
 * Record header, 16 bytes, then incl_len bytes of frame:
 *   0 ts_sec   4 ts_usec   8 incl_len   12 orig_len
 */
const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_VERSION_MAJOR = 2;
const PCAP_VERSION_MINOR = 4;
/** LINKTYPE_ETHERNET. */
export const LINKTYPE_ETHERNET = 1;
const GLOBAL_HDR = 24;
const REC_HDR = 16;
const REC_TS_SEC = 0;
const REC_TS_USEC = 4;
const REC_INCL_LEN = 8;
const REC_ORIG_LEN = 12;

/** Options for {@link PcapPort}. */
export interface PcapOptions {
  /** File to write (created or truncated). */
  path: string;
  /** Largest number of bytes kept per frame (default 65535). */
  snaplen?: number;
  /** Size of the write buffer (default 1 MiB; at least snaplen + 16). */
  bufferBytes?: number;
  /** Which packets to record (default both). */
  direction?: 'rx' | 'tx' | 'both';
  /** Wall time in milliseconds since the epoch for timestamps (default: real time, µs resolution). */
  now?: () => number;
  /** Write the buffer out at least this often while packets flow (ms, default 1000; 0 = only when full). */
  flushIntervalMs?: number;
}

/** Wall-clock milliseconds with sub-millisecond resolution. */
function wallNow(): number { return performance.timeOrigin + performance.now(); }

/**
 * A {@link Port} decorator recording every frame received and transmitted in
 * a standard pcap file that tcpdump, tshark and Wireshark read.
 *
 * Received frames are recorded as they come up from the device, transmitted
 * ones as the stack hands them down (before the device, which owns them
 * afterwards): the capture is the stack's own view, so with an
 * {@link ImpairedPort} below it shows what the stack actually saw. Frames are
 * written whole, multi-segment chains included (a frame the device refuses
 * is recorded once, when it is finally taken); transmit frames relying on
 * checksum or TSO offload appear as the stack built them, as in a Linux
 * capture with offloads. Records collect in one buffer written with a single
 * `writeSync` when full, periodically, and on {@link close}.
 */
export class PcapPort implements Port {
  readonly name: string;
  readonly pool: Mempool;
  readonly caps: PortCaps;
  /** Frames written and frames cut to the snaplen. */
  readonly pcapStats = { frames: 0, bytes: 0, truncated: 0 };
  private fd: number;
  private readonly buf: Buffer;
  private used = 0;
  private readonly snaplen: number;
  private readonly recRx: boolean;
  private readonly recTx: boolean;
  private readonly now: () => number;
  private readonly flushIntervalMs: number;
  private lastFlush: number;
  /** Buffer offset of each record of the current transmit batch. */
  private marks = new Uint32Array(64);
  /** Write-outs so far (a take-back needs the records still in the buffer). */
  private flushes = 0;
  /** The pool's memory as a Buffer, so frames are copied with Buffer.copy and no view per packet. */
  private readonly poolBuf: Buffer;

  constructor(readonly inner: Port, opts: PcapOptions) {
    this.name = `pcap(${inner.name})`;
    this.pool = inner.pool;
    this.caps = inner.caps;
    this.snaplen = opts.snaplen ?? 65535;
    if (!(Number.isInteger(this.snaplen) && this.snaplen >= 1 && this.snaplen <= 262144)) throw new RangeError(`bad snaplen ${opts.snaplen}`);
    this.buf = Buffer.alloc(Math.max(opts.bufferBytes ?? 1 << 20, this.snaplen + REC_HDR, GLOBAL_HDR));
    const dir = opts.direction ?? 'both';
    this.recRx = dir !== 'tx';
    this.recTx = dir !== 'rx';
    this.now = opts.now ?? wallNow;
    this.flushIntervalMs = opts.flushIntervalMs ?? 1000;
    const u8 = this.pool.u8;
    this.poolBuf = Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
    this.fd = openSync(opts.path, 'w');
    const b = this.buf;
    b.writeUInt32LE(PCAP_MAGIC_US, 0);
    b.writeUInt16LE(PCAP_VERSION_MAJOR, 4);
    b.writeUInt16LE(PCAP_VERSION_MINOR, 6);
    b.writeInt32LE(0, 8);
    b.writeUInt32LE(0, 12);
    b.writeUInt32LE(this.snaplen, 16);
    b.writeUInt32LE(LINKTYPE_ETHERNET, 20);
    this.used = GLOBAL_HDR;
    this.lastFlush = this.now();
    // The header goes out at once so even an empty capture is a valid file.
    this.flush();
  }

  /** Counters of the device behind. */
  get stats(): PortStats { return this.inner.stats; }

  rxBurst(out: Uint32Array, max: number): number {
    const n = this.inner.rxBurst(out, max);
    if (n > 0 && this.recRx && this.fd >= 0) {
      const t = this.now();
      for (let i = 0; i < n; i++) this.record(out[i] as Mbuf, t);
      this.maybeFlush(t);
    }
    return n;
  }

  txBurst(pkts: Uint32Array, n: number): number {
    if (n <= 0 || !this.recTx || this.fd < 0) return this.inner.txBurst(pkts, n);
    // Frames are recorded before the device owns them (it may free them at
    // once); the records of frames it refuses are taken back, so a frame
    // offered again is in the file once (unless one batch outgrows the buffer). Room for the whole batch first, so
    // no write-out falls between a record and its take-back.
    let need = 0;
    for (let i = 0; i < n; i++) need += REC_HDR + Math.min(this.pool.pktLen(pkts[i] as Mbuf), this.snaplen);
    if (this.used + need > this.buf.length) this.flush();
    const marks = this.marks.length >= n ? this.marks : (this.marks = new Uint32Array(Math.max(n, this.marks.length * 2)));
    const t = this.now();
    const s0 = this.pcapStats;
    const frames0 = s0.frames;
    const flushes0 = this.flushes;
    for (let i = 0; i < n; i++) {
      marks[i] = this.used;
      this.record(pkts[i] as Mbuf, t);
    }
    const k = this.inner.txBurst(pkts, n);
    if (k < n && this.flushes === flushes0) {
      // Take back the refused frames' records (bytes and counts recomputed from the buffer).
      for (let i = k; i < n; i++) {
        const at = marks[i];
        const incl = this.buf.readUInt32LE(at + REC_INCL_LEN);
        s0.bytes -= incl;
        if (incl < this.buf.readUInt32LE(at + REC_ORIG_LEN)) s0.truncated--;
      }
      s0.frames = frames0 + k;
      this.used = marks[k];
    }
    this.maybeFlush(t);
    return k;
  }

  private record(m: Mbuf, tMs: number): void {
    const pool = this.pool;
    const orig = pool.pktLen(m);
    const incl = Math.min(orig, this.snaplen);
    if (this.used + REC_HDR + incl > this.buf.length) this.flush();
    const b = this.buf;
    const at = this.used;
    const sec = Math.floor(tMs / 1000);
    b.writeUInt32LE(sec >>> 0, at + REC_TS_SEC);
    b.writeUInt32LE(Math.min(999999, Math.floor((tMs - sec * 1000) * 1000)), at + REC_TS_USEC);
    let p = at + REC_HDR;
    let left = incl;
    // Walk the chain; a pkt_len larger than the chain only shortens the record.
    for (let seg = m; seg !== NO_MBUF && left > 0; seg = pool.next(seg)) {
      const take = Math.min(left, pool.dataLen(seg));
      const src = pool.mtod(seg);
      this.poolBuf.copy(b, p, src, src + take);
      p += take;
      left -= take;
    }
    const written = incl - left;
    b.writeUInt32LE(written, at + REC_INCL_LEN);
    b.writeUInt32LE(orig, at + REC_ORIG_LEN);
    this.used = p;
    this.pcapStats.frames++;
    this.pcapStats.bytes += written;
    if (written < orig) this.pcapStats.truncated++;
  }

  private maybeFlush(t: number): void {
    if (this.flushIntervalMs > 0 && t - this.lastFlush >= this.flushIntervalMs) this.flush();
  }

  /** Write buffered records to the file now. */
  flush(): void {
    if (this.fd < 0) return;
    let off = 0;
    while (off < this.used) off += writeSync(this.fd, this.buf, off, this.used - off);
    this.used = 0;
    this.flushes++;
    this.lastFlush = this.now();
  }

  /** Write what is buffered, close the file, then close the device behind. */
  close(): void {
    if (this.fd >= 0) {
      this.flush();
      closeSync(this.fd);
      this.fd = -1;
    }
    this.inner.close();
  }
}

/** What {@link mergePcapFiles} wrote. */
export interface PcapMergeResult {
  frames: number;
  bytes: number;
  /** Input files that ended inside a record (the partial record is left out). */
  truncatedInputs: number;
}

/**
 * Merge pcap files written by {@link PcapPort}s (e.g. one per shard of a
 * sharded stack) into one, records in timestamp order (ties keep the
 * inputs' order). Inputs must be little-endian microsecond captures of the
 * same link type, as PcapPort writes them; a file that ends inside a
 * record (its writer died) contributes the records before it.
 * @throws Error when an input is not such a capture
 */
export function mergePcapFiles(inputs: readonly string[], output: string): PcapMergeResult {
  const files = inputs.map((path) => {
    const b = readFileSync(path);
    if (b.length < GLOBAL_HDR || b.readUInt32LE(0) !== PCAP_MAGIC_US) throw new Error(`${path}: not a little-endian microsecond pcap file`);
    if (b.readUInt32LE(20) !== LINKTYPE_ETHERNET) throw new Error(`${path}: link type ${b.readUInt32LE(20)}, not Ethernet`);
    return { path, b, at: GLOBAL_HDR, snaplen: b.readUInt32LE(16) };
  });
  const res: PcapMergeResult = { frames: 0, bytes: 0, truncatedInputs: 0 };
  const whole = (f: { b: Buffer; at: number }): boolean => f.at + REC_HDR <= f.b.length && f.at + REC_HDR + f.b.readUInt32LE(f.at + REC_INCL_LEN) <= f.b.length;
  const head = Buffer.alloc(GLOBAL_HDR);
  head.writeUInt32LE(PCAP_MAGIC_US, 0);
  head.writeUInt16LE(PCAP_VERSION_MAJOR, 4);
  head.writeUInt16LE(PCAP_VERSION_MINOR, 6);
  head.writeUInt32LE(Math.max(65535, ...files.map((f) => f.snaplen)), 16);
  head.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  const fd = openSync(output, 'w');
  try {
    writeSync(fd, head);
    const out = Buffer.alloc(1 << 20);
    let used = 0;
    for (;;) {
      let best = -1;
      let bestTs = 0;
      for (let i = 0; i < files.length; i++) {
        const f = files[i];
        if (!whole(f)) continue;
        const ts = f.b.readUInt32LE(f.at + REC_TS_SEC) * 1e6 + f.b.readUInt32LE(f.at + REC_TS_USEC);
        if (best < 0 || ts < bestTs) { best = i; bestTs = ts; }
      }
      if (best < 0) break;
      const f = files[best];
      const len = REC_HDR + f.b.readUInt32LE(f.at + REC_INCL_LEN);
      if (used + len > out.length) { writeSync(fd, out, 0, used); used = 0; }
      if (len > out.length) writeSync(fd, f.b, f.at, len);
      else { f.b.copy(out, used, f.at, f.at + len); used += len; }
      res.frames++;
      res.bytes += len - REC_HDR;
      f.at += len;
    }
    if (used > 0) writeSync(fd, out, 0, used);
  } finally {
    closeSync(fd);
  }
  for (const f of files) if (f.at < f.b.length) res.truncatedInputs++;
  return res;
}
