/**
 * @module
 * `bifrost monitor <url|gateway.yaml> [tags…]`: a live table of values, units, quality and age,
 * colored by state, or with `--dashboard` a full-screen dashboard (Ink). Runs until Ctrl-C (or q
 * in the dashboard), which is the normal end: exit 0.
 */
import { type CommandModule, examples } from '../command-module.js';
import { EXIT } from '../exit-codes.js';

interface MonitorOptions {
  interval: string;
  dashboard?: boolean;
  count?: number;
}

/** `bifrost monitor`. */
export const monitorCommand: CommandModule = {
  name: 'monitor',
  register(program, run) {
    program
      .command('monitor')
      .description('watch tags live: a table colored by state, or a full-screen dashboard')
      .argument('<source>', 'device URL or gateway.yaml')
      .argument('[tags...]', 'addresses or tag names (default: every tag of the config)')
      .option('-i, --interval <time>', 'poll interval: 500ms, 1s', '1s')
      .option('--dashboard', 'full-screen dashboard: devices, tags with sparklines, alarms (q quit, ↑↓, / filter, p pause)')
      .option('-c, --count <n>', 'stop after n polls', (v) => Number(v))
      .addHelpText(
        'after',
        examples([
          'bifrost monitor modbus://127.0.0.1:5020 HR0:FLOAT32 HR2:FLOAT32 HR4 --interval 500ms',
          'bifrost monitor gateway.yaml --dashboard',
          'bifrost --json monitor gateway.yaml --count 10 > values.jsonl',
        ]),
      )
      .action(
        run(async (ctx, source: string, tags: string[], opts: MonitorOptions) => {
          const core = await import('@bifrost/core');
          const intervalMs = core.parseDuration(opts.interval);
          if (!(intervalMs > 0)) throw new core.BifrostError('BIFROST_CLI_USAGE', `--interval must be more than 0, got ${opts.interval}`);
          if (opts.count !== undefined && !(Number.isInteger(opts.count) && opts.count > 0))
            throw new core.BifrostError('BIFROST_CLI_USAGE', `--count must be a positive integer, got ${String(opts.count)}`);
          const { resolveTargets, DeviceSet } = await import('../targets.js');
          const targets = await resolveTargets(source, tags);
          // Lazy: a device that is down shows as disconnected and keeps being retried.
          await using set = await DeviceSet.open(targets, { lazy: true, stateDir: ctx.stateDir });
          const { Poller } = await import('../monitor/poller.js');
          const poller = new Poller(set, intervalMs);
          if (opts.dashboard) {
            if (!ctx.io.stdout.isTTY)
              throw new core.BifrostError('BIFROST_CLI_USAGE', '--dashboard needs a terminal', { hint: 'drop --dashboard to print changes as lines, or --json for JSON lines' });
            const { runDashboard } = await import('../dashboard/app.js');
            await runDashboard(poller, core.redactUrl(source), ctx.signal);
            return EXIT.OK;
          }
          const view = await import('../monitor/live-table.js');
          const live = ctx.io.stdout.isTTY === true && !ctx.json;
          let drawn = 0;
          // After a resize the old lines may have wrapped: clear the screen rather than count them.
          const onResize = () => {
            ctx.io.stdout.write('\u001b[2J\u001b[H');
            drawn = 0;
          };
          if (live) ctx.io.stdout.on('resize', onResize);
          poller.on('update', (changed) => {
            if (ctx.json) {
              for (const r of changed) if (r.last) ctx.out(JSON.stringify({ tag: r.name, device: r.device, ...core.tagValueToJSON(r.last) }));
            } else if (live) {
              const lines = view.liveTableLines(poller.snapshot(), ctx.palette, Date.now(), ctx.io.stdout.columns ?? 100);
              ctx.io.stdout.write(`${drawn > 0 ? `\u001b[${drawn}A\u001b[0J` : ''}${lines.join('\n')}\n`);
              drawn = lines.length;
            } else for (const r of changed) ctx.out(view.changeLine(r, ctx.palette));
          });
          try {
            await poller.run(ctx.signal, opts.count);
          } finally {
            ctx.io.stdout.off('resize', onResize);
          }
          return EXIT.OK;
        }),
      );
  },
};
