/** TCP (RFC 9293): the layer, connections and their configuration. */
export { TcpLayer, TcpListener, type TcpEnv, type TcpCounters } from './layer.js';
export { TcpConnection, TcpError, type TcpErrorCode, type TcpCloseErrorCode, type TcpOpenErrorCode, type TcpInfo } from './connection.js';
export { TcpState, TCP_STATE_NAMES, TcpStateError, isLegalTransition, legalTransitions, type TransitionCause } from './state.js';
export { TCP_DROP_REASONS, type TcpDropReason, type TcpDrops } from './drops.js';
export { DEFAULT_TCP_CONFIG, type TcpConfig } from './config.js';
export type { CongestionControl } from './cc/cc.js';
