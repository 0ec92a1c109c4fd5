/**
 * @module
 * `bifrost run gateway.yaml`: the gateway as a long-running process. SIGTERM or Ctrl-C stops it
 * gracefully (polling stops, queues persist their cursor, connections close: exit 0) within a
 * bounded time (`--stop-timeout`, default 5 s: what still hangs then is left behind); SIGHUP
 * reloads the config file and re-resolves its secrets, keeping the running config when the new
 * one is invalid. Under systemd (`Type=notify`) it reports readiness, reloads and stopping
 * (run-notify.ts; deploy/systemd/bifrost.service).
 */
import { dirname, resolve } from 'node:path';
import { type CommandModule, examples } from '../command-module.js';
import type { CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { createNotifier } from './run-notify.js';

interface RunFlags {
  metricsPort?: string;
  logLevel?: string;
  check?: boolean;
  stopTimeout?: string;
}

/** `bifrost run`. */
export const runCommand: CommandModule = {
  name: 'run',
  register(program, run) {
    program
      .command('run')
      .description('run the gateway from a config file (SIGHUP reloads it, SIGTERM stops it cleanly)')
      .argument('<config>', 'gateway config file (YAML)')
      .option('--metrics-port <port>', 'serve /health and /metrics on this port when the config has no web section')
      .option('--log-level <level>', 'trace, debug, info, warn or error (default info; BIFROST_LOG_LEVEL)')
      .option('--check', 'validate the config (devices, addresses, pipelines, sinks, secret references) and exit')
      .option('--stop-timeout <duration>', 'on SIGTERM, exit after this long even if a device or sink still hangs (default 5s)')
      .addHelpText(
        'after',
        examples([
          'bifrost run gateway.yaml',
          'bifrost run gateway.yaml --check',
          'bifrost run gateway.yaml --metrics-port 9464',
          'bifrost run gateway.yaml --stop-timeout 10s',
          'kill -HUP <pid>   # reload the config (and re-resolve its secret references)',
          'systemctl start bifrost   # deploy/systemd/bifrost.service, docs/deploy.md',
        ]),
      )
      .action(
        run(async (ctx, file: string, flags: RunFlags) => {
          const core = await import('@bifrost/core');
          try {
            return await runGateway(ctx, file, flags);
          } catch (e) {
            // A resolved secret never reaches the error line (or its --json form, or a BIFROST_DEBUG stack).
            if (e instanceof Error) {
              // core's redaction: resolved secrets and URL passwords alike.
              const masked = core.redactText(e.message);
              if (masked !== e.message) (e as { message: string }).message = masked;
              if (e.stack) e.stack = core.redactText(e.stack);
            }
            throw e;
          }
        }),
      );
  },
};

async function runGateway(ctx: CliContext, file: string, flags: RunFlags): Promise<ExitCode> {
  const core = await import('@bifrost/core');
  const { BifrostError } = core;
  const gw = await import('@bifrost/gateway');
  if (flags.check) {
    const { config, source } = await core.loadGatewayConfigAsync(file);
    await new gw.Gateway(config, { source }).validate();
    // The web section as the web server will judge it at start (tokens and TLS files, bind policy).
    if (config.web) {
      const web = await import('@bifrost/web' as string).catch(() => undefined);
      web?.checkWebOptions?.(config.web, dirname(resolve(file)));
    }
    // A config with no devices parses (an empty file is a valid start) but runs nothing; said last,
    // so that a wrong field elsewhere is named first.
    if (config.devices.length === 0) throw source.errorAt(['devices'], 'at least one device: a gateway with no devices reads nothing', undefined, true);
    if (ctx.json) ctx.printJson({ ok: true, devices: config.devices.length, pipelines: config.pipelines.length, sinks: config.sinks.length });
    else ctx.out(ctx.palette.success(`✔ ${file} is valid: ${config.devices.length} device(s), ${config.pipelines.length} pipeline(s), ${config.sinks.length} sink(s)`));
    return EXIT.OK;
  }
  const log = gw.createLogger(flags.logLevel ? { level: flags.logLevel } : {});
  const options: Parameters<typeof gw.runGateway>[1] = { signals: false, logger: log };
  if (flags.metricsPort !== undefined) {
    const port = Number(flags.metricsPort);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new BifrostError('BIFROST_CLI_USAGE', `--metrics-port must be a port number, got "${flags.metricsPort}"`);
    options.metricsPort = port;
  }
  let stopTimeoutMs = 5000;
  if (flags.stopTimeout !== undefined) {
    try {
      stopTimeoutMs = core.parseDuration(flags.stopTimeout);
    } catch {
      throw new BifrostError('BIFROST_CLI_USAGE', `--stop-timeout must be a duration such as 5s or 500ms, got "${flags.stopTimeout}"`);
    }
  }
  options.stopTimeoutMs = stopTimeoutMs;
  const sd = createNotifier(ctx.io.env, (m) => log.warn(m));
  // A crash report (an exception nothing caught) is printed as Node would, with resolved secrets masked.
  const onCrash = (e: unknown) => {
    ctx.io.stderr.write(`${core.redactText(e instanceof Error ? (e.stack ?? e.message) : String(e))}\n`);
    process.exit(1);
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  let how: 'stopped' | 'late';
  try {
    const running = await gw.runGateway(file, options);
    const c = running.gateway.config;
    await sd.notify(
      'READY=1',
      `STATUS=running: ${c.devices.length} device(s), ${c.sinks.length} sink(s)${running.httpPort === undefined ? '' : `, http port ${running.httpPort}`}`,
      `MAINPID=${process.pid}`,
    );
    // Ctrl-C and SIGTERM arrive as the context's abort signal; SIGHUP reloads (one at a time).
    let reloading = Promise.resolve();
    const onHup = () => {
      reloading = reloading.then(async () => {
        await sd.notify('RELOADING=1', 'STATUS=reloading the config');
        await running.reload();
        await sd.notify('READY=1', 'STATUS=running (config reloaded)');
      });
    };
    process.on('SIGHUP', onHup);
    let late: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((resolve) => {
      const onAbort = () => {
        void sd.notify('STOPPING=1', 'STATUS=stopping');
        void running.stop();
        // The gateway bounds each part of its stop by stopTimeoutMs; this bounds the whole
        // (web server, metrics endpoint) so the process exits whatever hangs (issue 18.6).
        late = setTimeout(() => resolve('late'), stopTimeoutMs + 1000);
      };
      if (ctx.signal.aborted) onAbort();
      else ctx.signal.addEventListener('abort', onAbort, { once: true });
    });
    how = await Promise.race([running.stopped.then(() => 'stopped' as const), deadline]);
    clearTimeout(late);
    process.off('SIGHUP', onHup);
  } finally {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  }
  if (how === 'late') log.warn(`the gateway did not finish stopping within ${stopTimeoutMs + 1000} ms; exiting anyway (queued records stay on disk)`);
  log.flush?.();
  return EXIT.OK;
}
