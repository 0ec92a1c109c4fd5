/**
 * @module
 * `bifrost discover`: finds and identifies Modbus, S7, EtherNet/IP and OPC UA devices. It scans
 * only what it is told, or this machine's own subnets when told nothing, refuses ranges larger
 * than a /16 without --force, and never writes to a device.
 */
import { type CommandModule, examples } from '../command-module.js';
import { EXIT } from '../exit-codes.js';
import { ProgressBar } from '../ui/progress.js';
import { renderTable } from '../ui/table.js';

interface DiscoverFlags {
  network?: string[];
  hosts?: string;
  protocols?: string;
  ports?: string;
  timeout: string;
  concurrency: string;
  save?: string;
  force?: boolean;
}

const collect = (v: string, prev: string[] = []) => [
  ...prev,
  ...v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

/** `bifrost discover`. */
export const discoverCommand: CommandModule = {
  name: 'discover',
  register(program, run) {
    program
      .command('discover')
      .description('find and identify Modbus, S7, EtherNet/IP and OPC UA devices on a network')
      .option('--network <cidr...>', 'CIDR range(s) to scan (default: this machine’s own subnets)', collect)
      .option('--hosts <list>', 'comma-separated hosts to scan')
      .option('--protocols <list>', 'protocols to try: modbus,s7,eip,opcua (default all)')
      .option('--ports <list>', 'ports: per protocol (modbus=5020,s7=1102) or for all (5020)')
      .option('--timeout <ms>', 'timeout per probe step in ms', '1000')
      .option('--concurrency <n>', 'probes in flight at once', '64')
      .option('--save <file>', 'write a gateway.yaml skeleton with one device per find')
      .option('--force', 'allow ranges larger than a /16')
      .addHelpText(
        'after',
        examples([
          'bifrost discover --network 192.168.10.0/24',
          'bifrost discover --hosts 10.0.0.5,10.0.0.6 --protocols modbus,s7',
          'bifrost discover --network 127.0.0.0/28 --ports modbus=5020,s7=1102 --json',
          'bifrost discover --network 192.168.10.0/24 --save gateway.yaml',
        ]),
      )
      .action(
        run(async (ctx, flags: DiscoverFlags) => {
          const d = await import('@bifrost/discovery');
          const { BifrostError } = await import('@bifrost/core');
          const num = (v: string, name: string, min: number) => {
            const n = Number(v);
            if (!Number.isInteger(n) || n < min) throw new BifrostError('BIFROST_CLI_USAGE', `--${name} must be an integer ≥ ${min}, got "${v}"`);
            return n;
          };
          const protocols = flags.protocols ? d.parseProtocols(flags.protocols) : undefined;
          const options: Parameters<typeof d.discover>[0] = {
            timeoutMs: num(flags.timeout, 'timeout', 1),
            concurrency: num(flags.concurrency, 'concurrency', 1),
            force: flags.force === true,
            signal: ctx.signal,
          };
          if (flags.network) options.networks = flags.network;
          if (flags.hosts)
            options.hosts = flags.hosts
              .split(',')
              .map((h) => h.trim())
              .filter(Boolean);
          if (protocols) options.protocols = protocols;
          if (flags.ports) options.ports = d.parsePorts(flags.ports, protocols);
          // Plan first so a bad range fails before any progress bar is drawn.
          const hosts = d.planHosts(options);
          if (!ctx.json) ctx.err(ctx.errPalette.info(`scanning ${hosts.length} host(s) for ${(protocols ?? ['modbus', 's7', 'eip', 'opcua']).join(', ')}…`));
          let bar: ProgressBar | undefined;
          options.onProgress = (done, total) => {
            if (ctx.json || !ctx.io.stderr.isTTY) return;
            bar ??= new ProgressBar(ctx.io.stderr, ctx.errPalette, total, 'probes');
            bar.update(done);
          };
          const result = await d.discover(options);
          bar?.finish();
          if (flags.save) {
            const { writeFile } = await import('node:fs/promises');
            await writeFile(flags.save, d.toGatewayYaml(result.found, flags.save));
          }
          if (ctx.json) {
            ctx.printJson(result.found.map((f) => ({ protocol: f.protocol, host: f.host, port: f.port, identity: f.identity })));
            return EXIT.OK;
          }
          const p = ctx.palette;
          if (result.found.length === 0) ctx.out(p.warning(`no devices found (${result.probes} probes in ${(result.durationMs / 1000).toFixed(1)} s)`));
          for (const protocol of ['modbus', 's7', 'eip', 'opcua'] as const) {
            const rows = result.found.filter((f) => f.protocol === protocol);
            if (rows.length === 0) continue;
            ctx.out(p.header(`\n${protocol.toUpperCase()} (${rows.length})`));
            const lines = renderTable(
              [{ header: 'HOST' }, { header: 'PORT' }, { header: 'VENDOR' }, { header: 'PRODUCT' }, { header: 'DETAILS', minWidth: 12 }],
              rows.map((f) => {
                const { protocol: _p, vendor, product, productName, ...rest } = f.identity as Record<string, unknown>;
                const details = Object.entries(rest)
                  .filter(([, v]) => v !== undefined && typeof v !== 'object')
                  .map(([k, v]) => `${k}=${String(v)}`)
                  .join(' ');
                return [f.host, String(f.port), String(vendor ?? '—'), String(product ?? productName ?? '—'), details];
              }),
              p,
              ctx.io.stdout.columns ?? 120,
            );
            for (const l of lines) ctx.out(l);
          }
          if (result.unidentified.length > 0) {
            ctx.out(p.warning(`\nunidentified (open, but not the protocol probed): ${result.unidentified.map((u) => `${u.host}:${u.port}`).join(', ')}`));
          }
          ctx.out(p.dim(`\n${result.found.length} found, ${result.hostsScanned} host(s), ${result.probes} probes in ${(result.durationMs / 1000).toFixed(1)} s`));
          if (flags.save) ctx.out(p.success(`wrote ${flags.save} (${result.found.length} device(s)); edit its placeholder tags, then: bifrost run ${flags.save}`));
          return EXIT.OK;
        }),
      );
  },
};
