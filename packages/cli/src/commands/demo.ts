/**
 * @module
 * `bifrost demo`: simulated Modbus, S7, EtherNet/IP and OPC UA PLCs, the gateway reading them
 * with analytics, an MQTT broker (embedded unless --mqtt), and the web dashboard. It prints where
 * to look, shows the terminal dashboard (unless --no-dashboard or not a terminal), and stops
 * cleanly on Ctrl-C.
 */
import { type CommandModule, examples } from '../command-module.js';
import { EXIT } from '../exit-codes.js';

interface DemoFlags {
  mqtt?: string;
  mqttPort: string;
  webPort: string;
  dashboard: boolean;
  without?: string;
}

/** `bifrost demo`. */
export const demoCommand: CommandModule = {
  name: 'demo',
  register(program, run) {
    program
      .command('demo')
      .description('run the demo plant: four simulated PLCs, the gateway with analytics, MQTT and the web dashboard')
      .option('--mqtt <url>', 'forward to this MQTT broker instead of the embedded one')
      .option('--mqtt-port <port>', 'port of the embedded MQTT broker', '1883')
      .option('--web-port <port>', 'port of the web dashboard', '8080')
      .option('--no-dashboard', 'no terminal dashboard: log a status line instead (for running unattended)')
      // --data-dir is the global option (bifrost --help); for the demo it defaults to ./data/demo
      .addHelpText('after', '\n--data-dir <dir>: where the queue, audit log and generated gateway.yaml go (default ./data/demo)')
      .option('--without <protocols>', 'leave out simulators, e.g. opcua (comma-separated)')
      .addHelpText('after', examples(['bifrost demo', 'bifrost demo --no-dashboard', 'bifrost demo --mqtt mqtt://broker.local:1883 --web-port 8081', 'bifrost demo --without opcua']))
      .action(
        run(async (ctx, flags: DemoFlags) => {
          const { BifrostError } = await import('@bifrost/core');
          const port = (v: string, name: string) => {
            const n = Number(v);
            if (!Number.isInteger(n) || n < 0 || n > 65535) throw new BifrostError('BIFROST_CLI_USAGE', `--${name} must be a port number, got "${v}"`);
            return n;
          };
          const without = (flags.without ?? '')
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean);
          const protocols = ['modbus', 's7', 'eip', 'opcua'];
          for (const w of without) if (!protocols.includes(w)) throw new BifrostError('BIFROST_CLI_USAGE', `--without: unknown protocol "${w}" (modbus, s7, eip, opcua)`);
          if (protocols.every((x) => without.includes(x))) {
            throw new BifrostError('BIFROST_CLI_USAGE', `--without ${flags.without} leaves nothing to run: the demo needs at least one simulated PLC`, {
              hint: 'leave out at most three of modbus, s7, eip, opcua',
            });
          }
          const p = ctx.palette;
          if (!ctx.json) ctx.err(p.info('starting the demo plant: simulators, broker, gateway, dashboard…'));
          const { startDemo } = await import('@bifrost/gateway');
          const options: Parameters<typeof startDemo>[0] = {
            mqttPort: port(flags.mqttPort, 'mqtt-port'),
            webPort: port(flags.webPort, 'web-port'),
            dataDir: ctx.dataDirFlag ?? './data/demo',
            without: without as Array<'modbus'>,
          };
          if (flags.mqtt) options.mqtt = flags.mqtt;
          const demo = await startDemo(options);
          try {
            const sims = Object.values(demo.simulators);
            if (ctx.json) {
              ctx.printJson({ simulators: sims.map((s) => s.url), mqtt: demo.mqttUrl, web: demo.webUrl ?? null, opcua: demo.opcuaUrl ?? null, config: demo.configFile });
            } else {
              ctx.out(p.header('Bifrost demo is running'));
              for (const s of sims) ctx.out(`  ${p.special('◆')} ${s.describe()}`);
              ctx.out(`  ${p.info('→')} gateway: ${demo.gateway.devices().length} devices, config ${p.bold(demo.configFile)}`);
              ctx.out(`  ${p.info('→')} MQTT: ${p.bold(demo.mqttUrl)}  topics bifrost/demo/<device>/<tag>  (mosquitto_sub -h 127.0.0.1 -p ${new URL(demo.mqttUrl).port} -t 'bifrost/#' -v)`);
              if (demo.webUrl) ctx.out(`  ${p.info('→')} dashboard: ${p.bold(demo.webUrl)}`);
              if (demo.opcuaUrl) ctx.out(`  ${p.info('→')} OPC UA server (for a SCADA, anonymous, read-only): ${p.bold(demo.opcuaUrl)}`);
              ctx.out(`  ${p.info('→')} metrics: ${demo.webUrl ? `${demo.webUrl}metrics` : 'bifrost run --metrics-port'}`);
              ctx.out(p.dim('  Ctrl-C stops everything cleanly; queued data stays on disk.'));
            }
            if (flags.dashboard && ctx.interactive && !ctx.json) {
              const { GatewayDeviceSet } = await import('../gateway-source.js');
              const { Poller } = await import('../monitor/poller.js');
              const { runDashboard } = await import('../dashboard/app.js');
              await runDashboard(new Poller(new GatewayDeviceSet(demo.gateway), 500), 'Bifrost demo', ctx.signal);
            } else {
              // Unattended: a status line every 10 s until Ctrl-C / SIGTERM.
              const status = () => {
                const devs = demo.gateway.devices();
                const up = devs.filter((d) => d.stats.health === 'connected').length;
                const sink = demo.gateway.sinks()[0]?.metrics;
                ctx.err(
                  p.dim(
                    `${new Date().toISOString()} devices ${up}/${devs.length} connected · values ${demo.gateway.latest().length} · mqtt published ${sink?.published ?? 0}, queued ${sink?.queueDepth ?? 0}`,
                  ),
                );
              };
              const timer = setInterval(status, 10_000);
              await new Promise<void>((resolve) => {
                if (ctx.signal.aborted) resolve();
                ctx.signal.addEventListener('abort', () => resolve(), { once: true });
              });
              clearInterval(timer);
            }
          } finally {
            if (!ctx.json) ctx.err(p.info('stopping: gateway, dashboard, broker, simulators…'));
            await demo.stop();
            if (!ctx.json) ctx.err(p.success('✔ demo stopped'));
          }
          return EXIT.OK;
        }),
      );
  },
};
