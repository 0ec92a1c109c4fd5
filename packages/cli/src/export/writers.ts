/**
 * @module
 * Export writers: samples (one timestamp, one value per tag) to CSV, JSON lines or Parquet, in
 * wide form (one column per tag) or long form (one row per tag and sample). CSV follows RFC 4180
 * (comma, CRLF, quotes doubled) with ISO 8601 timestamps so spreadsheet tools read it as is.
 * CSV and JSONL stream to the file and wait for `drain`; Parquet (hyparquet-writer) is written
 * a row group at a time, so memory stays bounded by one row group.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Quality, Value } from '@bifrost/core';

/** The export file formats. */
export const EXPORT_FORMATS = ['csv', 'jsonl', 'parquet'] as const;
/** One export file format. */
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** One tag's column. */
export interface ExportColumn {
  /** Tag name (the address when exporting from a URL). */
  name: string;
  device: string;
  address: string;
}

/** One value of one sample. */
export interface ExportCell {
  value: Value | null;
  quality: Quality;
  /** Device time when the protocol reports it, else gateway time (ms since epoch). */
  timestamp: number;
}

/** One sample: when it was taken and a cell per column, in column order. */
export interface ExportSample {
  timestamp: number;
  cells: ExportCell[];
}

/** Writes samples; `close()` flushes and resolves with the number of rows written. */
export interface SampleWriter {
  write(sample: ExportSample): Promise<void>;
  close(): Promise<{ rows: number }>;
}

/** Options of {@link createSampleWriter}. */
export interface SampleWriterOptions {
  format: ExportFormat;
  file: string;
  columns: readonly ExportColumn[];
  /** One row per tag and sample instead of one column per tag. */
  long?: boolean;
  /** Parquet rows per row group (default 10 000). */
  rowGroupSize?: number;
}

/**
 * Opens a writer for the format.
 * @example const w = await createSampleWriter({ format: 'csv', file: 'out.csv', columns }); await w.write(sample); await w.close()
 */
export async function createSampleWriter(options: SampleWriterOptions): Promise<SampleWriter> {
  if (options.format === 'parquet') return ParquetSampleWriter.open(options);
  return new TextSampleWriter(options);
}

/** A scalar for text: bigint and numbers exact, bytes hex, dates ISO, arrays JSON. */
function plain(v: Value | null): string | number | boolean | null {
  if (v === null) return null;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v.map((x) => plain(x)));
}

/**
 * One CSV field per RFC 4180 §2: quoted when it holds a comma, quote, CR or LF; quotes doubled.
 * @example csvField('a,b') // '"a,b"'
 */
export function csvField(v: string | number | boolean | null): string {
  if (v === null) return '';
  const s = typeof v === 'number' && !Number.isFinite(v) ? String(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

class TextSampleWriter implements SampleWriter {
  readonly #options: SampleWriterOptions;
  readonly #out: WriteStream;
  readonly #opened: Promise<void>;
  #rows = 0;
  #failed: Error | undefined;

  constructor(options: SampleWriterOptions) {
    this.#options = options;
    this.#out = createWriteStream(options.file);
    this.#out.on('error', (e) => (this.#failed = e));
    this.#opened = new Promise((resolve, reject) => {
      this.#out.once('open', () => resolve());
      this.#out.once('error', reject);
    });
    this.#opened.catch(() => {});
    if (options.format === 'csv') {
      const header = options.long ? ['timestamp', 'device', 'tag', 'address', 'value', 'quality'] : ['timestamp', ...options.columns.map((c) => c.name)];
      this.#out.write(`${header.map(csvField).join(',')}\r\n`);
    }
  }

  async #put(text: string): Promise<void> {
    if (this.#failed) throw this.#failed;
    if (!this.#out.write(text)) await new Promise<void>((resolve) => this.#out.once('drain', resolve));
  }

  async write(sample: ExportSample): Promise<void> {
    await this.#opened;
    const { columns, long, format } = this.#options;
    const ts = new Date(sample.timestamp).toISOString();
    if (long) {
      let text = '';
      sample.cells.forEach((cell, i) => {
        const c = columns[i] as ExportColumn;
        const cellTs = new Date(cell.timestamp).toISOString();
        if (format === 'csv') text += `${[cellTs, c.device, c.name, c.address, plain(cell.value), cell.quality].map(csvField).join(',')}\r\n`;
        else text += `${JSON.stringify({ timestamp: cellTs, device: c.device, tag: c.name, address: c.address, value: plain(cell.value), quality: cell.quality })}\n`;
        this.#rows++;
      });
      await this.#put(text);
      return;
    }
    if (format === 'csv') await this.#put(`${[ts, ...sample.cells.map((c) => (c.quality === 'bad' ? null : plain(c.value)))].map(csvField).join(',')}\r\n`);
    else {
      const row: Record<string, unknown> = { timestamp: ts };
      sample.cells.forEach((cell, i) => {
        row[(columns[i] as ExportColumn).name] = cell.quality === 'bad' ? null : plain(cell.value);
      });
      const bad = columns.filter((_, i) => sample.cells[i]?.quality !== 'good').map((c, _) => c.name);
      if (bad.length > 0) row._notGood = bad;
      await this.#put(`${JSON.stringify(row)}\n`);
    }
    this.#rows++;
  }

  async close(): Promise<{ rows: number }> {
    await this.#opened;
    await new Promise<void>((resolve, reject) => this.#out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    if (this.#failed) throw this.#failed;
    return { rows: this.#rows };
  }
}

type ParquetKind = 'DOUBLE' | 'BOOLEAN' | 'INT64' | 'STRING';

function kindOf(v: Value | null): ParquetKind | undefined {
  if (v === null) return undefined;
  if (typeof v === 'number') return 'DOUBLE';
  if (typeof v === 'boolean') return 'BOOLEAN';
  if (typeof v === 'bigint') return 'INT64';
  return 'STRING';
}

function asKind(v: Value | null, kind: ParquetKind): unknown {
  if (v === null) return null;
  switch (kind) {
    case 'DOUBLE':
      return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : typeof v === 'boolean' ? Number(v) : null;
    case 'BOOLEAN':
      return typeof v === 'boolean' ? v : typeof v === 'number' ? v !== 0 : null;
    case 'INT64':
      return typeof v === 'bigint' ? v : typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : null;
    default: {
      const p = plain(v);
      return p === null ? null : String(p);
    }
  }
}

interface ParquetModule {
  ParquetWriter: new (o: { writer: unknown; schema: unknown[]; createdBy?: string }) => { write(o: { columnData: unknown[]; rowGroupSize?: number }): void | Promise<void>; finish(): void };
  fileWriter(file: string): unknown;
  schemaFromColumnData(o: { columnData: unknown[] }): unknown[];
}

class ParquetSampleWriter implements SampleWriter {
  readonly #options: SampleWriterOptions;
  readonly #pq: ParquetModule;
  readonly #groupSize: number;
  #writer: InstanceType<ParquetModule['ParquetWriter']> | undefined;
  #kinds: ParquetKind[] | undefined;
  #buffer: ExportSample[] = [];
  #rows = 0;

  private constructor(options: SampleWriterOptions, pq: ParquetModule) {
    this.#options = options;
    this.#pq = pq;
    this.#groupSize = options.rowGroupSize ?? 10_000;
  }

  static async open(options: SampleWriterOptions): Promise<ParquetSampleWriter> {
    const pq = (await import('hyparquet-writer')) as unknown as ParquetModule;
    return new ParquetSampleWriter(options, pq);
  }

  async write(sample: ExportSample): Promise<void> {
    this.#buffer.push(sample);
    const rowsBuffered = this.#options.long ? this.#buffer.length * this.#options.columns.length : this.#buffer.length;
    if (rowsBuffered >= this.#groupSize) await this.#flush();
  }

  /** The column kinds, fixed from the first row group: a tag's first non-null value decides (DOUBLE when none). */
  #decideKinds(): ParquetKind[] {
    const n = this.#options.columns.length;
    const kinds: ParquetKind[] = [];
    for (let i = 0; i < n; i++) {
      let k: ParquetKind | undefined;
      for (const s of this.#buffer) if ((k = kindOf(s.cells[i]?.value ?? null))) break;
      kinds.push(k ?? 'DOUBLE');
    }
    if (this.#options.long) {
      // One value column for every tag: DOUBLE when every tag is numeric, else STRING.
      const all = kinds.every((k) => k === 'DOUBLE' || k === 'INT64' || k === 'BOOLEAN') ? 'DOUBLE' : 'STRING';
      return [all];
    }
    return kinds;
  }

  #columnData(): { name: string; data: unknown[]; type: string }[] {
    const kinds = this.#kinds as ParquetKind[];
    const { columns, long } = this.#options;
    if (long) {
      const ts: Date[] = [];
      const device: string[] = [];
      const tag: string[] = [];
      const address: string[] = [];
      const value: unknown[] = [];
      const quality: string[] = [];
      for (const s of this.#buffer) {
        s.cells.forEach((cell, i) => {
          const c = columns[i] as ExportColumn;
          ts.push(new Date(cell.timestamp));
          device.push(c.device);
          tag.push(c.name);
          address.push(c.address);
          value.push(cell.quality === 'bad' ? null : asKind(cell.value, kinds[0] as ParquetKind));
          quality.push(cell.quality);
        });
      }
      return [
        { name: 'timestamp', data: ts, type: 'TIMESTAMP' },
        { name: 'device', data: device, type: 'STRING' },
        { name: 'tag', data: tag, type: 'STRING' },
        { name: 'address', data: address, type: 'STRING' },
        { name: 'value', data: value, type: kinds[0] as string },
        { name: 'quality', data: quality, type: 'STRING' },
      ];
    }
    return [
      { name: 'timestamp', data: this.#buffer.map((s) => new Date(s.timestamp)), type: 'TIMESTAMP' },
      ...columns.map((c, i) => ({
        name: c.name,
        data: this.#buffer.map((s) => {
          const cell = s.cells[i];
          return cell === undefined || cell.quality === 'bad' ? null : asKind(cell.value, kinds[i] as ParquetKind);
        }),
        type: kinds[i] as string,
      })),
    ];
  }

  async #flush(): Promise<void> {
    if (this.#buffer.length === 0 && this.#writer) return;
    this.#kinds ??= this.#decideKinds();
    const columnData = this.#columnData();
    if (!this.#writer) {
      const schema = this.#pq.schemaFromColumnData({ columnData });
      this.#writer = new this.#pq.ParquetWriter({ writer: this.#pq.fileWriter(this.#options.file), schema, createdBy: 'bifrost' });
    }
    const rows = (columnData[0]?.data.length ?? 0) as number;
    if (rows > 0) await this.#writer.write({ columnData, rowGroupSize: rows });
    this.#rows += rows;
    this.#buffer = [];
  }

  async close(): Promise<{ rows: number }> {
    await this.#flush();
    this.#writer?.finish();
    return { rows: this.#rows };
  }
}
