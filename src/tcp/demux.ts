/**
 * The IPv4 connection lookup of the receive path: (local port, remote port,
 * remote address) to connection, in one open-addressing hash table whose
 * keys sit in typed arrays.
 *
 * A Map of Maps (ports, then address) costs two hash tables and a JSMap
 * object per lookup, each a separate allocation: with thousands of
 * connections, cold ones, so a lookup was ~5 cache misses before the
 * connection itself. Here a lookup reads one or two lines of keys and one
 * of values. Linear probing, at most half full, deletion by backward shift
 * (no tombstones, so probe runs never grow with churn).
 */
export class ConnTable<T> {
  private mask: number;
  /** Ports key ((local << 16) | remote, as int32) and remote address (int32) per slot. */
  private kPorts: Int32Array;
  private kIp: Int32Array;
  /** The entry per slot; null marks an empty slot. */
  private vals: (T | null)[];
  private n = 0;

  constructor(capacity = 64) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.mask = cap - 1;
    this.kPorts = new Int32Array(cap);
    this.kIp = new Int32Array(cap);
    this.vals = new Array<T | null>(cap).fill(null);
  }

  /** Entries held. */
  get size(): number { return this.n; }

  /** The entry for `ports` ((local << 16) | remote) and `ip`, or undefined. */
  get(ports: number, ip: number): T | undefined {
    const mask = this.mask;
    const p = ports | 0;
    const a = ip | 0;
    const kPorts = this.kPorts;
    const kIp = this.kIp;
    const vals = this.vals;
    for (let i = home(p, a, mask); ; i = (i + 1) & mask) {
      const v = vals[i];
      if (v === null) return undefined;
      if (kPorts[i] === p && kIp[i] === a) return v;
    }
  }

  /** Add or replace the entry for `ports` and `ip`. */
  set(ports: number, ip: number, v: T): void {
    const p = ports | 0;
    const a = ip | 0;
    const i = this.find(p, a);
    if (this.vals[i] !== null) { this.vals[i] = v; return; }
    if ((this.n + 1) * 2 > this.mask + 1) { this.grow(); this.set(p, a, v); return; }
    this.kPorts[i] = p;
    this.kIp[i] = a;
    this.vals[i] = v;
    this.n++;
  }

  /** Remove the entry for `ports` and `ip` if it is `v`. */
  delete(ports: number, ip: number, v: T): void {
    let i = this.find(ports | 0, ip | 0);
    if (this.vals[i] !== v || v === null) return;
    const mask = this.mask;
    const vals = this.vals;
    vals[i] = null;
    this.n--;
    // Backward shift: pull later entries of the run into the hole unless
    // their home lies cyclically after the hole (then they are where they must be).
    for (let j = (i + 1) & mask; vals[j] !== null; j = (j + 1) & mask) {
      const h = home(this.kPorts[j], this.kIp[j], mask);
      const stays = i <= j ? i < h && h <= j : i < h || h <= j;
      if (stays) continue;
      this.kPorts[i] = this.kPorts[j];
      this.kIp[i] = this.kIp[j];
      vals[i] = vals[j];
      vals[j] = null;
      i = j;
    }
  }

  /** The slot holding the key, or the empty slot where it would go. */
  private find(p: number, a: number): number {
    const mask = this.mask;
    let i = home(p, a, mask);
    while (this.vals[i] !== null && !(this.kPorts[i] === p && this.kIp[i] === a)) i = (i + 1) & mask;
    return i;
  }

  private grow(): void {
    const oldP = this.kPorts;
    const oldA = this.kIp;
    const oldV = this.vals;
    const cap = (this.mask + 1) * 2;
    this.mask = cap - 1;
    this.kPorts = new Int32Array(cap);
    this.kIp = new Int32Array(cap);
    this.vals = new Array<T | null>(cap).fill(null);
    this.n = 0;
    for (let i = 0; i < oldV.length; i++) {
      const v = oldV[i];
      if (v !== null) this.set(oldP[i], oldA[i], v);
    }
  }
}

/** A key's first slot: both words mixed (ports alone would put every connection to one server port on one run). */
function home(p: number, a: number, mask: number): number {
  let h = Math.imul(p ^ Math.imul(a, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 15;
  return h & mask;
}
