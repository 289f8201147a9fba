/** The eleven connection states of RFC 9293 §3.3.2. */
export enum TcpState {
  Closed,
  Listen,
  SynSent,
  SynReceived,
  Established,
  FinWait1,
  FinWait2,
  CloseWait,
  Closing,
  LastAck,
  TimeWait,
}

/** Names as `ss` prints them, for info() and logs. */
export const TCP_STATE_NAMES: readonly string[] = [
  'CLOSED', 'LISTEN', 'SYN-SENT', 'SYN-RECEIVED', 'ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2',
  'CLOSE-WAIT', 'CLOSING', 'LAST-ACK', 'TIME-WAIT',
];

/** States after the three-way handshake has completed in at least one direction (RFC 9293 "synchronized"). */
export function isSynchronized(s: TcpState): boolean {
  return s >= TcpState.SynReceived;
}

/** States in which the application may still queue data. */
export function canSend(s: TcpState): boolean {
  return s === TcpState.Established || s === TcpState.CloseWait || s === TcpState.SynSent || s === TcpState.SynReceived;
}

/** States in which arriving segment text is accepted (RFC 9293 §3.10.7.4, seventh step). */
export function canReceive(s: TcpState): boolean {
  return s === TcpState.Established || s === TcpState.FinWait1 || s === TcpState.FinWait2;
}

/** States in which our FIN has been queued or sent. */
export function finQueuedState(s: TcpState): boolean {
  return s === TcpState.FinWait1 || s === TcpState.FinWait2 || s === TcpState.Closing
    || s === TcpState.LastAck || s === TcpState.TimeWait;
}
