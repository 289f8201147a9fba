/**
 * The application module every shard of `tzstack serve --shards N` loads:
 * the same TCP services as the one-stack server (echo 7, discard 9, HTTP
 * 80) on the shard's own stack, so a connection is served wholly by the
 * shard the device put it on. HTTP responses carry `X-Tzstack-Shard: <i>`
 * so a client can see which shard answered; the services' counters go into
 * the shard's stats under `app` (summed across shards by the main thread).
 */
import { startServices, type ServicesHandle } from '../app/services.js';
import type { ShardContext } from '../shard/context.js';

/** `ctx.data` of this module. */
export interface ServeShardData {
  services: string[];
}

export default function shard(ctx: ShardContext): void {
  const data = ctx.data as ServeShardData;
  if (data.services.length === 0) return;
  const services: ServicesHandle = startServices(ctx.stack, { services: data.services });
  // Before the services' own listener: headers set here go out with every response.
  services.httpServer?.prependListener('request', (_req, res) => { res.setHeader('X-Tzstack-Shard', String(ctx.shard)); });
  ctx.appStats = () => ({ services: services.stats() as Record<string, unknown> });
  ctx.onClose(() => services.close());
}
