/**
 * @module
 * Parses a large config's YAML in a worker thread. The `yaml` package's document for 100,000
 * tags peaks at about 450 MB; in the gateway's own heap that peak would set V8's old-generation
 * limit for the rest of the run (garbage then piles up to it before a full collection), while a
 * worker's heap is returned to the system when the worker ends. Only the plain data comes back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LineCounter, parseDocument } from 'yaml';

const text = (workerData as { text: string }).text;
const lines = new LineCounter();
const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
const first = doc.errors[0];
if (first) {
  const pos = lines.linePos(first.pos[0]);
  parentPort?.postMessage({ error: { message: first.message.split('\n')[0], line: pos.line, column: pos.col } });
} else parentPort?.postMessage({ data: doc.toJS({ maxAliasCount: 100 }) ?? {} });
