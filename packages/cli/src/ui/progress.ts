/**
 * @module
 * A one-line progress bar with count, rate and ETA, redrawn in place on a terminal
 * (`\r` + erase line) at most every 100 ms.
 */
import type { Writable } from 'node:stream';
import { formatAge } from './format.js';
import type { Palette } from './palette.js';

/**
 * The text of a progress bar.
 * @example progressLine({ done: 45, total: 100, elapsedMs: 4500, unit: 'samples', width: 20 }, palette)
 * // '[█████████░░░░░░░░░░░]  45% 45/100 samples · 10.0/s · ETA 5.5s'
 */
export function progressLine(s: { done: number; total: number; elapsedMs: number; unit: string; width?: number }, palette: Palette): string {
  const width = s.width ?? 24;
  const share = s.total > 0 ? Math.min(1, s.done / s.total) : 0;
  const filled = Math.round(share * width);
  const rate = s.elapsedMs > 0 ? (s.done * 1000) / s.elapsedMs : 0;
  const etaMs = rate > 0 ? ((s.total - s.done) / rate) * 1000 : Number.NaN;
  const bar = palette.info('█'.repeat(filled)) + palette.dim('░'.repeat(width - filled));
  const pct = `${String(Math.floor(share * 100)).padStart(3)}%`;
  const eta = Number.isFinite(etaMs) ? formatAge(etaMs) : '—';
  return `[${bar}] ${pct} ${s.done}/${s.total} ${s.unit} · ${rate.toFixed(1)}/s · ETA ${eta}`;
}

/** A progress bar on a stream. */
export class ProgressBar {
  readonly #out: Writable;
  readonly #palette: Palette;
  readonly #total: number;
  readonly #unit: string;
  readonly #started = Date.now();
  #done = 0;
  #lastDraw = 0;

  constructor(out: Writable, palette: Palette, total: number, unit: string) {
    this.#out = out;
    this.#palette = palette;
    this.#total = total;
    this.#unit = unit;
  }

  /** Sets the count and redraws (throttled). */
  update(done: number): void {
    this.#done = done;
    const now = Date.now();
    if (now - this.#lastDraw < 100 && done < this.#total) return;
    this.#lastDraw = now;
    this.#out.write(`\r\u001b[2K${progressLine({ done, total: this.#total, elapsedMs: now - this.#started, unit: this.#unit }, this.#palette)}`);
  }

  /** Draws the last state and ends the line. */
  finish(): void {
    this.#lastDraw = 0;
    this.update(this.#done);
    this.#out.write('\n');
  }
}
