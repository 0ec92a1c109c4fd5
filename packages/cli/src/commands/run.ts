/**
 * @module
 * `bifrost run gateway.yaml`: the gateway as a long-running process. SIGTERM or Ctrl-C stops it
 * gracefully (polling stops, queues persist their cursor, connections close: exit 0); SIGHUP
 * reloads the config file, keeping the running config when the new one is invalid.
 */
import { type CommandModule, examples } from '../command-module.js';
import { EXIT } from '../exit-codes.js';

interface RunFlags {
  metricsPort?: string;
  logLevel?: string;
  check?: boolean;
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
      .option('--check', 'validate the config (devices, addresses, pipelines, sinks) and exit')
      .addHelpText('after', examples(['bifrost run gateway.yaml', 'bifrost run gateway.yaml --check', 'bifrost run gateway.yaml --metrics-port 9464', 'kill -HUP <pid>   # reload the config']))
      .action(
        run(async (ctx, file: string, flags: RunFlags) => {
          const { loadGatewayConfig, BifrostError } = await import('@bifrost/core');
          const gw = await import('@bifrost/gateway');
          if (flags.check) {
            const { config, source } = loadGatewayConfig(file);
            await new gw.Gateway(config, { source }).validate();
            if (ctx.json) ctx.printJson({ ok: true, devices: config.devices.length, pipelines: config.pipelines.length, sinks: config.sinks.length });
            else ctx.out(ctx.palette.success(`✔ ${file} is valid: ${config.devices.length} device(s), ${config.pipelines.length} pipeline(s), ${config.sinks.length} sink(s)`));
            return EXIT.OK;
          }
          const options: Parameters<typeof gw.runGateway>[1] = { signals: false, logger: gw.createLogger(flags.logLevel ? { level: flags.logLevel } : {}) };
          if (flags.metricsPort !== undefined) {
            const port = Number(flags.metricsPort);
            if (!Number.isInteger(port) || port < 0 || port > 65535) throw new BifrostError('BIFROST_CLI_USAGE', `--metrics-port must be a port number, got "${flags.metricsPort}"`);
            options.metricsPort = port;
          }
          const running = await gw.runGateway(file, options);
          // Ctrl-C and SIGTERM arrive as the context's abort signal; SIGHUP reloads.
          const onHup = () => void running.reload();
          process.on('SIGHUP', onHup);
          ctx.signal.addEventListener('abort', () => void running.stop(), { once: true });
          await running.stopped;
          process.off('SIGHUP', onHup);
          return EXIT.OK;
        }),
      );
  },
};
