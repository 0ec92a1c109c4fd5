/**
 * @module
 * `bifrost export <url|gateway.yaml>`: samples tags at a fixed interval for a duration or a number
 * of samples and writes CSV, JSON lines or Parquet, with a progress bar (rate and ETA) on stderr.
 */
import { Option } from 'commander';
import { type CommandModule, examples } from '../command-module.js';
import { EXIT } from '../exit-codes.js';
import { EXPORT_FORMATS, type ExportColumn, type ExportFormat } from '../export/writers.js';
import { SYMBOLS } from '../ui/palette.js';

interface ExportOptions {
  tags?: string;
  duration?: string;
  samples?: number;
  interval: string;
  format?: ExportFormat;
  out: string;
  long?: boolean;
  progress: boolean;
}

/** `bifrost export`. */
export const exportCommand: CommandModule = {
  name: 'export',
  register(program, run) {
    program
      .command('export')
      .description('sample tags for a while and write CSV, JSON lines or Parquet')
      .argument('<source>', 'device URL or gateway.yaml')
      .argument('[tags...]', 'addresses or tag names (or use --tags)')
      .option('-t, --tags <list>', 'comma-separated addresses or tag names')
      .option('-d, --duration <time>', 'how long to sample: 30s, 10m, 2h')
      .option('-n, --samples <n>', 'how many samples to take', (v) => Number(v))
      .option('-i, --interval <time>', 'time between samples', '1s')
      .addOption(new Option('-f, --format <format>', 'file format (default: from --out extension)').choices(EXPORT_FORMATS))
      .requiredOption('-o, --out <file>', 'output file')
      .option('--long', 'one row per tag and sample (timestamp, device, tag, address, value, quality) instead of one column per tag')
      .option('--no-progress', 'no progress bar')
      .addHelpText(
        'after',
        examples([
          'bifrost export modbus://127.0.0.1:5020 --tags HR0,HR2:FLOAT32 --samples 100 --interval 100ms --out data.csv',
          'bifrost export gateway.yaml --duration 10m --format parquet --out line1.parquet',
          'bifrost export gateway.yaml press1.temperature --duration 1h --interval 5s --long --out temp.jsonl',
        ]),
      )
      .action(
        run(async (ctx, source: string, positional: string[], opts: ExportOptions) => {
          const core = await import('@bifrost/core');
          const usage = (m: string) => new core.BifrostError('BIFROST_CLI_USAGE', m);
          const tags = [...positional, ...(opts.tags ? opts.tags.split(',').map((t) => t.trim()) : [])].filter(Boolean);
          const intervalMs = parseTime(core.parseDuration, opts.interval, '--interval');
          if (!(intervalMs > 0)) throw usage(`--interval must be more than 0, got ${opts.interval}`);
          if ((opts.duration === undefined) === (opts.samples === undefined)) throw usage('give either --duration or --samples (one of them)');
          let total: number;
          if (opts.samples !== undefined) {
            if (!Number.isInteger(opts.samples) || opts.samples < 1) throw usage(`--samples must be a positive integer, got ${String(opts.samples)}`);
            total = opts.samples;
          } else total = Math.max(1, Math.floor(parseTime(core.parseDuration, opts.duration as string, '--duration') / intervalMs));
          const format = opts.format ?? formatFromFile(opts.out);
          if (!format) throw usage(`cannot tell the format from "${opts.out}": pass --format ${EXPORT_FORMATS.join('|')}`);

          const { resolveTargets, DeviceSet } = await import('../targets.js');
          const targets = await resolveTargets(source, tags);
          const columns: ExportColumn[] = targets.flatMap((d) => d.tags.map((t) => ({ name: t.name, device: d.name, address: t.address })));
          const names = new Set<string>();
          for (const c of columns) {
            if (names.has(c.name)) throw usage(`tag ${c.name} is given twice`);
            names.add(c.name);
          }
          await using set = await DeviceSet.open(targets, { signal: ctx.signal, stateDir: ctx.stateDir });
          const { createSampleWriter } = await import('../export/writers.js');
          const { open } = await import('node:fs/promises');
          await open(opts.out, 'w')
            .then((h) => h.close())
            .catch((cause: NodeJS.ErrnoException) => {
              throw new core.BifrostError('BIFROST_CLI_USAGE', `cannot write ${opts.out}: ${cause.code ?? cause.message}`, { cause, hint: 'pass --out with a file in an existing, writable folder' });
            });
          const writer = await createSampleWriter({ format, file: opts.out, columns, long: opts.long === true });
          const showProgress = opts.progress && ctx.io.stderr.isTTY === true && !ctx.json;
          const { ProgressBar } = await import('../ui/progress.js');
          const bar = showProgress ? new ProgressBar(ctx.io.stderr, ctx.errPalette, total, 'samples') : undefined;
          let bad = 0;
          let done = 0;
          const start = Date.now();
          // Without a terminal for the bar (a log, a pipe, CI) an export of minutes would be silent:
          // say up front how long it takes, then one line every few seconds.
          const logProgress = !showProgress && opts.progress !== false && total > 1;
          let lastLog = start;
          if (logProgress) {
            const etaMs = (total - 1) * intervalMs;
            ctx.err(
              `exporting ${total} samples of ${columns.length} tag(s) every ${intervalMs} ms to ${opts.out}: about ${formatDuration(etaMs)} (done near ${new Date(start + etaMs).toISOString()})`,
            );
          }
          try {
            for (; done < total && !ctx.signal.aborted; ) {
              let rows: Awaited<ReturnType<typeof set.readAll>>;
              try {
                rows = await set.readAll(ctx.signal);
              } catch (e) {
                // Ctrl-C during a read: keep what was sampled, close the file, exit 130.
                if (ctx.signal.aborted) break;
                throw e;
              }
              if (ctx.signal.aborted) break;
              const cells = rows.map((r) => ({ value: r.value.value, quality: r.value.quality, timestamp: r.value.sourceTimestamp ?? r.value.timestamp }));
              bad += cells.filter((c) => c.quality === 'bad').length;
              await writer.write({ timestamp: rows[0]?.value.timestamp ?? Date.now(), cells });
              done++;
              bar?.update(done);
              if (logProgress && done < total && Date.now() - lastLog >= PROGRESS_EVERY_MS) {
                lastLog = Date.now();
                ctx.err(`${done}/${total} samples (${Math.floor((done * 100) / total)}%)${bad ? `, ${bad} bad values` : ''}, about ${formatDuration(start + (total - 1) * intervalMs - lastLog)} left`);
              }
              if (done < total) {
                // Fixed rate: sample i is due at start + i·interval; a slow read is not piled up.
                const wait = start + done * intervalMs - Date.now();
                if (wait > 0) await core.sleep(wait, ctx.signal).catch(() => {});
              }
            }
          } finally {
            const { rows } = await writer.close();
            bar?.finish();
            const summary = { file: opts.out, format, samples: done, rows, badValues: bad, interrupted: ctx.signal.aborted };
            if (ctx.json) ctx.printJson(summary);
            else {
              const p = ctx.errPalette;
              ctx.err(`${p.success(SYMBOLS.ok)} wrote ${rows} rows (${done} samples of ${columns.length} tags) to ${opts.out}${bad ? p.warning(` · ${bad} bad values`) : ''}`);
            }
          }
          if (ctx.signal.aborted) return EXIT.INTERRUPTED;
          return bad > 0 ? EXIT.PARTIAL : EXIT.OK;
        }),
      );
  },
};

/** How often an export without a terminal logs its progress to stderr. */
const PROGRESS_EVERY_MS = 3000;

function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function formatFromFile(file: string): ExportFormat | undefined {
  const ext = /\.([a-z]+)$/i.exec(file)?.[1]?.toLowerCase();
  if (ext === 'csv' || ext === 'parquet' || ext === 'jsonl') return ext;
  if (ext === 'ndjson') return 'jsonl';
  return undefined;
}

function parseTime(parse: (s: string) => number, text: string, flag: string): number {
  try {
    return parse(text);
  } catch (cause) {
    throw Object.assign(cause as Error, { message: `${flag}: ${(cause as Error).message}` });
  }
}
