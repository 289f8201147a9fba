/**
 * The handshake every TcpPair test starts from: b listens, a connects, the
 * wire runs until quiet, b accepts. One copy, so that a test that needs
 * something else (a listener option, another port) says only that.
 */
import { expect } from 'chai';
import { IP_B, type TcpPair } from '../tcp-harness.js';
import { TcpState } from '../../src/tcp/state.js';
import type { TcpConnection } from '../../src/tcp/connection.js';
import type { TcpConfig } from '../../src/tcp/config.js';

/** What {@link established} may vary. */
export interface HandshakeOptions {
  /** b's listening port (default 80). */
  port?: number;
  /** Options of b's listener (backlog, per-listener TCP config such as rcvBuf). */
  listen?: { backlog?: number } & Partial<TcpConfig>;
}

/** The two ends of an established connection: `client` on side a, `server` on side b. */
export interface Established { client: TcpConnection; server: TcpConnection }

/**
 * Connect a to b and return both ends, checking that the handshake completed
 * within one delivery (accepted, both ESTABLISHED). A port number may be
 * given directly: `established(p, 81)`.
 */
export function established(p: TcpPair, opts: HandshakeOptions | number = {}): Established {
  const o = typeof opts === 'number' ? { port: opts } : opts;
  const port = o.port ?? 80;
  const l = p.b.listen(port, o.listen);
  const client = p.a.connect(IP_B, port);
  p.deliver();
  const server = l.accept();
  expect(server, `accepted on port ${port}`).to.not.equal(null);
  expect(client.state, 'client state after the handshake').to.equal(TcpState.Established);
  expect(server!.state, 'server state after the handshake').to.equal(TcpState.Established);
  return { client, server: server! };
}
