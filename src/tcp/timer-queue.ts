/**
 * What an item must carry to sit in a {@link TimerQueue}: the queue keeps
 * the item's heap position in `timerIndex` (-1 when not scheduled) so that
 * rescheduling and cancelling are O(log n) without a lookup table, and its
 * deadline in `timerAt`.
 */
export interface TimerItem {
  /** Position in the queue's heap; -1 when not scheduled. Owned by the queue. */
  timerIndex: number;
  /** Deadline (clock milliseconds) while scheduled. Owned by the queue. */
  timerAt: number;
}

/**
 * One deadline per item for every connection of a stack: a binary min-heap
 * on `timerAt`.
 *
 * Each connection keeps its own per-kind deadlines (retransmission, persist,
 * keepalive, delayed ACK, TIME_WAIT) and schedules itself here at the
 * earliest of them; when it expires it runs whichever kinds are due and
 * schedules itself again. So the queue holds one entry per connection
 * whatever the number of timer kinds, and no closure or object is made per
 * timer operation.
 */
export class TimerQueue<T extends TimerItem> {
  private readonly heap: T[] = [];
  /**
   * The item whose callback {@link expire} is running. It stays at its heap
   * slot meanwhile but counts as unscheduled: rescheduling it (what a
   * connection's timer handler nearly always does, often just later, when an
   * ACK moved its deadline on) then sifts it in place, one pass instead of a
   * pop and a push.
   */
  private expiring: T | null = null;

  /** Items scheduled. */
  get size(): number { return this.heap.length - (this.expiring !== null ? 1 : 0); }

  /** Whether `item` is scheduled. */
  has(item: T): boolean {
    return item !== this.expiring && this.present(item);
  }

  private present(item: T): boolean {
    const i = item.timerIndex;
    return i >= 0 && i < this.heap.length && this.heap[i] === item;
  }

  /**
   * Schedule `item` at time `at`, replacing its previous deadline if it had
   * one (earlier or later).
   */
  schedule(item: T, at: number): void {
    if (item === this.expiring) this.expiring = null;
    if (this.present(item)) {
      const old = item.timerAt;
      item.timerAt = at;
      if (at < old) this.up(item.timerIndex); else this.down(item.timerIndex);
      return;
    }
    item.timerAt = at;
    item.timerIndex = this.heap.length;
    this.heap.push(item);
    this.up(item.timerIndex);
  }

  /** Unschedule `item` (nothing happens if it is not scheduled). */
  cancel(item: T): void {
    if (item === this.expiring) this.expiring = null;
    this.remove(item);
  }

  private remove(item: T): void {
    if (!this.present(item)) { item.timerIndex = -1; return; }
    const i = item.timerIndex;
    const last = this.heap.pop()!;
    item.timerIndex = -1;
    if (last !== item) {
      this.heap[i] = last;
      last.timerIndex = i;
      this.up(i);
      this.down(last.timerIndex);
    }
  }

  /** The earliest deadline, or `Infinity` when nothing is scheduled. */
  nextDeadline(): number {
    const heap = this.heap;
    if (heap.length === 0) return Infinity;
    // Only inside an expire callback can the root be the item being run.
    if (heap[0] === this.expiring) return heap.length > 1 ? this.secondDeadline() : Infinity;
    return heap[0].timerAt;
  }

  private secondDeadline(): number {
    const heap = this.heap;
    return heap.length > 2 && heap[2].timerAt < heap[1].timerAt ? heap[2].timerAt : heap[1].timerAt;
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
    const heap = this.heap;
    while (heap.length > 0 && heap[0].timerAt <= now) {
      const item = heap[0];
      this.expiring = item;
      n++;
      try {
        cb(item);
      } finally {
        // Neither rescheduled nor cancelled by its callback: it is done.
        if (this.expiring === item) { this.expiring = null; this.remove(item); }
      }
    }
    return n;
  }

  /** Unschedule everything. */
  clear(): void {
    for (const it of this.heap) it.timerIndex = -1;
    this.heap.length = 0;
    this.expiring = null;
  }

  private up(i: number): void {
    const heap = this.heap;
    const item = heap[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p];
      if (parent.timerAt <= item.timerAt) break;
      heap[i] = parent;
      parent.timerIndex = i;
      i = p;
    }
    heap[i] = item;
    item.timerIndex = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const item = heap[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && heap[r].timerAt < heap[l].timerAt ? r : l;
      const child = heap[c];
      if (child.timerAt >= item.timerAt) break;
      heap[i] = child;
      child.timerIndex = i;
      i = c;
    }
    heap[i] = item;
    item.timerIndex = i;
  }
}
