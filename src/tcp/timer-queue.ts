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

  /** Items scheduled. */
  get size(): number { return this.heap.length; }

  /** Whether `item` is scheduled. */
  has(item: T): boolean {
    const i = item.timerIndex;
    return i >= 0 && i < this.heap.length && this.heap[i] === item;
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
    if (this.has(item)) {
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
    if (!this.has(item)) { item.timerIndex = -1; return; }
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
    return this.heap.length > 0 ? this.heap[0].timerAt : Infinity;
  }

  /**
   * Whether an item is due at `now` (the earliest deadline ≤ now): what
   * `nextDeadline() <= now` answers, without the deadline leaving as a
   * number (a call's result, boxed when it is not a small integer).
   */
  dueBy(now: number): boolean {
    const heap = this.heap;
    return heap.length > 0 && heap[0].timerAt <= now;
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
      this.cancel(item);
      n++;
      cb(item);
    }
    return n;
  }

  /** Unschedule everything. */
  clear(): void {
    for (const it of this.heap) it.timerIndex = -1;
    this.heap.length = 0;
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
