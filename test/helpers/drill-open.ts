/**
 * What the drill interpreter tests start their scripts from: the linux
 * profile as the corpus's defaults give it, and a passive open (listen,
 * handshake, accept as fd 4) to append a test's own lines to.
 */
import { parseDefaults } from '../../src/drill/defaults.js';

/** The linux profile, fresh each call (tests change its fields). */
export const linux = (): ReturnType<typeof parseDefaults>['linux'] => parseDefaults('', 'test').linux;

/** Script lines 1-8: socket 3 listens, the peer's SYN is answered, fd 4 accepted. */
export const PASSIVE_OPEN = `
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    bind(3, ..., ...) = 0
+0    listen(3, 1) = 0
+0    < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 200 ecr 100,nop,wscale 8>
+.01  < . 1:1(0) ack 1 win 514 <nop,nop,TS val 110 ecr 200>
+0    accept(3, ..., ...) = 4
`;
