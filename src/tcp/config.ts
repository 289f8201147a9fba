/**
 * TCP tunables. Defaults follow Linux where a peer can observe them
 * (IW10, 40 ms delayed ACK, 200 ms minimum RTO, 1 s initial RTO), so
 * packetdrill scripts written against Linux line up.
 */
export interface TcpConfig {
  /** MSS to announce and the ceiling for what we send; default MTU − 40. */
  mss?: number;
  /** Initial congestion window in segments (RFC 6928). */
  initialCwndSegments: number;
  /** RTO before the first RTT sample (RFC 6298 says 1 s). */
  initialRtoMs: number;
  /** Lower bound of the RTO (Linux: 200 ms). */
  minRtoMs: number;
  /** Upper bound of the RTO, also of backed-off timers. */
  maxRtoMs: number;
  /** Longest an ACK for in-order data may be held back. */
  delayedAckMs: number;
  /**
   * Quick-ACK mode at connection start (Linux tcp_incr_quickack, up to 16):
   * the first this-many in-order data segments are ACKed at once, until the
   * application answers within the delayed-ACK time (interactive traffic,
   * Linux's "pingpong" mode). 0 (default) delays ACKs from the start.
   */
  quickAck: number;
  /** Retransmissions of data/FIN before the connection fails with ETIMEDOUT. */
  maxRetries: number;
  /** Retransmissions of a SYN (or SYN-ACK) before giving up. */
  synRetries: number;
  /**
   * An active open not established within this many ms fails with
   * ETIMEDOUT whatever retransmissions are left (FreeBSD TCP_KEEPINIT /
   * `net.inet.tcp.keepinit`, 75 s). 0 (default, as Linux): only
   * {@link synRetries} bounds it.
   */
  connectTimeoutMs: number;
  /** How long a connection stays in TIME-WAIT (2×MSL). */
  timeWaitMs: number;
  /** At most this many connections in TIME-WAIT; the oldest is dropped beyond it. */
  timeWaitMax: number;
  /** Window shift we announce (RFC 7323); {@link WSCALE_AUTO} computes it from rcvBuf; {@link WSCALE_OFF} (or below) disables window scaling. */
  wscale: number;
  /** Offer/accept SACK-permitted (RFC 2018). */
  sack: boolean;
  /** Offer/accept timestamps (RFC 7323). */
  timestamps: boolean;
  /** Receive buffer in bytes: the most we advertise. */
  rcvBuf: number;
  /** Send buffer in bytes: how much unacknowledged + unsent data the app may queue. */
  sndBuf: number;
  /** Default accept backlog of a listener: established connections not yet accepted (Node's default, 511). */
  backlog: number;
  /**
   * Half-open (SYN-RECEIVED) connections a listener holds, apart from its
   * accept queue. When it is full a SYN gets a SYN cookie ({@link synCookies}
   * 'auto') or is dropped ('never').
   */
  synBacklog: number;
  /**
   * SYN cookies (RFC 4987 §3.6, src/tcp/syncookie.ts): 'auto' (default) when
   * the SYN queue is full, 'always' for every SYN (no SYN queue at all),
   * 'never'.
   */
  synCookies: SynCookieMode;
  /**
   * SYN-ACK retransmissions of a half-open connection before it is dropped
   * (Linux tcp_synack_retries, 5: about 63 s at a 1 s initial RTO). When the
   * SYN queue is more than half full of entries already retransmitted, fewer
   * (down to 2, about 7 s), as Linux's reqsk_timer_handler.
   */
  synAckRetries: number;
  keepaliveIdleMs: number;
  keepaliveIntervalMs: number;
  keepaliveProbes: number;
  /** Disable Nagle's algorithm. */
  noDelay: boolean;
  /** Keepalive on for new connections (off by default, RFC 1122). */
  keepalive: boolean;
  /** Congestion control algorithm name ('cubic', 'newreno', 'dctcp'). */
  cc: string;
  /** ECN (RFC 3168): ask for it on our SYNs and accept it on the peer's. */
  ecn: boolean;
  /**
   * Accept ECN when the peer's SYN asks for it, without asking on ours
   * (Linux `tcp_ecn=2`, FreeBSD `ecn.enable=2`, both OSes' default). Read
   * for a simultaneous open's SYN (input.ts); a listener reads `ecn` only
   * until layer.ts's listenInput reads this too.
   */
  ecnPassive: boolean;
  /** Fixed RFC 6528 secret, for deterministic tests. */
  isnSecret?: Uint8Array;
  /** Bytes of out-of-order data held per connection (default rcvBuf). */
  oooMaxBytes?: number;
  /**
   * Challenge ACKs per second across the layer (RFC 5961 §7); the budget of
   * each second is drawn at random from [limit/2, limit·3/2) so that it is
   * not an observable shared counter (CVE-2016-5696, as Linux since 4.7).
   */
  challengeAckLimit: number;
  /**
   * At most one challenge ACK per connection per this many ms (Linux
   * tcp_invalid_ratelimit, 500); 0 turns the per-connection limit off.
   */
  challengeAckIntervalMs: number;
  /**
   * Hand the port up to 64 KB per segment when it offers TCP TSO (default
   * on). DPDK 22.11's net_tap sums chains segment by segment ignoring odd
   * byte lanes, for its checksum offload and its software TSO alike; output
   * evens the segments out first (src/tcp/tso.ts evenSegments), which makes
   * both correct there.
   */
  tso: boolean;
  /**
   * Proportional Rate Reduction (RFC 6937, src/tcp/prr.ts) bounds what SACK
   * recovery sends per ACK, as Linux does (default on); off, recovery sends
   * cwnd − pipe at once (RFC 6675 alone).
   */
  prr: boolean;
  /**
   * Accept an RST whose sequence number is anywhere in the receive window
   * (RFC 793 / RFC 9293 without RFC 5961 §3; FreeBSD
   * `net.inet.tcp.insecure_rst=1`). Off (default), only an RST at exactly
   * RCV.NXT resets the connection and any other in-window RST draws a
   * challenge ACK (RFC 5961 §3.2), which blind RST injection cannot guess.
   */
  rstAcceptInWindow: boolean;
  /**
   * A SYN in a synchronized state (not SYN-RECEIVED, not TIME-WAIT) whose
   * sequence number is in the window resets the connection: RST sent,
   * ECONNRESET (RFC 793; FreeBSD `net.inet.tcp.insecure_syn=1`). Off
   * (default), every such SYN draws a challenge ACK (RFC 5961 §4.2).
   */
  synInWindowReset: boolean;
  /**
   * Drop segments with both SYN and FIN set (default on, as Linux). Off
   * (FreeBSD's `net.inet.tcp.drop_synfin=0`, its default), the FIN is
   * cleared and the segment is handled as a SYN. Read from the layer's own
   * config: the check comes before any socket is looked up.
   */
  dropSynFin: boolean;
  /**
   * Take the free receive-buffer space as RCV.WND for the acceptability test
   * when it is wider than the window advertised (FreeBSD tcp_input:
   * `rcv_wnd = imax(sbspace, rcv_adv - rcv_nxt)`, e.g. 65700 bytes of buffer
   * behind an unscaled 65535); not in TIME-WAIT nor for a listener's
   * half-open entry. Off (default): the window advertised
   * (RFC 9293 RCV.WND), the only one the peer knows.
   */
  rcvWndFromBuffer: boolean;
  /**
   * While our FIN is sent but not acknowledged, an ACK we owe repeats it
   * (FreeBSD tcp_output: the state's flags keep TH_FIN and the sequence
   * number is pulled back to the FIN's), so the peer's FIN in FIN-WAIT-1 is
   * answered `F.` rather than `.`. Off (default, as Linux): a pure ACK.
   * RFC 9293 allows both; the repeat costs nothing and may save the RTO.
   */
  ackRepeatsFin: boolean;
  /**
   * TIME-WAIT input as FreeBSD's tcp_twcheck: an RST or a segment without
   * ACK is dropped silently (a SYN above RCV.NXT still opens a new
   * incarnation), a retransmitted FIN restarts the 2MSL timer, and every
   * other segment is answered with an ACK unless it is an exact duplicate
   * of the peer's last ACK, with no window test. Off (default, RFC 9293
   * §3.10.7.4 and Linux): the acceptability test first (out-of-window
   * segments are ACKed), and only a retransmitted FIN is answered.
   */
  bsdTimeWait: boolean;
  /**
   * ICMP errors for TCP as FreeBSD's tcp_ctlinput and icmp_errmap: a quote
   * is believed only below SND.MAX (RFC 5927 §4.1 says below SND.NXT; Linux
   * takes SND.NXT itself too), and while opening the administratively
   * prohibited codes (9, 10, 13) refuse the connection (ECONNREFUSED) where
   * Linux reports them as unreachable. Off (default): Linux.
   */
  bsdIcmp: boolean;
  /**
   * Hard ICMP errors (unreachables, time exceeded) end a connection in
   * SYN-SENT (RFC 1122 §4.2.3.9 allows it; Linux and FreeBSD's
   * net.inet.tcp.icmp_may_rst=1 do). Off: they are ignored while opening,
   * and the connection goes on retransmitting its SYN. Default on.
   */
  icmpMayReset: boolean;
  /**
   * ACK at once every second data segment whatever its size: a segment
   * arriving while a delayed ACK is pending is ACKed now (FreeBSD's
   * DELAY_ACK / TF_DELACK). Off (default, Linux): at least every second
   * full-sized segment's worth of bytes (RFC 5681 §4.2), small segments
   * wait for the delayed-ACK timer.
   */
  ackEverySecondSegment: boolean;
  /**
   * An ACK of data not yet sent (SEG.ACK > SND.NXT) in a synchronized
   * state is dropped without an answer and without touching TS.Recent
   * (Linux tcp_ack: "discard this segment"). Off (default, RFC 9293
   * §3.10.7.4, RFC 5961 §5.2 and FreeBSD's dropafterack): the segment
   * draws a (rate-limited) ACK.
   */
  unsentAckSilentDrop: boolean;
  /**
   * After a read, announce the larger window with a pure ACK only when it
   * at least doubles the window the peer holds (Linux tcp_cleanup_rbuf).
   * Off (default): when it grows by two segments or half the buffer
   * (RFC 9293 §3.8.6.2.2's receiver SWS rule).
   */
  windowUpdateDoubling: boolean;
  /**
   * PSH also on the last segment of every burst of two or more segments
   * sent back to back (Linux __tcp_transmit_skb marks each GSO packet PSH
   * to flush the receiver's GRO). Off (default): PSH only where a write
   * ends or the queue empties (RFC 9293 §3.9.1.2, FreeBSD).
   */
  pshOnBurst: boolean;
  /** pshOnBurst: the fewest segments Linux puts in a GSO packet (tcp_min_tso_segs, default 2). */
  minTsoSegs: number;
  /**
   * A connection ended by an error (reset by its peer, an ICMP hard
   * error, a timeout) keeps what it received readable (reads return it,
   * then the error), and one that ends so while it waits in the accept
   * queue stays there: accept() returns it, closed (Linux tcp_done leaves
   * the child queued; tcp_recvmsg returns queued data before sk_err). Off
   * (default): the received bytes are dropped with the connection and a
   * queued one leaves the queue.
   */
  readAfterReset: boolean;
  /**
   * Slow start as Linux tcp_slow_start: cwnd grows by all an ACK
   * acknowledges (a stretch ACK of four segments: four), up to ssthresh,
   * and only while it is in use (tcp_is_cwnd_limited: cwnd below twice the
   * flight). Off (default): RFC 3465 byte counting with L = 2·SMSS.
   */
  linuxSlowStart: boolean;
  /**
   * TCP_USER_TIMEOUT (RFC 5482; Linux): when > 0, how long (ms)
   * transmitted data may stay unacknowledged while it is being
   * retransmitted before the connection is aborted with ETIMEDOUT,
   * instead of the retry counts; each retransmission timeout is clamped to
   * what remains of it (Linux tcp_clamp_rto_to_user_timeout). 0 (default):
   * off.
   */
  userTimeoutMs: number;
  /**
   * RFC 5681 §4.1 restart window (Linux tcp_slow_start_after_idle=1): a
   * write to a connection with nothing in flight that has been idle longer
   * than the RTO first halves cwnd once per RTO idle, down to no less than
   * the initial window (Linux tcp_cwnd_restart), ssthresh kept at ≥ 3/4 of
   * the old cwnd. The idle time is counted from the last segment received
   * (the ACK of the last data sent). Off (default).
   */
  slowStartAfterIdle: boolean;
  /**
   * Nagle as Linux (Minshall's variant, tcp_nagle_check/tcp_minshall_check):
   * a segment shorter than the MSS is held only while an earlier short one
   * is unacknowledged, not while any data is. Off (default): RFC 896 /
   * RFC 1122 §4.2.3.4, held while anything is in flight.
   */
  nagleMinshall: boolean;
  /**
   * The retransmission timeout as Linux tcp_rtt_estimator/__tcp_set_rto:
   * SRTT plus the largest mean deviation of the last round trip, which is
   * never below {@link minRtoMs} (so the RTO is at least SRTT + minRtoMs:
   * 300 ms at a 100 ms RTT, where RFC 6298 gives 250 ms after a second
   * equal sample). Off (default): RFC 6298, max(SRTT + 4·RTTVAR, minRtoMs).
   */
  linuxRto: boolean;
  /**
   * The tail loss probe timer as Linux tcp_schedule_loss_probe: PTO =
   * 2·SRTT + 2 ms (+ minRtoMs instead when one segment is in flight), cut
   * to when the RTO would fire rather than left to it (the probe then takes
   * the RTO's place and the RTO is re-armed after it, RFC 8985 §7.2's
   * TLP_calc_PTO), restarted by every transmission of new data (RFC 8985
   * §7.2), and armed only in the Open state: not while SACKed data is
   * outstanding nor in recovery. Off (default): PTO = 2·SRTT (+ 200 ms with
   * one segment in flight), at least 10 ms, no probe when the RTO comes
   * first, restarted only by ACKs, and also allowed once per advance in
   * SACK recovery.
   */
  linuxTlp: boolean;
  /**
   * A SACK retransmission covers the rest of the segment it falls in, as
   * sent (Linux resends whole skbs: tcp_match_skb_to_sack SACKs only whole
   * segments, so a block covering part of one, e.g. its last byte, leaves
   * it all to be resent). Off (default): RFC 6675 NextSeg, byte-granular,
   * resends only the octets not SACKed.
   */
  resendWholeSegments: boolean;
  /**
   * When the RACK reordering timer starts recovery, PRR limits what goes
   * out as for an ACK delivering one segment (Linux tcp_rack_reo_timeout:
   * tcp_cwnd_reduction(sk, 1, ...)): usually one retransmission. Off
   * (default): cwnd − pipe at once (RFC 6675; RFC 6937 acts on ACKs only).
   */
  prrOnRackTimer: boolean;
  /**
   * RACK.rtt as Linux tcp_rack_advance: the RTT of every segment an ACK
   * delivers, in sequence order (SACKed first, then the cumulatively
   * acknowledged), so the last one processed sets it, not only the one sent
   * last (RFC 8985 §6.2 step 2, in order of transmission). Off (default): RFC 8985.
   */
  linuxRackRtt: boolean;
  /**
   * Fast Open client: SYN data the SYN-ACK did not acknowledge is sent
   * again as the segment it was, with PSH (Linux keeps it in its own skb,
   * tcp_send_syn_data, and retransmits that: tcp_rcv_fastopen_synack), and
   * later resends keep that boundary. Off (default): it goes again with
   * what follows, cut by the MSS.
   */
  fastOpenSynDataSegment: boolean;
  /**
   * TCP_NOTSENT_LOWAT (Linux; sysctl tcp_notsent_lowat), bytes; 0 (default)
   * = off. While this much or more is queued and not yet sent, a write
   * accepts nothing: each write takes data one size goal (half the peer's
   * largest window, at most 64 KB) at a time while less than it is unsent
   * (Linux tcp_stream_memory_free at each new skb); the socket reports
   * room to write (sendSpace, poll) only once less than half of it is
   * unsent.
   */
  notsentLowat: number;
  /**
   * TCP Fast Open server (RFC 7413, src/tcp/fastopen.ts): on a listener, at
   * most this many Fast Open connections accepted on their SYN that have
   * not completed the handshake yet (TCP_FASTOPEN's queue length, RFC 7413
   * §5.1); 0 (default) ignores Fast Open. A SYN with a valid cookie has its
   * data queued for the application before the handshake completes and
   * acknowledged by the SYN-ACK; a cookie request or an invalid cookie gets
   * a fresh cookie in the SYN-ACK, and the SYN's data is dropped. `listen(port, { fastOpen: 16 })`.
   * -1: the listener's backlog (Linux `tcp_fastopen` 0x400, Fast Open on every listener).
   */
  fastOpen: number;
  /**
   * Whether listeners may use Fast Open at all (Linux `tcp_fastopen` bit 0x2,
   * FreeBSD `fastopen.server_enable`); default on, so {@link fastOpen} alone decides.
   */
  fastOpenServer: boolean;
  /**
   * TCP Fast Open client: connect() with early data asks for a cookie
   * (empty Fast Open option) and, once the server gave one, sends data on
   * the SYN (RFC 7413 §4.2; Linux `tcp_fastopen` bit 0x1, FreeBSD
   * `fastopen.client_enable`). Off (default): early data waits for the handshake.
   */
  fastOpenClient: boolean;
  /**
   * Server: accept SYN data without a cookie (Linux `tcp_fastopen` 0x200);
   * only safe where the SYN's source is trusted (RFC 7413 §5). Default off.
   */
  fastOpenServerNoCookie: boolean;
  /** Client: send SYN data without a cookie (Linux `tcp_fastopen` 0x4). Default off. */
  fastOpenClientNoCookie: boolean;
  /**
   * The server's cookie key (16 bytes; Linux `tcp_fastopen_key`). Cookies are
   * SipHash-2-4 of the client and server addresses under it, 8 bytes (as
   * Linux's). Unset (default): a random key, replaced every
   * {@link fastOpenKeyRotateMs} (cookies under the previous key stay valid).
   */
  fastOpenKey?: Uint8Array;
  /** How long a random cookie key lives before the next replaces it (default 1 h). */
  fastOpenKeyRotateMs: number;
  /**
   * Client: after a SYN-ACK without the Fast Open option, or with a cookie
   * of invalid length, Fast Open is off towards that server for this long
   * (FreeBSD `fastopen.path_disable_time`, 900 s). 0 (default, as Linux):
   * the next connection asks for a cookie again.
   */
  fastOpenPathDisableMs: number;
  /** Lower end of the ephemeral port range (inclusive). */
  ephemeralLow: number;
  /** Upper end of the ephemeral port range (inclusive). */
  ephemeralHigh: number;
}

/** When a listener answers a SYN with a SYN cookie (see {@link TcpConfig.synCookies}). */
export type SynCookieMode = 'auto' | 'always' | 'never';

/** `TcpConfig.wscale`: compute the shift from rcvBuf (RFC 7323 §2.3, {@link wscaleFor}). */
export const WSCALE_AUTO = -1;
/** `TcpConfig.wscale` at or below this: window scaling neither offered nor accepted. */
export const WSCALE_OFF = -2;

/** The defaults, as the contract lists them. */
export const DEFAULT_TCP_CONFIG: TcpConfig = {
  initialCwndSegments: 10,
  initialRtoMs: 1000,
  minRtoMs: 200,
  maxRtoMs: 120000,
  delayedAckMs: 40,
  quickAck: 0,
  maxRetries: 15,
  synRetries: 6,
  connectTimeoutMs: 0,
  timeWaitMs: 60000,
  timeWaitMax: 4096,
  wscale: 7,
  sack: true,
  timestamps: true,
  rcvBuf: 1 << 20,
  sndBuf: 1 << 20,
  backlog: 511,
  synBacklog: 511,
  synCookies: 'auto',
  synAckRetries: 5,
  keepaliveIdleMs: 7200000,
  keepaliveIntervalMs: 75000,
  keepaliveProbes: 9,
  noDelay: false,
  keepalive: false,
  cc: 'cubic',
  ecn: false,
  ecnPassive: false,
  challengeAckLimit: 1000,
  challengeAckIntervalMs: 500,
  tso: true,
  prr: true,
  rstAcceptInWindow: false,
  synInWindowReset: false,
  dropSynFin: true,
  rcvWndFromBuffer: false,
  ackRepeatsFin: false,
  bsdTimeWait: false,
  bsdIcmp: false,
  icmpMayReset: true,
  ackEverySecondSegment: false,
  unsentAckSilentDrop: false,
  windowUpdateDoubling: false,
  pshOnBurst: false,
  minTsoSegs: 2,
  readAfterReset: false,
  linuxSlowStart: false,
  userTimeoutMs: 0,
  slowStartAfterIdle: false,
  nagleMinshall: false,
  linuxRto: false,
  linuxTlp: false,
  resendWholeSegments: false,
  prrOnRackTimer: false,
  linuxRackRtt: false,
  fastOpenSynDataSegment: false,
  notsentLowat: 0,
  fastOpen: 0,
  fastOpenServer: true,
  fastOpenClient: false,
  fastOpenServerNoCookie: false,
  fastOpenClientNoCookie: false,
  fastOpenKeyRotateMs: 3600000,
  fastOpenPathDisableMs: 0,
  ephemeralLow: 32768,
  ephemeralHigh: 60999,
};

/**
 * A copy of `b` with every field present, in one fixed order: every config
 * object then has the same hidden class, so the hot sites reading
 * `c.cfg.x` stay monomorphic whatever options a listener or connect() gave.
 */
function copyConfig(b: TcpConfig): TcpConfig {
  // The fields a connection reads per segment first, so that they share a
  // cache line or two: each connection has its own copy, and at thousands
  // of connections every line of it read per visit is a cache miss
  // (the order of this literal is the objects' field order).
  return {
    sndBuf: b.sndBuf, rcvBuf: b.rcvBuf, slowStartAfterIdle: b.slowStartAfterIdle, pshOnBurst: b.pshOnBurst, tso: b.tso,
    linuxTlp: b.linuxTlp, linuxSlowStart: b.linuxSlowStart, windowUpdateDoubling: b.windowUpdateDoubling, notsentLowat: b.notsentLowat,
    delayedAckMs: b.delayedAckMs, quickAck: b.quickAck, minRtoMs: b.minRtoMs, maxRtoMs: b.maxRtoMs, keepaliveIdleMs: b.keepaliveIdleMs,
    mss: b.mss,
    initialCwndSegments: b.initialCwndSegments, initialRtoMs: b.initialRtoMs, maxRetries: b.maxRetries, synRetries: b.synRetries,
    connectTimeoutMs: b.connectTimeoutMs, timeWaitMs: b.timeWaitMs, timeWaitMax: b.timeWaitMax, wscale: b.wscale, sack: b.sack,
    timestamps: b.timestamps, backlog: b.backlog, synBacklog: b.synBacklog, synCookies: b.synCookies, synAckRetries: b.synAckRetries,
    keepaliveIntervalMs: b.keepaliveIntervalMs, keepaliveProbes: b.keepaliveProbes, noDelay: b.noDelay, keepalive: b.keepalive, cc: b.cc,
    ecn: b.ecn, ecnPassive: b.ecnPassive, isnSecret: b.isnSecret, oooMaxBytes: b.oooMaxBytes, challengeAckLimit: b.challengeAckLimit,
    challengeAckIntervalMs: b.challengeAckIntervalMs, prr: b.prr, rstAcceptInWindow: b.rstAcceptInWindow,
    synInWindowReset: b.synInWindowReset, dropSynFin: b.dropSynFin, rcvWndFromBuffer: b.rcvWndFromBuffer, ackRepeatsFin: b.ackRepeatsFin,
    bsdTimeWait: b.bsdTimeWait, bsdIcmp: b.bsdIcmp, icmpMayReset: b.icmpMayReset, ackEverySecondSegment: b.ackEverySecondSegment,
    unsentAckSilentDrop: b.unsentAckSilentDrop, minTsoSegs: b.minTsoSegs, readAfterReset: b.readAfterReset, userTimeoutMs: b.userTimeoutMs,
    nagleMinshall: b.nagleMinshall, linuxRto: b.linuxRto, resendWholeSegments: b.resendWholeSegments, prrOnRackTimer: b.prrOnRackTimer,
    linuxRackRtt: b.linuxRackRtt, fastOpenSynDataSegment: b.fastOpenSynDataSegment, fastOpen: b.fastOpen, fastOpenServer: b.fastOpenServer,
    fastOpenClient: b.fastOpenClient, fastOpenServerNoCookie: b.fastOpenServerNoCookie, fastOpenClientNoCookie: b.fastOpenClientNoCookie,
    fastOpenKey: b.fastOpenKey, fastOpenKeyRotateMs: b.fastOpenKeyRotateMs, fastOpenPathDisableMs: b.fastOpenPathDisableMs,
    ephemeralLow: b.ephemeralLow, ephemeralHigh: b.ephemeralHigh,
  };
}

/** Every field of TcpConfig (the compiler checks the list is complete). */
const CONFIG_KEYS = Object.keys({
  mss: 0, initialCwndSegments: 0, initialRtoMs: 0, minRtoMs: 0, maxRtoMs: 0, delayedAckMs: 0, quickAck: 0,
  maxRetries: 0, synRetries: 0, connectTimeoutMs: 0, timeWaitMs: 0, timeWaitMax: 0, wscale: 0, sack: 0, timestamps: 0, rcvBuf: 0,
  sndBuf: 0, backlog: 0, synBacklog: 0, synCookies: 0, synAckRetries: 0, keepaliveIdleMs: 0, keepaliveIntervalMs: 0, keepaliveProbes: 0, noDelay: 0,
  keepalive: 0, cc: 0, ecn: 0, ecnPassive: 0, isnSecret: 0, oooMaxBytes: 0, challengeAckLimit: 0, challengeAckIntervalMs: 0, tso: 0, prr: 0,
  rstAcceptInWindow: 0, synInWindowReset: 0, dropSynFin: 0, rcvWndFromBuffer: 0, ackRepeatsFin: 0, bsdTimeWait: 0, bsdIcmp: 0, icmpMayReset: 0, ackEverySecondSegment: 0, unsentAckSilentDrop: 0, windowUpdateDoubling: 0, pshOnBurst: 0, minTsoSegs: 0, readAfterReset: 0, linuxSlowStart: 0, userTimeoutMs: 0, slowStartAfterIdle: 0, nagleMinshall: 0, linuxRto: 0, linuxTlp: 0, resendWholeSegments: 0, prrOnRackTimer: 0, linuxRackRtt: 0, fastOpenSynDataSegment: 0, notsentLowat: 0,
  fastOpen: 0, fastOpenServer: 0, fastOpenClient: 0, fastOpenServerNoCookie: 0, fastOpenClientNoCookie: 0, fastOpenKey: 0, fastOpenKeyRotateMs: 0,
  fastOpenPathDisableMs: 0, ephemeralLow: 0, ephemeralHigh: 0,
} satisfies Record<keyof TcpConfig, 0>) as (keyof TcpConfig)[];

/**
 * Defaults overlaid with `over` (undefined entries ignored). Keys that are
 * not TcpConfig fields (connect's `localPort`) are not copied.
 */
export function resolveConfig(base: TcpConfig, over?: Partial<TcpConfig>): TcpConfig {
  const c = copyConfig(base);
  if (over) {
    for (let i = 0; i < CONFIG_KEYS.length; i++) {
      const k = CONFIG_KEYS[i];
      const v = over[k];
      if (v !== undefined) (c as unknown as Record<string, unknown>)[k] = v;
    }
  }
  return c;
}

/** A copy of a resolved config, of the same shape (a connection's own, changed by socket options). */
export function cloneConfig(c: TcpConfig): TcpConfig { return copyConfig(c); }

/** The smallest shift that lets `rcvBuf` be advertised in 16 bits (RFC 7323 §2.3). */
export function wscaleFor(rcvBuf: number): number {
  let s = 0;
  while (s < 14 && (rcvBuf >>> s) > 0xffff) s++;
  return s;
}
