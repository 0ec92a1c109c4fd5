/**
 * @module
 * The write audit log: one JSON line per write attempt (who, where from, what, old value, new
 * value, result, when). Appends are serialized so lines never interleave.
 */
import { dirname } from 'node:path';
import type { Value } from './datatypes.js';
import { channels } from './diagnostics.js';
import { fs } from './node-fs.js';
import { jsonValue } from './value.js';

// fs's callback API, not node:fs/promises: importing that loads readline and the streams into
// every process that imports core (node-fs.ts).
const mkdir = (dir: string, options: { recursive: true }) => new Promise<void>((ok, fail) => fs.mkdir(dir, options, (e) => (e ? fail(e) : ok())));
const appendFile = (file: string, data: string, options: { mode: number }) => new Promise<void>((ok, fail) => fs.appendFile(file, data, options, (e) => (e ? fail(e) : ok())));

/** One audited attempt to change the plant: a write, or an alarm acknowledgement (`action: 'ack'`). */
export interface AuditRecord {
  /** What was attempted: `write` (the default when absent) or `ack` (an alarm acknowledgement). */
  action?: 'write' | 'ack';
  /** Who: a user name, token name or `cli:<os user>`. */
  user: string;
  /** Where from: `cli`, `web`, `opcua`, `api`. */
  source: string;
  /** The client's network address (web, OPC UA), when the attempt came over the network. */
  client?: string;
  device: string;
  /** Tag name, when the write names a configured tag. */
  tag?: string;
  address: string;
  oldValue?: Value | null;
  /** The requested value; absent when the attempt was refused before its body was read (401, 403). */
  newValue?: Value;
  result: 'ok' | 'error' | 'denied';
  error?: { code: string; message: string };
}

/**
 * Appends audit records as JSON lines to a file.
 * @example const audit = new AuditLog('./data/audit.jsonl'); await audit.append({ … })
 */
export class AuditLog {
  readonly file: string;
  #chain: Promise<void> = Promise.resolve();
  #dirReady = false;

  constructor(file: string) {
    this.file = file;
  }

  /** Appends one record, stamped with the current time; resolves when it is written. */
  append(record: AuditRecord): Promise<void> {
    const line = `${JSON.stringify({
      time: new Date().toISOString(),
      ...record,
      oldValue: record.oldValue === undefined ? undefined : jsonValue(record.oldValue),
      newValue: record.newValue === undefined ? undefined : jsonValue(record.newValue),
    })}\n`;
    if (channels.write.hasSubscribers) channels.write.publish(record);
    const next = this.#chain.then(async () => {
      if (!this.#dirReady) {
        await mkdir(dirname(this.file), { recursive: true });
        this.#dirReady = true;
      }
      await appendFile(this.file, line, { mode: 0o600 });
    });
    this.#chain = next.catch(() => {});
    return next;
  }
}
