/**
 * @module
 * A durable, compressed, append-only store-and-forward queue. Records are JSON values; each append
 * batch becomes one CRC-32C-checked block (see block-codec.ts) in a segment file named by the
 * sequence number of its first record. A consumer reads, hands the records to a sink, and acks a
 * cursor only once the sink confirms; the cursor is persisted (write, fsync, rename) so a restart
 * redelivers exactly the unconfirmed records.
 *
 * Durability: with `fsync: 'batch'` an append resolves after fdatasync(2) of its block (concurrent
 * appends share one block and one fsync: group commit). With `fsync: { everyMs }` an append
 * resolves once the block is written to the kernel (safe against a crash of the process) and the
 * file is fdatasync'ed every `everyMs` (a power loss can lose at most that window). A new segment
 * file is made durable by fsync of the directory too (fsync(2): "an explicit fsync() on a file
 * descriptor for the directory is also needed").
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, rename, statfs, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { BifrostError, channel, parseBytes } from '@bifrost/core';
import { BLOCK_HEADER_BYTES, BLOCK_MAGIC, type BlockCodec, decodeRecords, encodeBlockHeader, encodeRecords, findNextBlock, parseBlockAt } from './block-codec.js';
import { type Block, BlockLog } from './block-log.js';
import { crc32c } from './crc32c.js';

const deflateRaw = promisify(zlib.deflateRaw);
const inflateRaw = promisify(zlib.inflateRaw);
const brotliCompress = promisify(zlib.brotliCompress);
const brotliDecompress = promisify(zlib.brotliDecompress);

const warnChannel = channel('cloud', 'queue-warning');

/** When appended data is forced to disk. */
export type FsyncPolicy = 'batch' | { everyMs: number };
/** What happens when the disk budget is reached. */
export type OverflowPolicy = 'drop-oldest' | 'reject-new';

/** Options of {@link DurableQueue.open}. */
export interface DurableQueueOptions {
  /** Directory holding the segment files and the cursor (created if missing). */
  dir: string;
  /** Disk budget for the segment files, e.g. `1GB` (default 1 GiB). */
  maxBytes?: number | string;
  /** At the budget: delete the oldest segment (`drop-oldest`, default) or refuse the append (`reject-new`). */
  policy?: OverflowPolicy;
  /** `batch` (default): fsync every block before the append resolves; `{ everyMs }`: fsync on a timer. */
  fsync?: FsyncPolicy;
  /** Size at which a segment file is closed and a new one started (default min(64 MiB, maxBytes/4)). */
  segmentBytes?: number | string;
  /** Block compression (default `deflate`; Node 20's zlib has no zstd, see the README). */
  compression?: BlockCodec;
  /** zlib level or brotli quality (default 1 for deflate, 4 for brotli: speed over ratio). */
  compressionLevel?: number;
  /** Largest serialized record accepted (default 1 MiB). */
  maxRecordBytes?: number | string;
  /** Most records packed into one block by group commit (default 16 384). */
  maxBlockRecords?: number;
  /**
   * Memory for recently appended, not yet acknowledged records, so the sink reads them without
   * going back to disk (default 4MB; records past it are read from their segment). Acknowledged
   * records leave the cache at once.
   */
  cacheBytes?: number | string;
  /**
   * Records older than this (ms, by append time) are dropped at the head unacknowledged, counted
   * in `expired` and warned about (default: no age limit).
   */
  maxAgeMs?: number;
  /** Called for every recovery or runtime warning (torn tail, corrupt block, bad cursor, drops). */
  onWarning?: (warning: BifrostError) => void;
}

/** A record read from the queue with its sequence number. */
export interface QueuedRecord<T> {
  seq: number;
  record: T;
  /** When its block was appended (ms since the Unix epoch). */
  appendedAt: number;
}

/** What {@link DurableQueue.read} returns: records and the cursor that acks them all. */
export interface QueueBatch<T> {
  records: QueuedRecord<T>[];
  /** Pass to {@link DurableQueue.ack} once the sink confirmed every record of the batch. */
  cursor: number;
}

/** What an append stored. */
export interface AppendResult {
  firstSeq: number;
  count: number;
}

/** Queue counters and gauges. */
export interface QueueMetrics {
  /** Records appended and not yet acknowledged. */
  depth: number;
  /** Bytes of segment files on disk. */
  bytes: number;
  /** Bytes of unacknowledged records held in memory for the reader (at most `cacheBytes`). */
  cachedBytes: number;
  /** Age of the oldest unacknowledged record in ms (0 when empty). */
  oldestAgeMs: number;
  /** Records deleted unacknowledged by the drop-oldest policy. */
  dropped: number;
  /** Records refused by the reject-new policy, a full disk or an I/O error. */
  rejected: number;
  /** Records lost to corruption (CRC mismatch) and skipped. */
  corruptSkipped: number;
  /** Torn tails truncated at open. */
  tornTails: number;
  /** Records appended since open. */
  appended: number;
  /** Records acknowledged by the consumer since open (corrupt records skipped are in `corruptSkipped`, not here). */
  delivered: number;
  /** Records dropped unacknowledged because they were older than `maxAgeMs`. */
  expired: number;
  /** Records lost in torn tails at open (the count of a torn block whose header survived, else 1). */
  tornLost: number;
  /** Records lost to damage: `corruptSkipped + tornLost`. */
  lost: number;
  /** Unacknowledged records found on disk at open. */
  recovered: number;
  /** 1 while the disk is full (the last append or cursor write failed with ENOSPC), else 0. */
  diskFull: number;
  /** Sequence number the next append gets. */
  nextSeq: number;
  /** All records below this sequence number are acknowledged. */
  ackedSeq: number;
  segments: number;
}

type BlockRef = Block<Segment>;

interface Segment {
  base: number;
  path: string;
  size: number;
  /** Blocks of this segment in the queue's {@link BlockLog} (a segment's blocks are contiguous there). */
  blocks: number;
  reader?: FileHandle;
}

interface Pending {
  data: Buffer[];
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

const SEGMENT_RE = /^(\d{20})\.seg$/;
const CURSOR_FILE = 'cursor';
const LOCK_FILE = 'lock';
const CURSOR_BYTES = 12;
/** Bytes a cached record costs beyond its data: the Buffer object and its slot in the block's array. */
const CACHED_RECORD_OVERHEAD = 96;

function segmentName(base: number): string {
  return `${String(base).padStart(20, '0')}.seg`;
}

function formatBytes(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`;
}

/** Lock files this process holds (a lock with our PID that is not here was left by an earlier process with the same PID). */
const HELD = new Set<string>();

/** A process's start time in clock ticks since boot (proc(5), /proc/<pid>/stat field 22), where Linux gives it. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** True when a process with this PID exists (kill(2) with signal 0; EPERM means it exists but is not ours). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isRecordArray(x: unknown): x is readonly unknown[] {
  return Array.isArray(x);
}

/**
 * A durable store-and-forward queue of JSON records.
 * @example
 * const q = await DurableQueue.open({ dir: './data/queue', maxBytes: '1GB', fsync: 'batch' });
 * await q.append({ device: 'press1', tag: 'temp', value: 21.5, quality: 'good', timestamp: Date.now() });
 * const batch = await q.read(100);
 * await sendSomewhere(batch.records);
 * await q.ack(batch.cursor);
 */
export class DurableQueue<T = unknown> extends EventEmitter implements AsyncDisposable {
  readonly dir: string;
  readonly maxBytes: number;
  readonly policy: OverflowPolicy;
  readonly fsync: FsyncPolicy;
  segmentBytes: number;
  readonly compression: BlockCodec;
  readonly maxRecordBytes: number;
  readonly #level: number;
  readonly #maxBlockRecords: number;
  readonly #cacheLimit: number;
  readonly #onWarning: ((w: BifrostError) => void) | undefined;

  #segments: Segment[] = [];
  /** Every block of every segment, oldest first. */
  readonly #blocks = new BlockLog<Segment>();
  #active!: Segment;
  #writer: FileHandle | undefined;
  #nextSeq = 0;
  #acked = 0;
  #readPos = 0;
  #bytes = 0;
  #pending: Pending[] = [];
  #writing = false;
  #drained: Array<() => void> = [];
  #dataWaiters: Array<() => void> = [];
  #dirty = false;
  #timer: NodeJS.Timeout | undefined;
  #syncing: Promise<void> | undefined;
  #cursorWrite: Promise<void> | undefined;
  #cursorWanted = -1;
  #cursorPersisted = -1;
  #closed = false;
  #cache = new Map<number, Buffer[]>();
  #cacheBytes = 0;
  #counted = new Set<number>();
  #m = { dropped: 0, rejected: 0, corruptSkipped: 0, tornTails: 0, appended: 0, expired: 0, tornLost: 0, recovered: 0 };
  #diskFull = false;
  #acknowledged = 0;
  #maxAgeMs: number | undefined;
  #ageTimer: NodeJS.Timeout | undefined;
  #lockPath: string;
  #ownsLock = false;

  private constructor(o: DurableQueueOptions) {
    super();
    this.dir = o.dir;
    this.maxBytes = parseBytes(o.maxBytes ?? 1024 ** 3);
    this.policy = o.policy ?? 'drop-oldest';
    this.fsync = o.fsync ?? 'batch';
    this.compression = o.compression ?? 'deflate';
    this.#level = o.compressionLevel ?? (this.compression === 'brotli' ? 4 : 1);
    this.maxRecordBytes = parseBytes(o.maxRecordBytes ?? 1024 * 1024);
    this.#maxBlockRecords = o.maxBlockRecords ?? 16_384;
    this.#cacheLimit = parseBytes(o.cacheBytes ?? 4 * 1024 * 1024);
    this.#onWarning = o.onWarning;
    this.#lockPath = join(o.dir, LOCK_FILE);
    if (o.maxAgeMs !== undefined) {
      if (!(o.maxAgeMs > 0)) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `queue maxAgeMs must be a positive number of milliseconds, got ${String(o.maxAgeMs)}`);
      this.#maxAgeMs = o.maxAgeMs;
    }
    const wanted = o.segmentBytes === undefined ? 64 * 1024 * 1024 : parseBytes(o.segmentBytes);
    this.segmentBytes = Math.max(4096, Math.min(wanted, Math.floor(this.maxBytes / 4)));
    if (this.policy !== 'drop-oldest' && this.policy !== 'reject-new') throw new BifrostError('BIFROST_INVALID_ARGUMENT', `queue policy must be drop-oldest or reject-new, got ${String(this.policy)}`);
    if (this.fsync !== 'batch' && !(typeof this.fsync === 'object' && this.fsync.everyMs > 0))
      throw new BifrostError('BIFROST_INVALID_ARGUMENT', `queue fsync must be 'batch' or { everyMs: n > 0 }, got ${JSON.stringify(this.fsync)}`);
    if (!['none', 'deflate', 'brotli'].includes(this.compression))
      throw new BifrostError('BIFROST_INVALID_ARGUMENT', `queue compression must be none, deflate or brotli, got ${String(this.compression)}`);
    if (this.maxBytes < 16 * 1024) throw new BifrostError('BIFROST_INVALID_ARGUMENT', `queue maxBytes must be at least 16KB, got ${this.maxBytes}`);
  }

  /**
   * Opens (or creates) the queue in `dir`, recovering from a crash: a torn tail is truncated, a
   * corrupt block skipped and counted, a bad cursor reset to the oldest record.
   * @example const q = await DurableQueue.open({ dir: './data/queue', maxBytes: '512MB', policy: 'drop-oldest', fsync: { everyMs: 200 } })
   */
  static async open<T = unknown>(options: DurableQueueOptions): Promise<DurableQueue<T>> {
    if (!options || typeof options.dir !== 'string' || options.dir === '') throw new BifrostError('BIFROST_INVALID_ARGUMENT', 'DurableQueue.open needs { dir }');
    const q = new DurableQueue<T>(options);
    await q.#recover();
    return q;
  }

  /** Largest block the recovery scan accepts (a longer length field is corruption). */
  get #maxBlockBytes(): number {
    return Math.max(this.segmentBytes, this.maxRecordBytes * 2 + 1024 * 1024) * 2;
  }

  #warn(err: BifrostError): void {
    this.#onWarning?.(err);
    if (warnChannel.hasSubscribers) warnChannel.publish({ dir: this.dir, error: err });
    if (this.listenerCount('warning') > 0) this.emit('warning', err);
  }

  async #recover(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
      await this.#lock();
      await this.#fitSegmentsToDisk();
      const names = (await readdir(this.dir)).filter((n) => SEGMENT_RE.test(n)).sort();
      for (let i = 0; i < names.length; i++) {
        const name = names[i] as string;
        const seg: Segment = { base: Number(SEGMENT_RE.exec(name)?.[1]), path: join(this.dir, name), size: 0, blocks: 0 };
        await this.#scanSegment(seg, i === names.length - 1);
        this.#segments.push(seg);
        this.#bytes += seg.size;
      }
      const blocks = this.#blocks;
      const lastSeg = this.#segments.at(-1);
      this.#nextSeq = blocks.length > 0 ? blocks.endSeq(blocks.length - 1) : (lastSeg?.base ?? 0);
      if (lastSeg && lastSeg.base > this.#nextSeq) this.#nextSeq = lastSeg.base;
      await this.#loadCursor();
      this.#readPos = this.#acked;
      this.#m.recovered = this.#nextSeq - this.#acked;
      await this.#deleteAckedSegments();
      if (lastSeg && lastSeg.size < this.segmentBytes && this.#segments.includes(lastSeg)) {
        this.#active = lastSeg;
        this.#writer = await open(lastSeg.path, 'r+');
      } else await this.#newSegment();
      if (typeof this.fsync === 'object') {
        this.#timer = setInterval(() => void this.#periodicSync(), this.fsync.everyMs);
        this.#timer.unref();
      }
      if (this.#maxAgeMs !== undefined) {
        await this.#expire();
        // Records age while no one reads them (the broker is down): check on a timer, not only on read.
        this.#ageTimer = setInterval(
          () => void this.#expire().catch((e: unknown) => this.#warn(this.#ioError(e, `cannot expire old records of ${this.dir}`))),
          Math.min(5000, Math.max(100, this.#maxAgeMs / 10)),
        );
        this.#ageTimer.unref();
      }
    } catch (e) {
      await this.#unlock();
      throw this.#ioError(e, `cannot open queue in ${this.dir}`);
    }
  }

  /**
   * Takes the directory's lock file (`lock`, holding the PID), so a second process (or a second
   * queue in this one) never shares the directory: two writers would interleave blocks and
   * acknowledge each other's records. A lock left by a process that is gone (kill(pid, 0) fails
   * with ESRCH) is taken over.
   */
  async #lock(): Promise<void> {
    // The PID, and the process's start time where /proc gives it: a PID reused after a reboot or a
    // container restart (a gateway is often PID 1) is then recognised as a different process.
    const mine = `${process.pid} ${startTime(process.pid) ?? ''}\n`;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await writeFile(this.#lockPath, mine, { flag: 'wx' });
        HELD.add(this.#lockPath);
        this.#ownsLock = true;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const text = await readFile(this.#lockPath, 'utf8').catch(() => '');
      const [pidText, started] = text.trim().split(/\s+/);
      const pid = Number.parseInt(pidText ?? '', 10);
      const holder = pid === process.pid ? HELD.has(this.#lockPath) : isAlive(pid) && (!started || startTime(pid) === undefined || startTime(pid) === started);
      if (Number.isSafeInteger(pid) && pid > 0 && holder)
        throw new BifrostError(
          'BIFROST_CLOUD_QUEUE_LOCKED',
          `queue directory ${this.dir} is in use by process ${pid}${pid === process.pid ? ' (this process)' : ''}; two gateways must not share one queue directory`,
          {
            details: { dir: this.dir, pid, lock: this.#lockPath },
          },
        );
      // Stale (its process is gone) or unreadable (a crash between create and write): take it over.
      this.#warn(
        new BifrostError('BIFROST_CLOUD_QUEUE_LOCKED', `queue directory ${this.dir}: taking over the lock of process ${Number.isNaN(pid) ? '(unreadable)' : pid}, which is no longer running`, {
          details: { dir: this.dir, pid },
        }),
      );
      await unlink(this.#lockPath).catch(() => {});
    }
    throw new BifrostError('BIFROST_CLOUD_QUEUE_LOCKED', `queue directory ${this.dir}: cannot take the lock ${this.#lockPath}`, { details: { dir: this.dir } });
  }

  async #unlock(): Promise<void> {
    if (!this.#ownsLock) return;
    this.#ownsLock = false;
    HELD.delete(this.#lockPath);
    const text = await readFile(this.#lockPath, 'utf8').catch(() => '');
    if (Number.parseInt(text.trim(), 10) === process.pid) await unlink(this.#lockPath).catch(() => {});
  }

  /**
   * Caps the segment size at an eighth of the file system, so a full disk always holds several
   * segments and acknowledged ones can be deleted while the rest drains (a single segment as big
   * as the disk is only reclaimed when every record in it is acknowledged).
   */
  async #fitSegmentsToDisk(): Promise<void> {
    try {
      const fs = await statfs(this.dir);
      const total = fs.blocks * fs.bsize;
      if (total > 0) this.segmentBytes = Math.max(4096, Math.min(this.segmentBytes, Math.floor(total / 8)));
    } catch {
      // statfs is unavailable on some file systems; keep the configured size.
    }
  }

  /** Drops head blocks older than `maxAgeMs`, unacknowledged, counted in `expired`. */
  async #expire(): Promise<void> {
    const maxAge = this.#maxAgeMs;
    if (maxAge === undefined || this.#closed) return;
    const limit = Date.now() - maxAge;
    const blocks = this.#blocks;
    let i = blocks.indexOf(this.#acked);
    let to = this.#acked;
    let oldest = 0;
    while (i < blocks.length) {
      const appendedAt = blocks.appendedAt(i);
      if (appendedAt >= limit) break;
      if (oldest === 0) oldest = appendedAt;
      to = blocks.endSeq(i);
      i++;
    }
    if (to <= this.#acked) return;
    const n = to - this.#acked;
    this.#m.expired += n;
    this.#acked = to;
    if (this.#readPos < to) this.#readPos = to;
    this.#cacheAck(to);
    this.#warn(
      new BifrostError('BIFROST_CLOUD_RECORD_EXPIRED', `queue ${this.dir}: dropped ${n} record(s) older than maxAge ${maxAge} ms (oldest appended ${new Date(oldest).toISOString()})`, {
        details: { expired: n, maxAgeMs: maxAge },
      }),
    );
    await this.#persistCursor(to).catch((e: unknown) => this.#cursorFailure(e));
    await this.#deleteAckedSegments();
  }

  async #scanSegment(seg: Segment, isLast: boolean): Promise<void> {
    const buf = await readFile(seg.path);
    const max = this.#maxBlockBytes;
    let off = 0;
    let prevEnd = seg.base;
    let tail = '';
    while (off < buf.length) {
      const r = parseBlockAt(buf, off, max);
      // A block that goes back in sequence cannot be ours: treat it as corruption.
      const scan: typeof r = r.kind === 'ok' && r.header.firstSeq < prevEnd ? { kind: 'bad', reason: 'block sequence goes backwards' } : r;
      if (scan.kind === 'ok') {
        const { header } = scan;
        this.#blocks.push(seg, off, scan.end - off, header.firstSeq, header.count, header.appendedAt);
        seg.blocks++;
        prevEnd = header.firstSeq + header.count;
        off = scan.end;
        continue;
      }
      const next = scan.kind === 'bad' ? findNextBlock(buf, off + 1, max) : -1;
      if (next < 0) {
        // Nothing valid follows: the rest is a block whose write never completed (a torn tail).
        if (!isLast && scan.kind === 'bad') this.#corruptRegion(seg, off, buf.length, 0, scan.reason);
        tail = scan.kind === 'bad' ? scan.reason : 'truncated block';
        break;
      }
      const nextSeq = buf.readUInt32BE(next + 16) * 0x1_0000_0000 + buf.readUInt32BE(next + 20);
      this.#corruptRegion(seg, off, next, Math.max(0, nextSeq - prevEnd), scan.kind === 'bad' ? scan.reason : 'truncated block');
      off = next;
    }
    seg.size = off;
    if (off < buf.length) {
      this.#m.tornTails++;
      // The torn block's header says how many records it held when its first 16 bytes survived; else at least one was lost.
      const count = buf.length - off >= 16 && buf.readUInt32BE(off) === BLOCK_MAGIC ? buf.readUInt32BE(off + 12) : 0;
      this.#m.tornLost += count > 0 && count <= this.#maxBlockRecords ? count : 1;
      this.#warn(
        new BifrostError('BIFROST_CLOUD_TORN_TAIL', `queue segment ${seg.path}: ${buf.length - off} bytes at offset ${off} are an incomplete block (${tail}); truncated`, {
          details: { file: seg.path, offset: off, bytes: buf.length - off },
        }),
      );
      const fh = await open(seg.path, 'r+');
      try {
        await fh.truncate(off);
        await fh.datasync();
      } finally {
        await fh.close();
      }
    }
  }

  #corruptRegion(seg: Segment, from: number, to: number, records: number, reason: string): void {
    this.#m.corruptSkipped += records;
    this.#warn(
      new BifrostError('BIFROST_CLOUD_CORRUPT_RECORD', `queue segment ${seg.path}: bytes ${from}..${to} are corrupt (${reason}); skipped ${records} record(s)`, {
        details: { file: seg.path, offset: from, bytes: to - from, records },
      }),
    );
  }

  async #loadCursor(): Promise<void> {
    const first = this.#blocks.length > 0 ? this.#blocks.firstSeq(0) : (this.#segments[0]?.base ?? this.#nextSeq);
    let buf: Buffer;
    try {
      buf = await readFile(join(this.dir, CURSOR_FILE));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      this.#acked = first;
      return;
    }
    const seq = buf.length === CURSOR_BYTES ? buf.readUInt32BE(0) * 0x1_0000_0000 + buf.readUInt32BE(4) : -1;
    if (buf.length !== CURSOR_BYTES || crc32c(buf, 0, 0, 8) !== buf.readUInt32BE(8)) {
      this.#acked = first;
      this.#warn(new BifrostError('BIFROST_CLOUD_CURSOR_INVALID', `queue cursor ${join(this.dir, CURSOR_FILE)} is unreadable (${buf.length} bytes, bad CRC); redelivering from record ${first}`));
      return;
    }
    if (seq > this.#nextSeq) {
      this.#acked = first;
      this.#warn(
        new BifrostError(
          'BIFROST_CLOUD_CURSOR_INVALID',
          `queue cursor ${join(this.dir, CURSOR_FILE)} points at record ${seq}, past the end of the queue (${this.#nextSeq}); redelivering from record ${first}`,
          {
            details: { cursor: seq, end: this.#nextSeq },
          },
        ),
      );
      return;
    }
    this.#acked = Math.max(seq, first);
    this.#cursorPersisted = seq;
  }

  async #newSegment(): Promise<void> {
    const seg: Segment = { base: this.#nextSeq, path: join(this.dir, segmentName(this.#nextSeq)), size: 0, blocks: 0 };
    const old = this.#writer;
    const oldSeg = this.#active as Segment | undefined;
    if (old) {
      if (oldSeg && oldSeg.path === seg.path) return;
      await old.datasync();
      await old.close();
    }
    this.#writer = await open(seg.path, 'w+');
    await this.#syncDir();
    this.#segments.push(seg);
    this.#active = seg;
  }

  async #syncDir(): Promise<void> {
    const d = await open(this.dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }

  /**
   * Appends one record, or an array of records as one batch. Resolves with the sequence numbers
   * once durable per the fsync policy; rejects with BIFROST_CLOUD_QUEUE_FULL (reject-new at the
   * budget), BIFROST_CLOUD_DISK_FULL, BIFROST_CLOUD_RECORD_TOO_LARGE or BIFROST_CLOSED, in which
   * case none of the call's records were stored. To append a record that is itself an array, wrap it: `append([arr])`.
   * @example const { firstSeq } = await q.append([{ device: 'd', tag: 't', value: 1, quality: 'good', timestamp: Date.now() }])
   */
  append(record: T | readonly T[]): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(new BifrostError('BIFROST_CLOSED', `queue ${this.dir} is closed`));
    const list = isRecordArray(record) ? record : [record];
    const data: Buffer[] = new Array(list.length);
    for (let i = 0; i < list.length; i++) {
      const json = JSON.stringify(list[i]);
      if (json === undefined) return Promise.reject(new BifrostError('BIFROST_INVALID_ARGUMENT', `queue record ${i} is not JSON-serializable`));
      const b = Buffer.from(json);
      if (b.length > this.maxRecordBytes) {
        this.#m.rejected += list.length;
        return Promise.reject(
          new BifrostError('BIFROST_CLOUD_RECORD_TOO_LARGE', `queue record ${i} is ${b.length} bytes, over maxRecordBytes ${this.maxRecordBytes}`, {
            details: { bytes: b.length, max: this.maxRecordBytes },
          }),
        );
      }
      data[i] = b;
    }
    if (data.length === 0) return Promise.resolve({ firstSeq: this.#nextSeq, count: 0 });
    return new Promise<AppendResult>((resolve, reject) => {
      this.#pending.push({ data, resolve, reject });
      if (!this.#writing) void this.#writeLoop();
    });
  }

  async #writeLoop(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#pending.length > 0) {
        const take: Pending[] = [];
        let n = 0;
        while (this.#pending.length > 0) {
          const p = this.#pending[0] as Pending;
          if (take.length > 0 && n + p.data.length > this.#maxBlockRecords) break;
          take.push(p);
          n += p.data.length;
          this.#pending.shift();
        }
        try {
          const res = await this.#writeBlock(take.length === 1 ? (take[0] as Pending).data : take.flatMap((p) => p.data));
          let seq = res.firstSeq;
          for (const p of take) {
            p.resolve({ firstSeq: seq, count: p.data.length });
            seq += p.data.length;
          }
        } catch (e) {
          this.#m.rejected += n;
          for (const p of take) p.reject(e);
        }
      }
    } finally {
      this.#writing = false;
      for (const d of this.#drained.splice(0)) d();
    }
  }

  async #writeBlock(data: Buffer[]): Promise<AppendResult> {
    const raw = encodeRecords(data);
    const stored =
      this.compression === 'deflate'
        ? await deflateRaw(raw, { level: this.#level })
        : this.compression === 'brotli'
          ? await brotliCompress(raw, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: this.#level, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.length } })
          : raw;
    const firstSeq = this.#nextSeq;
    const appendedAt = Date.now();
    const header = encodeBlockHeader({ storedLength: stored.length, rawLength: raw.length, count: data.length, firstSeq, appendedAt, codec: this.compression }, stored);
    const size = BLOCK_HEADER_BYTES + stored.length;
    await this.#makeRoom(size);
    if (this.#active.size > 0 && this.#active.size + size > this.segmentBytes) await this.#newSegment();
    const seg = this.#active;
    const writer = this.#writer as FileHandle;
    const offset = seg.size;
    try {
      // write(2) may write part of a block and report no error (a nearly full disk): finish it, so the
      // next call raises ENOSPC and the catch below removes the partial block.
      let done = (await writer.writev([header, stored], offset)).bytesWritten;
      if (done < size) {
        const block = Buffer.concat([header, stored]);
        while (done < size) {
          const n = (await writer.write(block, done, size - done, offset + done)).bytesWritten;
          if (n === 0) throw Object.assign(new Error('no space left on device (short write)'), { code: 'ENOSPC' });
          done += n;
        }
      }
      if (this.fsync === 'batch') await writer.datasync();
      else this.#dirty = true;
    } catch (e) {
      // Leave no half-written block behind: the next append starts at the same offset.
      await writer.truncate(offset).catch(() => {});
      const err = this.#ioError(e, `cannot append ${data.length} record(s) to ${seg.path}`);
      if (err.code === 'BIFROST_CLOUD_DISK_FULL') this.#diskFull = true;
      throw err;
    }
    this.#diskFull = false;
    this.#blocks.push(seg, offset, size, firstSeq, data.length, appendedAt);
    seg.blocks++;
    seg.size += size;
    this.#bytes += size;
    this.#nextSeq += data.length;
    this.#m.appended += data.length;
    this.#cachePut(firstSeq, data);
    for (const w of this.#dataWaiters.splice(0)) w();
    return { firstSeq, count: data.length };
  }

  async #makeRoom(size: number): Promise<void> {
    if (this.#bytes + size <= this.maxBytes) return;
    if (size > this.maxBytes - BLOCK_HEADER_BYTES || this.policy === 'reject-new') {
      throw new BifrostError('BIFROST_CLOUD_QUEUE_FULL', `queue ${this.dir} is at its disk budget (${this.#bytes} of ${this.maxBytes} bytes; policy ${this.policy}); ${size} more bytes refused`, {
        details: { bytes: this.#bytes, maxBytes: this.maxBytes, policy: this.policy },
      });
    }
    while (this.#bytes + size > this.maxBytes) {
      if (this.#segments.length === 1 && this.#active.size > 0) await this.#newSegment();
      const oldest = this.#segments[0];
      if (!oldest || oldest === this.#active) break;
      let lost = 0;
      const blocks = this.#blocks;
      for (let i = this.#firstBlockOf(oldest), end = i + oldest.blocks; i < end; i++) lost += Math.max(0, blocks.endSeq(i) - Math.max(blocks.firstSeq(i), this.#acked));
      await this.#removeSegment(oldest);
      this.#m.dropped += lost;
      const first = blocks.length > 0 ? blocks.firstSeq(0) : this.#nextSeq;
      if (this.#acked < first) {
        this.#acked = first;
        this.#persistCursor(first).catch((e: unknown) => this.#warn(this.#ioError(e, `cannot persist the cursor of ${this.dir}`)));
      }
      if (this.#readPos < this.#acked) this.#readPos = this.#acked;
      if (lost > 0)
        this.#warn(
          new BifrostError(
            'BIFROST_CLOUD_QUEUE_FULL',
            `queue ${this.dir} is at maxBytes ${formatBytes(this.maxBytes)}: dropped ${lost} oldest unacknowledged record(s) from ${oldest.path} (policy drop-oldest)`,
            {
              details: { dropped: lost },
            },
          ),
        );
    }
  }

  /** The index in {@link #blocks} of the segment's first block. */
  #firstBlockOf(seg: Segment): number {
    let i = 0;
    for (const s of this.#segments) {
      if (s === seg) return i;
      i += s.blocks;
    }
    return i;
  }

  async #removeSegment(seg: Segment): Promise<void> {
    const from = this.#firstBlockOf(seg);
    for (let i = from, end = from + seg.blocks; i < end; i++) this.#cacheDelete(this.#blocks.firstSeq(i));
    this.#blocks.remove(from, seg.blocks);
    this.#segments.splice(this.#segments.indexOf(seg), 1);
    this.#bytes -= seg.size;
    const r = seg.reader;
    seg.reader = undefined;
    await r?.close().catch(() => {});
    await unlink(seg.path).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }

  /** What a cached block costs: its record bytes plus each record's Buffer object. */
  static #cacheCost(data: readonly Buffer[]): number {
    let bytes = 0;
    for (const d of data) bytes += d.length + CACHED_RECORD_OVERHEAD;
    return bytes;
  }

  #cachePut(firstSeq: number, data: Buffer[]): void {
    this.#cache.set(firstSeq, data);
    this.#cacheBytes += DurableQueue.#cacheCost(data);
    // Oldest first: Map keeps insertion order, and blocks are appended in sequence order.
    while (this.#cacheBytes > this.#cacheLimit && this.#cache.size > 0) this.#cacheDelete(this.#cache.keys().next().value as number);
  }

  #cacheDelete(k: number): void {
    const v = this.#cache.get(k);
    if (!v) return;
    this.#cacheBytes -= DurableQueue.#cacheCost(v);
    this.#cache.delete(k);
  }

  /** Drops cached blocks whose records are all below `cursor` (acknowledged: never read again). */
  #cacheAck(cursor: number): void {
    for (const [k, v] of this.#cache) {
      if (k + v.length > cursor) return;
      this.#cacheDelete(k);
    }
  }

  async #periodicSync(): Promise<void> {
    if (!this.#dirty || this.#syncing || this.#closed) return;
    this.#dirty = false;
    const w = this.#writer;
    this.#syncing = (async () => {
      try {
        await w?.datasync();
      } catch (e) {
        this.#dirty = true;
        this.#warn(this.#ioError(e, `fsync of ${this.#active.path} failed`));
      } finally {
        this.#syncing = undefined;
      }
    })();
    await this.#syncing;
  }

  /**
   * Reads up to `max` records from the read position and advances it. With `weigh`, `max` bounds
   * the sum of the records' weights instead (the values of batched records; at least one record is
   * read). An empty batch means no records are waiting (see {@link waitForData}).
   * @example const { records, cursor } = await q.read(500)
   */
  async read(max = 1000, weigh?: (record: T) => number): Promise<QueueBatch<T>> {
    if (this.#maxAgeMs !== undefined) await this.#expire();
    const b = await this.#collect(this.#readPos, max, weigh);
    this.#readPos = b.cursor;
    return b;
  }

  /**
   * Like {@link read} without moving the read position.
   * @example const next = await q.peek(1)
   */
  peek(max = 1000): Promise<QueueBatch<T>> {
    return this.#collect(this.#readPos, max);
  }

  async #collect(from: number, max: number, weigh?: (record: T) => number): Promise<QueueBatch<T>> {
    if (this.#closed) throw new BifrostError('BIFROST_CLOSED', `queue ${this.dir} is closed`);
    const records: QueuedRecord<T>[] = [];
    let weight = 0;
    const full = () => (weigh ? weight >= max : records.length >= max);
    let pos = Math.max(from, this.#acked);
    const blocks = this.#blocks;
    let i = blocks.indexOf(pos);
    while (!full() && i < blocks.length) {
      if (blocks.endSeq(i) <= pos) {
        i++;
        continue;
      }
      const blk = blocks.get(i);
      pos = Math.max(pos, blk.firstSeq);
      const version = blocks.version;
      const data = await this.#blockData(blk);
      if (blocks.version !== version) {
        // Blocks were dropped while we read: find our place again (this block may be gone).
        i = blocks.indexOf(pos);
        if (i >= blocks.length || blocks.firstSeq(i) !== blk.firstSeq) continue;
      }
      for (let k = pos - blk.firstSeq; k < blk.count && !full(); k++) {
        const d = data[k];
        pos = blk.firstSeq + k + 1;
        if (d === undefined) continue;
        try {
          const record = JSON.parse(d.toString()) as T;
          records.push({ seq: blk.firstSeq + k, record, appendedAt: blk.appendedAt });
          if (weigh) weight += weigh(record);
        } catch (cause) {
          this.#countCorrupt(blk, 1, `record ${blk.firstSeq + k} is not valid JSON`, cause);
        }
      }
      i++;
    }
    if (!full() && i >= this.#blocks.length) pos = Math.max(pos, this.#nextSeq);
    return { records, cursor: pos };
  }

  #countCorrupt(blk: BlockRef, n: number, reason: string, cause?: unknown): void {
    if (this.#counted.has(blk.firstSeq)) return;
    this.#counted.add(blk.firstSeq);
    this.#m.corruptSkipped += n;
    this.#warn(
      new BifrostError('BIFROST_CLOUD_CORRUPT_RECORD', `queue segment ${blk.segment.path}: ${reason}; skipped ${n} record(s)`, {
        cause,
        details: { file: blk.segment.path, offset: blk.offset, records: n },
      }),
    );
  }

  /** The records of a block by index; a missing entry is a corrupt record. */
  async #blockData(blk: BlockRef): Promise<Array<Buffer | undefined>> {
    const hit = this.#cache.get(blk.firstSeq);
    if (hit) return hit;
    const seg = blk.segment;
    seg.reader ??= await open(seg.path, 'r');
    const buf = Buffer.allocUnsafe(blk.length);
    const { bytesRead } = await seg.reader.read(buf, 0, blk.length, blk.offset);
    const scan = parseBlockAt(buf.subarray(0, bytesRead), 0, this.#maxBlockBytes);
    if (scan.kind !== 'ok') {
      this.#countCorrupt(blk, blk.count, `block at offset ${blk.offset} no longer checks (${scan.kind === 'bad' ? scan.reason : 'short read'})`);
      return [];
    }
    const stored = buf.subarray(scan.payloadStart, scan.end);
    let raw: Buffer;
    try {
      raw = scan.header.codec === 'deflate' ? await inflateRaw(stored) : scan.header.codec === 'brotli' ? await brotliDecompress(stored) : stored;
    } catch (cause) {
      this.#countCorrupt(blk, blk.count, `block at offset ${blk.offset} does not decompress`, cause);
      return [];
    }
    const { records, corrupt } = decodeRecords(raw, blk.count);
    if (corrupt > 0) {
      // Positions are lost after a bad record; keep the records that check, in order.
      this.#countCorrupt(blk, corrupt, `block at offset ${blk.offset} has ${corrupt} record(s) failing CRC-32C`);
      const out: Array<Buffer | undefined> = new Array(blk.count);
      records.forEach((r, k) => {
        out[k] = r;
      });
      return out;
    }
    return records;
  }

  /** Moves the read position back to the acknowledged cursor, to redeliver unconfirmed records (after a reconnect). */
  rewind(): void {
    this.#readPos = this.#acked;
  }

  /**
   * Resolves when records are waiting past the read position (or the signal aborts).
   * @example while (running) { await q.waitForData(signal); const b = await q.read(100); … }
   */
  waitForData(signal?: AbortSignal): Promise<void> {
    if (this.#readPos < this.#nextSeq || this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.#dataWaiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Acknowledges every record below `cursor` (the `cursor` of a batch the sink confirmed) and
   * persists it; fully acknowledged segments are deleted. Resolves once the cursor is on disk.
   * @example await q.ack(batch.cursor)
   */
  async ack(cursor: number): Promise<void> {
    if (!Number.isSafeInteger(cursor) || cursor < 0 || cursor > this.#nextSeq)
      throw new BifrostError('BIFROST_INVALID_ARGUMENT', `queue cursor ${cursor} is outside the queue (0..${this.#nextSeq})`, { details: { cursor, end: this.#nextSeq } });
    if (cursor <= this.#acked) return;
    this.#acknowledged += cursor - this.#acked;
    this.#acked = cursor;
    if (this.#readPos < cursor) this.#readPos = cursor;
    this.#cacheAck(cursor);
    // A cursor that cannot be written (a full disk) must not stop the drain: the next ack retries
    // it, and at worst a restart redelivers from the last cursor on disk (duplicates, never a loss).
    await this.#persistCursor(cursor).catch((e: unknown) => this.#cursorFailure(e));
    if (this.#diskFull && cursor >= this.#nextSeq && this.#active.size > 0) {
      // Everything is acknowledged on a full disk: start a new segment so the old one can go now,
      // instead of when it reaches segmentBytes (it will not: appends fail).
      await this.#newSegment().catch((e: unknown) => this.#warn(this.#ioError(e, `cannot start a new segment in ${this.dir}`)));
    }
    await this.#deleteAckedSegments();
  }

  #cursorFailure(e: unknown): void {
    const err = this.#ioError(e, `cannot persist the cursor of ${this.dir} (will retry; a restart before it succeeds redelivers, never loses)`);
    if (err.code === 'BIFROST_CLOUD_DISK_FULL') this.#diskFull = true;
    this.#warn(err);
  }

  #persistCursor(seq: number): Promise<void> {
    this.#cursorWanted = Math.max(this.#cursorWanted, seq);
    if (!this.#cursorWrite) {
      this.#cursorWrite = (async () => {
        try {
          while (this.#cursorPersisted < this.#cursorWanted) {
            const s = this.#cursorWanted;
            const buf = Buffer.alloc(CURSOR_BYTES);
            buf.writeUInt32BE(Math.floor(s / 0x1_0000_0000), 0);
            buf.writeUInt32BE(s >>> 0, 4);
            buf.writeUInt32BE(crc32c(buf, 0, 0, 8), 8);
            try {
              const tmp = join(this.dir, `${CURSOR_FILE}.tmp`);
              const fh = await open(tmp, 'w');
              try {
                await fh.write(buf, 0, CURSOR_BYTES, 0);
                if (this.fsync === 'batch') await fh.datasync();
              } finally {
                await fh.close();
              }
              // rename(2) is atomic: a crash leaves the old cursor or the new one, never half of each.
              await rename(tmp, join(this.dir, CURSOR_FILE));
            } catch (e) {
              const code = (e as NodeJS.ErrnoException).code;
              if (code !== 'ENOSPC' && code !== 'EDQUOT') throw e;
              // A full disk has no room for a new file, but the old cursor's 12 bytes can be
              // overwritten in place. A torn overwrite fails the CRC and redelivers from the head.
              const fh = await open(join(this.dir, CURSOR_FILE), 'r+');
              try {
                await fh.write(buf, 0, CURSOR_BYTES, 0);
                if (this.fsync === 'batch') await fh.datasync();
              } finally {
                await fh.close();
              }
            }
            this.#cursorPersisted = s;
          }
        } catch (e) {
          throw this.#ioError(e, `cannot persist the cursor of ${this.dir}`);
        } finally {
          this.#cursorWrite = undefined;
        }
      })();
    }
    const w = this.#cursorWrite;
    return w.then(() => (this.#cursorPersisted < seq ? this.#persistCursor(seq) : undefined));
  }

  async #deleteAckedSegments(): Promise<void> {
    while (this.#segments.length > 1) {
      const s = this.#segments[0] as Segment;
      const next = this.#segments[1] as Segment;
      if (s === this.#active || next.base > this.#acked) break;
      // s is the oldest segment: its blocks come first.
      if (s.blocks > 0 && this.#blocks.endSeq(s.blocks - 1) > this.#acked) break;
      await this.#removeSegment(s);
    }
  }

  /**
   * Counters and gauges: depth, bytes, oldest age, dropped, rejected, corrupt records skipped.
   * @example const { depth, oldestAgeMs } = q.metrics()
   */
  metrics(): QueueMetrics {
    let depth = 0;
    let oldest = 0;
    const blocks = this.#blocks;
    for (let i = blocks.indexOf(this.#acked); i < blocks.length; i++) {
      const end = blocks.endSeq(i);
      const from = Math.max(blocks.firstSeq(i), this.#acked);
      if (end > from) {
        depth += end - from;
        if (oldest === 0) oldest = blocks.appendedAt(i);
      }
    }
    return {
      depth,
      bytes: this.#bytes,
      cachedBytes: this.#cacheBytes,
      oldestAgeMs: oldest === 0 ? 0 : Math.max(0, Date.now() - oldest),
      ...this.#m,
      delivered: Math.max(0, this.#acknowledged - this.#m.corruptSkipped),
      lost: this.#m.corruptSkipped + this.#m.tornLost,
      diskFull: this.#diskFull ? 1 : 0,
      nextSeq: this.#nextSeq,
      ackedSeq: this.#acked,
      segments: this.#segments.length,
    };
  }

  /** Sequence number the next appended record gets. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** Resolves when every append made so far is written. */
  flush(): Promise<void> {
    if (!this.#writing && this.#pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  /**
   * Finishes pending appends, fsyncs, persists the cursor and closes the files. Idempotent.
   * @example await q.close()
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#ageTimer) clearInterval(this.#ageTimer);
    for (const w of this.#dataWaiters.splice(0)) w();
    await this.#syncing;
    try {
      const w = this.#writer;
      try {
        await w?.datasync();
      } finally {
        await w?.close();
      }
      // A cursor that cannot be saved (a full disk) only means redelivery after the restart: warn, do not fail the close.
      await this.#cursorWrite?.catch(() => {});
      if (this.#cursorPersisted < this.#acked) await this.#persistCursor(this.#acked).catch((e: unknown) => this.#warn(this.#ioError(e, `cannot persist the cursor of ${this.dir}`)));
    } finally {
      this.#writer = undefined;
      for (const s of this.#segments) {
        const r = s.reader;
        s.reader = undefined;
        await r?.close().catch(() => {});
      }
      await this.#unlock();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #ioError(e: unknown, what: string): BifrostError {
    if (e instanceof BifrostError) return e;
    const code = (e as NodeJS.ErrnoException).code;
    const status = code ? { status: code, statusName: code } : {};
    if (code === 'ENOSPC' || code === 'EDQUOT') return new BifrostError('BIFROST_CLOUD_DISK_FULL', `${what}: the disk is full (${code}); queued data is kept`, { ...status, cause: e });
    return new BifrostError('BIFROST_CLOUD_QUEUE_IO', `${what}: ${e instanceof Error ? e.message : String(e)}`, { ...status, cause: e });
  }
}
