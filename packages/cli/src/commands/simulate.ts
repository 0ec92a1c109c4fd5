/**
 * @module
 * `bifrost simulate <modbus|s7|eip|opcua>`: starts the protocol package's own simulator (its
 * exported `startSimulator` and `DEFAULT_PORT`), prints the URL and what it serves, and runs
 * until Ctrl-C, which is the normal way to stop it (exit 0).
 */
import type { RunningSimulator, StartSimulator } from '@bifrost/core';
import { Argument } from 'commander';
import { type CommandModule, examples } from '../command-module.js';
import { EXIT } from '../exit-codes.js';
import { loadPackage, PROTOCOLS, packageFor } from '../protocols.js';
import { SYMBOLS } from '../ui/palette.js';

/** `bifrost simulate`. */
export const simulateCommand: CommandModule = {
  name: 'simulate',
  register(program, run) {
    program
      .command('simulate')
      .description(`run a device simulator (${PROTOCOLS.join(', ')}) until Ctrl-C`)
      .addArgument(new Argument('<protocol>', 'protocol').choices(PROTOCOLS))
      .option('-p, --port <n>', 'TCP port (default: the protocol default; 0 = any free port)', (v) => Number(v))
      .option('-H, --host <host>', 'interface to bind', '127.0.0.1')
      .option('-c, --config <file>', 'YAML file describing the simulated data')
      .option('--seed <n>', 'seed for generated signals', (v) => Number(v))
      .option('--idle-timeout <ms>', 'close a connection with no complete request for this long (default 120000; 0 = never)', (v) => Number(v))
      .option('--max-connections <n>', 'most connections at once; at the cap a new one closes the longest-idle one (default 64)', (v) => Number(v))
      .addHelpText('after', examples(['bifrost simulate modbus --port 5020', 'bifrost simulate s7 --host 0.0.0.0', 'bifrost simulate opcua --config plant.yaml']))
      .action(
        run(async (ctx, protocol: string, opts: { port?: number; host: string; config?: string; seed?: number; idleTimeout?: number; maxConnections?: number }) => {
          const pkg = await packageFor(protocol);
          const mod = await loadPackage<{ startSimulator?: StartSimulator; DEFAULT_PORT?: number }>(pkg);
          const { BifrostError } = await import('@bifrost/core');
          if (typeof mod.startSimulator !== 'function') throw new BifrostError('BIFROST_NOT_SUPPORTED', `${pkg} has no simulator (no startSimulator export)`);
          if (opts.port !== undefined && (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535)) {
            throw new BifrostError('BIFROST_CLI_USAGE', `--port must be an integer from 0 to 65535, got ${String(opts.port)}`);
          }
          const port = opts.port ?? mod.DEFAULT_PORT ?? 0;
          const options: Parameters<StartSimulator>[0] = { host: opts.host, port };
          if (opts.config !== undefined) options.config = opts.config;
          if (opts.seed !== undefined) options.seed = opts.seed;
          if (opts.idleTimeout !== undefined) {
            if (!Number.isInteger(opts.idleTimeout) || opts.idleTimeout < 0)
              throw new BifrostError('BIFROST_CLI_USAGE', `--idle-timeout must be an integer number of ms ≥ 0, got ${String(opts.idleTimeout)}`);
            options.idleTimeoutMs = opts.idleTimeout;
          }
          if (opts.maxConnections !== undefined) {
            if (!Number.isInteger(opts.maxConnections) || opts.maxConnections < 1)
              throw new BifrostError('BIFROST_CLI_USAGE', `--max-connections must be an integer ≥ 1, got ${String(opts.maxConnections)}`);
            options.maxConnections = opts.maxConnections;
          }
          // Whatever simulator it is, a taken port is named by the flag that chose it (issue 18.4).
          const { listenAt } = await import('@bifrost/core');
          const sim: RunningSimulator = await listenAt(() => (mod.startSimulator as StartSimulator)(options), { server: `${protocol} simulator`, field: '--port', host: opts.host, port });
          try {
            if (ctx.json) ctx.printJson({ protocol, url: sim.url, host: sim.host, port: sim.port, description: sim.describe() });
            else {
              const p = ctx.palette;
              ctx.out(`${p.special(SYMBOLS.special)} ${p.bold(`${protocol} simulator`)} listening on ${p.special(sim.url)}`);
              for (const l of sim.describe().split('\n')) ctx.out(`  ${p.info(l)}`);
              ctx.out(p.dim('  Ctrl-C to stop'));
            }
            await new Promise<void>((resolve) => {
              if (ctx.signal.aborted) resolve();
              ctx.signal.addEventListener('abort', () => resolve(), { once: true });
            });
          } finally {
            await sim.close();
          }
          if (!ctx.json) ctx.out(ctx.palette.success(`${SYMBOLS.ok} simulator stopped`));
          return EXIT.OK;
        }),
      );
  },
};
