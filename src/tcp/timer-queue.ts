/**
 * What an item must carry to sit in a {@link TimerQueue}: the queue keeps
 * the item's slot in `timerSlot` (-1 when not scheduled), so that
 * rescheduling and cancelling are O(log n) without a lookup table, and
 * its deadline in `timerAt`.
 */
export interface TimerItem {
  /** The queue's slot for the item while scheduled; -1 when not scheduled. Owned by the queue. */
  timerSlot: number;
  /** Deadline (clock milliseconds) while scheduled. Owned by the queue. */
  timerAt: number;
  /**
   * The deadline {@link TimerQueue.scheduleDue} schedules, written by the
   * item's owner first: a deadline is a double, and a double passed as an
   * argument to a call that is not inlined is boxed, where one stored in a
   * field is not.
   */
  timerDue: number;
}

/**
 * One deadline per item for every connection of a stack: a binary min-heap
 * of deadlines.
 *
 * Each connection keeps its own per-kind deadlines (retransmission, persist,
 * keepalive, delayed ACK, TIME_WAIT) and schedules itself here at the
 * earliest of them; when it expires it runs whichever kinds are due and
 * schedules itself again. So the queue holds one entry per connection
 * whatever the number of timer kinds, and no closure or object is made per
 * timer operation.
 *
 * The heap is typed arrays of deadlines and slots, and each item's heap
 * position is kept by slot, not in the item: sifting an entry compares and
 * moves numbers in a few kilobytes that stay in cache, and touches no other
 * item. A heap of the items themselves read a deadline from, and wrote a
 * position into, every connection on the path: at thousands of connections
 * each of those was a cache miss (two, with the deadline's HeapNumber).
 * Only the item scheduled, cancelled or expired is written to.
 */
export class TimerQueue<T extends TimerItem> {
  /** Items by slot; null for a free slot. */
  private readonly items: (T | null)[] = [];
  /** Heap position of each slot's item. */
  private pos = new Int32Array(16);
  /** The heap: each position's slot and deadline. */
  private heapSlot = new Int32Array(16);
  private keys = new Float64Array(16);
  /** Free slots (a stack), and how many slots were ever handed out. */
  private freeSlots = new Int32Array(16);
  private nFree = 0;
  private nSlots = 0;
  private n = 0;

  /** Items scheduled. */
  get size(): number { return this.n; }

  /** Whether `item` is scheduled. */
  has(item: T): boolean {
    const s = item.timerSlot;
    return s >= 0 && s < this.nSlots && this.items[s] === item;
  }

  /**
   * Schedule `item` at time `at`, replacing its previous deadline if it had
   * one (earlier or later).
   */
  schedule(item: T, at: number): void {
    item.timerDue = at;
    this.scheduleDue(item);
  }

  /** {@link schedule} at `item.timerDue`. */
  scheduleDue(item: T): void {
    const at = item.timerDue;
    item.timerAt = at;
    if (this.has(item)) {
      const i = this.pos[item.timerSlot];
      const keys = this.keys;
      const old = keys[i];
      keys[i] = at;
      if (at < old) this.up(i); else this.down(i);
      return;
    }
    const s = this.takeSlot(item);
    item.timerSlot = s;
    const i = this.n++;
    this.heapSlot[i] = s;
    this.keys[i] = at;
    this.pos[s] = i;
    this.up(i);
  }

  /** Unschedule `item` (nothing happens if it is not scheduled). */
  cancel(item: T): void {
    if (!this.has(item)) { item.timerSlot = -1; return; }
    const s = item.timerSlot;
    const i = this.pos[s];
    this.items[s] = null;
    this.freeSlots[this.nFree++] = s;
    item.timerSlot = -1;
    const last = --this.n;
    if (i !== last) {
      const heapSlot = this.heapSlot;
      const moved = heapSlot[last];
      heapSlot[i] = moved;
      this.keys[i] = this.keys[last];
      this.pos[moved] = i;
      this.up(i);
      this.down(this.pos[moved]);
    }
  }

  /** The earliest deadline, or `Infinity` when nothing is scheduled. */
  nextDeadline(): number {
    return this.n > 0 ? this.keys[0] : Infinity;
  }

  /**
   * Whether an item is due at `now` (the earliest deadline ≤ now): what
   * `nextDeadline() <= now` answers, without the deadline leaving as a
   * number (a call's result, boxed when it is not a small integer).
   */
  dueBy(now: number): boolean {
    return this.n > 0 && this.keys[0] <= now;
  }

  /**
   * Unschedule every item due at `now` (deadline ≤ now) in deadline order and
   * pass each to `cb`. The callback may schedule or cancel anything,
   * including the item it got; an item it reschedules at or before `now` is
   * run again in this same call, so reschedule into the future.
   * @returns the number of expirations
   */
  expire(now: number, cb: (item: T) => void): number {
    let n = 0;
    while (this.n > 0 && this.keys[0] <= now) {
      const item = this.items[this.heapSlot[0]]!;
      this.cancel(item);
      n++;
      cb(item);
    }
    return n;
  }

  /** Unschedule everything. */
  clear(): void {
    for (let i = 0; i < this.n; i++) this.items[this.heapSlot[i]]!.timerSlot = -1;
    this.items.length = 0;
    this.n = this.nFree = this.nSlots = 0;
  }

  /** A free slot for `item` (more room when every slot is taken). */
  private takeSlot(item: T): number {
    if (this.nFree > 0) {
      const s = this.freeSlots[--this.nFree];
      this.items[s] = item;
      return s;
    }
    const s = this.nSlots++;
    if (s === this.pos.length) this.grow();
    this.items.push(item);
    return s;
  }

  private grow(): void {
    const cap = this.pos.length * 2;
    const widen = <A extends Int32Array | Float64Array>(a: A, make: (n: number) => A): A => { const b = make(cap); b.set(a); return b; };
    this.pos = widen(this.pos, (k) => new Int32Array(k));
    this.heapSlot = widen(this.heapSlot, (k) => new Int32Array(k));
    this.freeSlots = widen(this.freeSlots, (k) => new Int32Array(k));
    this.keys = widen(this.keys, (k) => new Float64Array(k));
  }

  private up(i: number): void {
    const heapSlot = this.heapSlot;
    const keys = this.keys;
    const pos = this.pos;
    const s = heapSlot[i];
    const k = keys[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      const kp = keys[p];
      if (kp <= k) break;
      const sp = heapSlot[p];
      heapSlot[i] = sp;
      keys[i] = kp;
      pos[sp] = i;
      i = p;
    }
    heapSlot[i] = s;
    keys[i] = k;
    pos[s] = i;
  }

  private down(i: number): void {
    const heapSlot = this.heapSlot;
    const keys = this.keys;
    const pos = this.pos;
    const n = this.n;
    const s = heapSlot[i];
    const k = keys[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && keys[r] < keys[l] ? r : l;
      const kc = keys[c];
      if (kc >= k) break;
      const sc = heapSlot[c];
      heapSlot[i] = sc;
      keys[i] = kc;
      pos[sc] = i;
      i = c;
    }
    heapSlot[i] = s;
    keys[i] = k;
    pos[s] = i;
  }
}
