/**
 * @module
 * The gateway's sinks, built from @bifrost/cloud. Relative paths in a sink entry (queue dir,
 * certificate and secret files) resolve against the config file's folder, so a gateway runs the
 * same from any working directory. Each sink owns a durable queue on disk: stopping a sink (at
 * shutdown or reload) keeps what is queued, and the next start drains it.
 */
import { isAbsolute, resolve } from 'node:path';
import { createSink, validateSinkConfig } from '@bifrost/cloud';
import type { GatewayConfig } from '@bifrost/core';
import type { ErrorAt, GatewayComponents, SinkRuntime } from './components.js';

const PATH_FIELDS = ['passwordFile', 'deviceKeyFile', 'keyFile', 'certFile', 'caFile'];

function resolvePaths(entry: Record<string, unknown>, baseDir: string): Record<string, unknown> {
  const abs = (p: unknown) => (typeof p === 'string' && !isAbsolute(p) ? resolve(baseDir, p) : p);
  const out: Record<string, unknown> = { ...entry };
  for (const k of PATH_FIELDS) if (out[k] !== undefined) out[k] = abs(out[k]);
  if (out.buffer && typeof out.buffer === 'object') {
    const b = { ...(out.buffer as Record<string, unknown>) };
    if (b.dir !== undefined) b.dir = abs(b.dir);
    out.buffer = b;
  }
  if (out.tls && typeof out.tls === 'object') {
    const t = { ...(out.tls as Record<string, unknown>) };
    for (const k of ['ca', 'cert', 'key']) if (t[k] !== undefined) t[k] = abs(t[k]);
    out.tls = t;
  }
  return out;
}

/** Sink factories from @bifrost/cloud. */
export function cloudComponents(): Pick<GatewayComponents, 'createSink'> & { validate(config: GatewayConfig, errorAt: ErrorAt): void } {
  return {
    validate(config, errorAt) {
      config.sinks.forEach((s, i) => {
        validateSinkConfig(s, (path, expected, got) => errorAt(['sinks', i, ...(path as (string | number)[])], expected, got) as never);
      });
    },
    async createSink(config, context): Promise<SinkRuntime> {
      const entry = resolvePaths(config as Record<string, unknown>, context.baseDir);
      const options: Parameters<typeof createSink>[1] = { defaultQueueDir: resolve(context.baseDir, 'data', 'queue', context.name) };
      if (context.gateway.site !== undefined) options.site = context.gateway.site;
      if (context.gateway.area !== undefined) options.area = context.gateway.area;
      const sink = createSink(entry, options);
      return {
        name: context.name,
        start: () => sink.start(),
        // enqueue never rejects: a refused append (a full disk) is counted and reported as a
        // rate-limited sink warning, not as one gateway warning per value.
        publish: (record) => sink.enqueue({ ...record }).then(() => {}),
        publishBatch: (batch) => sink.enqueue(batch).then(() => {}),
        stop: () => sink.stop(),
        metrics() {
          const m = sink.metrics();
          const out: Record<string, number> = {
            connected: m.connected ? 1 : 0,
            published: m.published,
            messages: m.messages,
            rejected: m.rejected,
            connectFailures: m.connectFailures,
            reconnects: m.reconnects,
            ackTimeouts: m.ackTimeouts,
            resent: m.resent,
            enqueueFailures: m.enqueueFailures,
            // 1 when connected and draining; 0 while connecting, after an ack timeout, or on a full disk (see `health` in the README).
            healthy: m.health === 'ok' ? 1 : 0,
            stalled: m.health === 'stalled' ? 1 : 0,
          };
          if (m.queue) {
            for (const [k, v] of Object.entries(m.queue)) if (typeof v === 'number') out[`queue${k[0]?.toUpperCase()}${k.slice(1)}`] = v;
          }
          return out;
        },
        on: (event, listener) => sink.on(event, listener),
      };
    },
  };
}
