/**
 * Why TCP dropped a segment: a closed set of reasons, each a key of
 * `TcpCounters.drops`, created at 0 so the counters object keeps one shape
 * (a misspelt reason is a compile error, not a new counter).
 */
export const TCP_DROP_REASONS = [
  // TcpLayer.input, before any connection is found
  'layerClosed', 'badChecksum', 'tooShort', 'badDataOffset', 'badOption', 'headerSplit',
  'portZero', 'synRst', 'synFin', 'noSocket',
  // LISTEN (RFC 9293 §3.10.7.2) and the accept queue
  'rstToListener', 'ackToListener', 'noSynToListener', 'listenOverflow', 'acceptQueueFull',
  // SYN-SENT (§3.10.7.3)
  'badAck', 'rstWithoutAck', 'noSyn',
  // synchronized states (§3.10.7.4, RFC 5961, RFC 7323)
  'paws', 'zeroWindow', 'rstOutOfWindow', 'outOfWindow', 'rstInTimeWait', 'rstNotExact',
  'synInSynReceived', 'synInWindow', 'noAck', 'badAckSynReceived', 'ackOutOfWindow',
  'oooFull', 'dataAfterFin',
] as const;

/** One of {@link TCP_DROP_REASONS}. */
export type TcpDropReason = typeof TCP_DROP_REASONS[number];

/** Drops by reason, every reason present. */
export type TcpDrops = Record<TcpDropReason, number>;

/** A drops object with every reason at 0. */
export function newTcpDrops(): TcpDrops {
  const d = {} as TcpDrops;
  for (const r of TCP_DROP_REASONS) d[r] = 0;
  return d;
}
