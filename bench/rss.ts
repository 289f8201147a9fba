/**
 * Receive-side scaling seen from software, for the line-rate client: it
 * picks local ports whose replies the NIC steers to the worker's own queue.
 * The hash, the key and the redirection table live in src/pmd/dpdk-rss.ts,
 * the module `Dpdk.openPort` programs the device from, so the prediction and
 * the device cannot disagree; the port's `rss` says what is in use.
 */
export {
  DEFAULT_RSS_HASH_FUNCTIONS, SYMMETRIC_RSS_KEY, defaultReta, pickLocalPort, rssHashTcp4, rssQueueOf, symmetricRssKey,
  toeplitz, type RssConfig,
} from '../src/pmd/dpdk-rss.js';
