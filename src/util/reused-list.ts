/**
 * A list emptied and refilled over and over (callbacks waiting for an
 * event, a batch of work) that keeps its storage.
 *
 * `array.length = 0` gives V8's backing store up (the array points at the
 * empty fixed array again), so the next `push` allocates a new one of 17
 * slots and growing it allocates again: per emptying, at least 152 bytes.
 * Here the array only grows, entries past {@link length} are overwritten
 * with the filler (so nothing emptied out stays reachable), and refilling
 * writes into the slots already there.
 */
export class ReusedList<T> {
  private readonly items: T[] = [];
  /** Entries in the list (the storage may hold more slots). */
  length = 0;

  /** @param filler - what an emptied slot holds: of the entries' type, so the array's elements kind stays as it is */
  constructor(private readonly filler: T) {}

  /** Append `x`. */
  push(x: T): void {
    const n = this.length;
    if (n < this.items.length) this.items[n] = x;
    else this.items.push(x);
    this.length = n + 1;
  }

  /** The entry at `i` (0 ≤ i < length). */
  at(i: number): T { return this.items[i]; }

  /** Empty the list, keeping its storage. */
  clear(): void {
    const items = this.items;
    const filler = this.filler;
    for (let i = 0; i < this.length; i++) items[i] = filler;
    this.length = 0;
  }
}
