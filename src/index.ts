/**
 * tzstack: a zero-copy TCP/IP stack in TypeScript over DPDK (or an
 * in-memory link). Everything a library user needs is exported here.
 */
export { Stack, type StackOptions, type StackCounters, type L4Env, type TxQueueCounters } from './stack.js';

// packet buffers
export * from './mbuf/index.js';

// ports
export { newPortStats, txBurstOrFree, type Port, type PortCaps, type PortStats } from './pmd/port.js';
export { createLinkPair, type LinkPairOptions } from './pmd/memory-link.js';

// time and randomness
export * from './util/index.js';

// Ethernet and ARP
export * from './eth/ethernet.js';
export * from './eth/counters.js';
export {
  ArpLayer, ArpState, ArpEntry, DEFAULT_ARP_CONFIG, type ArpConfig, type ArpEnv, type ArpEntryInfo,
} from './eth/arp.js';

// IPv4, ICMP, checksums, addresses
export * from './ip/addr.js';
export * from './ip/checksum.js';
export { Ipv4Layer, type IpHandler, type IpLink, type Ipv4Env, type Ipv4Config } from './ip/ipv4.js';
export * from './ip/ipv4-header.js';
export {
  IcmpLayer, DEFAULT_ICMP_CONFIG, type IcmpConfig, type EchoReplyHandler, type IcmpErrorHandler,
  ICMP_ECHO, ICMP_ECHO_REPLY, ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, ICMP_PARAM_PROBLEM,
  ICMP_UNREACH_PROTOCOL, ICMP_UNREACH_PORT, ICMP_UNREACH_FRAG_NEEDED, ICMP_EXC_FRAGTIME, ICMP_EXC_TTL,
} from './ip/icmp.js';
export { Reassembler, DEFAULT_REASSEMBLY_CONFIG, type ReassemblyConfig } from './ip/reassembly.js';
export { UdpClosed } from './ip/udp.js';

// IPv6, Neighbor Discovery, ICMPv6 (TCP over IPv6 is not there yet).
export * from './ip/addr6.js';
export * from './ip/ipv6-header.js';
export {
  Ipv6Layer, Addr6State, Addr6Entry, Router6, Prefix6, IPV6_DROP_REASONS,
  type Ip6Handler, type Ip6Link, type Ipv6Env, type Ipv6Config, type Ipv6DropReason, type Addr6Origin,
} from './ip/ipv6.js';
export {
  Icmp6Layer, DEFAULT_ICMP6_CONFIG, ICMP6_ECHO_REQUEST, ICMP6_ECHO_REPLY,
  type Icmp6Config, type Echo6ReplyHandler, type Icmp6ErrorHandler,
} from './ip/icmp6.js';
export { NdLayer, NdEntry, NudState, DEFAULT_ND_CONFIG, type NdConfig, type NdEntryInfo } from './ip/nd.js';
export { Reassembler6, DEFAULT_REASSEMBLY6_CONFIG, type Reassembly6Config } from './ip/reassembly6.js';
export { Udp6Closed } from './ip/udp6.js';
export { attachIpv6, ipv6Protocol, ipv6Of, type Ipv6Options, type Ipv6Attachment } from './ipv6-attach.js';

// Living beside the kernel: what no tzstack socket wants goes to a kernel tap.
export { attachKernelPath, type KernelPath, type KernelPathOptions, type ExceptionCounters } from './exception.js';

// UDP: node:dgram-shaped sockets (copying and zero-copy) over the IPv4 layer.
export { UdpSocket, createUdpSocket, setUdpEphemeralRange, udpLayerOf, type RemoteInfo, type UdpHost, type UdpSocketOptions } from './udp/socket.js';
export { UdpLayer, UDP_HEADROOM, UDP_LAYER_DROP_REASONS, type UdpLayerDropReason, type UdpEndpoint } from './udp/layer.js';
// UDP over IPv6: `stack.createSocket('udp6')`.
export {
  Udp6Socket, Udp6Layer, udp6LayerOf, UDP6_HEADROOM, UDP6_LAYER_DROP_REASONS,
  type Udp6SocketOptions, type RemoteInfo6, type Udp6Host, type Udp6LayerDropReason,
} from './udp/udp6.js';

// Several cores: a sharded stack (one worker thread and Stack per queue) and
// zero-copy hand-off of mbufs between threads.
export { HandoffRing, HANDOFF_RING_MAX } from './mbuf/handoff-ring.js';
export {
  ShardedStack, ShardPort, shardPortBlock, sumStats, newSteerCounters, type ShardedStackOptions, type ShardContext,
  type ShardExit, type ShardedCloseReport, type SteerCounters, type ShardStackOptions,
} from './shard/sharded.js';

// Devices: DPDK through the shim (loaded on first use, not on import), and
// the decorators any port can wear.
export { Dpdk, DpdkPort, DpdkQueue, DpdkMempool, dpdkAvailability, type DpdkInitOptions, type DpdkPortOptions, type DpdkDeviceInfo, type DpdkHwStats, type DpdkMempoolOptions } from './pmd/dpdk.js';
export { ImpairedPort, parseImpairSpec, type ImpairOptions, type ImpairDirection, type ImpairStats } from './pmd/impaired.js';
export { PcapPort, type PcapOptions } from './pmd/pcap.js';

// TCP: the layer and its connections (zero-copy and copying APIs), and the
// Node-style sockets and servers over them.
export * from './tcp/index.js';
export { TzSocket } from './tcp/socket.js';
export { TzServer, createServer, connect, createConnection, type TzServerOptions, type TzConnectOptions } from './tcp/server.js';
export { Tcp6Pair, fold6, key6 } from './tcp/route.js';
export type { ListenFamily } from './tcp/layer.js';
export { allocTxMbuf, allocTxMbufFor, txMbufFrom, txPayloadRoom, TX_HEADROOM, TX_HEADER_BYTES } from './tcp/zc.js';
export { createCongestionControl, registerCongestionControl, congestionControlNames } from './tcp/cc/cc.js';

// The services and HTTP client `tzstack serve` / `tzstack fetch` use.
export { startServices, type ServicesOptions, type ServicesHandle } from './app/services.js';
export { httpFetch, type FetchOptions, type FetchResult } from './app/fetch.js';
export { patternByte, fillPattern, checkPattern } from './app/pattern.js';
