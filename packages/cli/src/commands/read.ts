/**
 * @module
 * `bifrost read <url|gateway.yaml> <address...>`: reads tags once and prints a table, or with
 * `--json` an array of `{ address, value, quality, timestamp }`. Exits 4 when some values are bad.
 */
import { type CommandModule, examples } from '../command-module.js';
import { EXIT } from '../exit-codes.js';
import { DeviceSet, resolveTargets } from '../targets.js';
import { formatQuality, formatValue } from '../ui/format.js';
import { renderTable } from '../ui/table.js';

/** `bifrost read`. */
export const readCommand: CommandModule = {
  name: 'read',
  register(program, run) {
    program
      .command('read')
      .description('read tags once')
      .argument('<source>', 'device URL (modbus://host:502?unit=1) or gateway.yaml')
      .argument('[address...]', 'addresses (HR0, HR1:FLOAT32, DB1.DBW2, ns=2;s=Temp) or tag names from the config')
      .option('--timeout <ms>', 'per-request timeout in ms', (v) => Number(v))
      .addHelpText(
        'after',
        examples(['bifrost read modbus://127.0.0.1:5020?unit=1 HR0 HR2:FLOAT32 C0', 'bifrost read gateway.yaml press1.temperature', 'bifrost --json read s7://10.0.0.5?rack=0&slot=1 DB1.DBD4:REAL']),
      )
      .action(
        run(async (ctx, source: string, addresses: string[], opts: { timeout?: number }) => {
          const targets = await resolveTargets(source, addresses);
          if (opts.timeout !== undefined) for (const t of targets) t.timeoutMs = opts.timeout;
          await using set = await DeviceSet.open(targets, { signal: ctx.signal, stateDir: ctx.stateDir });
          const rows = await set.readAll(ctx.signal);
          const { tagValueToJSON } = await import('@bifrost/core');
          if (ctx.json) {
            ctx.printJson(rows.map((r) => ({ ...tagValueToJSON(r.value), ...(r.tag.name !== r.tag.address ? { tag: r.tag.name } : {}) })));
          } else {
            const p = ctx.palette;
            const table = renderTable(
              [{ header: 'TAG' }, { header: 'VALUE', align: 'right' }, { header: 'UNIT' }, { header: 'QUALITY' }, { header: 'TIMESTAMP' }],
              rows.map(({ tag, value }) => [
                tag.name,
                value.quality === 'bad' ? p.error(formatValue(value.value)) : formatValue(value.value),
                tag.unit ?? '',
                formatQuality(value.quality, p),
                p.dim(new Date(value.timestamp).toISOString()),
              ]),
              p,
            );
            for (const l of table) ctx.out(l);
            const { renderError } = await import('../render-error.js');
            for (const r of rows) if (r.value.error) ctx.err(renderError(r.value.error, ctx.errPalette));
          }
          const bad = rows.filter((r) => r.value.quality === 'bad');
          if (bad.length === 0) return EXIT.OK;
          if (bad.length < rows.length) return EXIT.PARTIAL;
          // Every value bad: if it is the connection, say so with the device exit code.
          const { exitCodeFor } = await import('../exit-codes.js');
          const code = exitCodeFor(bad[0]?.value.error);
          return code === EXIT.ERROR ? EXIT.PARTIAL : code === EXIT.USAGE ? EXIT.USAGE : code;
        }),
      );
  },
};
