/**
 * @module
 * `bifrost run gateway.yaml`: the gateway as a process. SIGTERM and SIGINT stop it gracefully
 * (polling stops, queues persist their cursor, connections close); SIGHUP reloads the config
 * file, keeping the running config when the new one is invalid.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadGatewayConfigAsync, RepeatLimiter, type RepeatSummary, redactUrl, toBifrostError } from '@bifrost/core';
import { Gateway } from './gateway.js';
import { isLoopback, serveHealth } from './http.js';
import { createLogger, type Logger } from './logger.js';

/** Options of {@link runGateway}. */
export interface RunOptions {
  logger?: Logger;
  /** Port for /health and /metrics when the config has no web section (default: config.metrics.port, else none). */
  metricsPort?: number;
  /** Install signal handlers (default true). */
  signals?: boolean;
  /** How long a stop may take before what still hangs is left behind (default 5000 ms; see Gateway.stop). */
  stopTimeoutMs?: number;
}

/** A gateway running as a process. */
export interface RunningGateway {
  gateway: Gateway;
  /** Resolves when the gateway has stopped. */
  stopped: Promise<void>;
  stop(): Promise<void>;
  reload(): Promise<void>;
  /** The web server's or metrics endpoint's port, if one runs. */
  httpPort?: number;
  /** The OPC UA server's endpoint URL, when `opcuaServer` is configured. */
  readonly opcuaUrl?: string | undefined;
}

/**
 * Loads a config file and runs the gateway until SIGTERM/SIGINT.
 * @example const run = await runGateway('gateway.yaml'); await run.stopped;
 */
export async function runGateway(file: string, options: RunOptions = {}): Promise<RunningGateway> {
  const log = options.logger ?? createLogger();
  const path = resolve(file);
  // Secret references (${env:}, ${file:}, ${credential:}, ${exec:}) resolve here, at start and on every reload.
  const { config, source } = await loadGatewayConfigAsync(path);
  ensureDataDir(resolve(dirname(path), config.dataDir), log);
  const gateway = new Gateway(config, { source, baseDir: dirname(path) });
  // Repeated lines are rate-limited (issue 23.4): the first of each kind in an interval is logged at
  // once, the rest as one line with a count at its end. A device that flaps every poll, or a scan that
  // fails every poll, writes two lines per 10 s instead of one per event.
  const summary = (what: string) => (s: RepeatSummary<Record<string, unknown>>) =>
    log.warn({ ...s.last, repeated: s.suppressed }, `${what} repeated ${s.suppressed} more time(s) in the last ${s.intervalMs / 1000} s`);
  const healthLimit = new RepeatLimiter<Record<string, unknown>>({ onSummary: summary('device health change') });
  const warningLimit = new RepeatLimiter<Record<string, unknown>>({ onSummary: summary('warning') });
  gateway.on('health', (e) => {
    const msg = `${e.device} ${e.previous} → ${e.state}`;
    const fields = { device: e.device, state: e.state, error: e.error?.code, reason: e.error?.message };
    if (!healthLimit.hit(`${e.device}:${e.previous}:${e.state}`, fields)) return;
    if (e.state === 'disconnected') log.warn(fields, msg);
    else log.info({ device: e.device, state: e.state }, msg);
  });
  gateway.on('warning', (e) => {
    const fields = { where: e.where, code: e.error.code, message: e.error.message };
    if (warningLimit.hit(`${e.where}:${e.error.code}`, fields)) log.warn({ where: e.where, code: e.error.code }, e.error.message);
  });
  gateway.on('write', (w) => log.info({ device: w.request.device, tag: w.request.tag, user: w.request.user, source: w.request.source, ok: !w.error, code: w.error?.code }, 'write'));
  await gateway.start();
  log.info({ devices: config.devices.length, pipelines: config.pipelines.length, sinks: config.sinks.length }, `gateway ${config.gateway.name} started from ${file}`);
  for (const d of config.devices) log.info({ device: d.name, url: redactUrl(d.url), tags: d.tags.length, pollMs: d.pollMs }, 'device');

  // The OPC UA server loads node-opcua: only when the config asks for it.
  let opcua: import('./opcua-server.js').GatewayOpcUaServer | undefined;
  const startOpcUa = async () => {
    const { startGatewayOpcUaServer } = await import('./opcua-server.js');
    opcua = await startGatewayOpcUaServer(gateway);
    log.info({ url: opcua.url, pki: opcua.server.pkiDir }, `OPC UA server on ${opcua.url}`);
    const ua = gateway.config.opcuaServer;
    if (ua && !isLoopback(ua.host) && (ua.allowAnonymous || ua.securityModes.includes('None')))
      log.warn(
        { host: ua.host, allowAnonymous: ua.allowAnonymous, securityModes: ua.securityModes },
        'opcuaServer: bound to a non-loopback address with anonymous sessions or SecurityMode None: anyone on that network can read the plant (set allowAnonymous: false and securityModes: [SignAndEncrypt])',
      );
  };
  let http: { port: number; close(): Promise<void> } | undefined;
  let closeWeb: (() => Promise<void>) | undefined;
  const webCfg = config.web;
  try {
    if (webCfg) {
      const web = await import('@bifrost/web' as string).catch(() => undefined);
      if (web?.startWebServer) {
        const srv = await web.startWebServer(gateway, { ...webCfg, logger: log, baseDir: dirname(path) });
        closeWeb = () => srv.close();
        http = { port: srv.port, close: () => srv.close() };
        log.info(`dashboard and API on http://${webCfg.host}:${srv.port}/`);
      }
    }
    if (config.opcuaServer) await startOpcUa();
    const metricsPort = options.metricsPort ?? config.metrics?.port;
    if (!http && metricsPort !== undefined) {
      const m = config.metrics;
      const host = m?.host ?? '127.0.0.1';
      if (!isLoopback(host) && m?.tokens === undefined) log.warn({ host }, 'metrics: bound to a non-loopback address without tokens: anyone on that network can read /metrics (set metrics.tokens)');
      const field = options.metricsPort !== undefined ? '--metrics-port' : 'metrics.port';
      http = await serveHealth(gateway, { port: metricsPort, field, host, hosts: m?.hosts ?? [], ...(m?.tokens ? { tokens: m.tokens } : {}), baseDir: dirname(path) });
      log.info(`health and metrics on http://${host.includes(':') ? `[${host}]` : host}:${http.port}/health and /metrics`);
    }
  } catch (e) {
    // A port already in use (BIFROST_ADDRESS_IN_USE), or a web section the web server refuses (a
    // non-loopback bind without tokens): the devices already started must not keep polling.
    await opcua?.close().catch(() => {});
    await gateway.stop(options.stopTimeoutMs === undefined ? {} : { timeoutMs: options.stopTimeoutMs });
    throw e;
  }

  let resolveStopped: () => void = () => {};
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      log.info('stopping: polling stops, queues persist, connections close');
      await opcua?.close();
      await gateway.stop(options.stopTimeoutMs === undefined ? {} : { timeoutMs: options.stopTimeoutMs });
      if (closeWeb) await closeWeb();
      else await http?.close();
      healthLimit.flush();
      warningLimit.flush();
      log.info('stopped');
      detach();
      resolveStopped();
    })();
    return stopping;
  };
  const reload = async () => {
    try {
      const next = await loadGatewayConfigAsync(path);
      const diff = await gateway.reload(next.config, next.source);
      log.info(diff, 'config reloaded');
      if (opcua) {
        await opcua.apply(next.config).catch((e: unknown) => log.error({ code: toBifrostError(e).code }, `OPC UA server stopped: ${toBifrostError(e).message}`));
        if (!next.config.opcuaServer) opcua = undefined;
        else log.info({ url: opcua?.url }, 'OPC UA server applied the config');
      } else if (next.config.opcuaServer) await startOpcUa();
    } catch (e) {
      const err = toBifrostError(e, 'BIFROST_CONFIG_INVALID');
      log.error({ code: err.code }, `reload refused, the running config stays: ${err.message}`);
    }
  };
  const onTerm = () => void stop();
  const onHup = () => void reload();
  const detach = () => {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onTerm);
    process.off('SIGHUP', onHup);
  };
  if (options.signals !== false) {
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onTerm);
    process.on('SIGHUP', onHup);
  }
  const running: RunningGateway = {
    gateway,
    stopped,
    stop,
    reload,
    get opcuaUrl() {
      return opcua?.url;
    },
  };
  if (http) running.httpPort = http.port;
  return running;
}

/**
 * Creates dataDir mode 0700: queues hold process data and the audit log says who wrote what, for
 * the gateway's user only. An existing folder open to others is reported, never changed (it may
 * be a folder the operator shares on purpose).
 */
function ensureDataDir(dir: string, log: Logger): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o077) !== 0) log.warn({ dataDir: dir }, `dataDir ${dir} is mode ${mode.toString(8).padStart(4, '0')}: other users can read the queues and the audit log; chmod 700 it`);
}
