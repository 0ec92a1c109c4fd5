/**
 * @module
 * Plain aligned tables for terminals: a blue header row, columns padded by visible width (ANSI
 * escapes ignored), and cells cut with `…` so a row never wraps past `maxWidth`.
 */
import { type Palette, stripAnsi, visibleWidth } from './palette.js';

/** One column. */
export interface Column {
  header: string;
  align?: 'left' | 'right';
  /** The column may be cut down to this width when the table is too wide (default: never cut). */
  minWidth?: number;
}

/**
 * Cuts text (with its ANSI escapes) to `width` visible characters, ending in `…` when cut.
 * @example truncate('temperature', 6) // 'tempe…'
 */
export function truncate(text: string, width: number): string {
  if (visibleWidth(text) <= width) return text;
  if (width <= 0) return '';
  const plain = [...stripAnsi(text)].slice(0, Math.max(0, width - 1)).join('');
  return `${plain}…`;
}

/**
 * Pads text to `width` visible characters.
 * @example pad('42', 5, 'right') // '   42'
 */
export function pad(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  const fill = ' '.repeat(Math.max(0, width - visibleWidth(text)));
  return align === 'right' ? fill + text : text + fill;
}

/**
 * Renders rows under headers, two spaces between columns.
 * @example renderTable([{ header: 'ADDRESS' }, { header: 'VALUE', align: 'right' }], [['HR0', '42']], palette)
 */
export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[], palette: Palette, maxWidth = Number.POSITIVE_INFINITY): string[] {
  const widths = columns.map((c, i) => Math.max(visibleWidth(c.header), ...rows.map((r) => visibleWidth(r[i] ?? ''))));
  let total = widths.reduce((a, b) => a + b, 0) + 2 * (columns.length - 1);
  // Shrink the cuttable columns, widest first, until the table fits.
  while (total > maxWidth) {
    let widest = -1;
    for (let i = 0; i < columns.length; i++) {
      const min = columns[i]?.minWidth;
      if (min !== undefined && (widths[i] as number) > min && (widest < 0 || (widths[i] as number) > (widths[widest] as number))) widest = i;
    }
    if (widest < 0) break;
    widths[widest] = (widths[widest] as number) - 1;
    total--;
  }
  const line = (cells: readonly string[], header: boolean): string =>
    columns
      .map((c, i) => {
        const w = widths[i] as number;
        const cell = truncate(cells[i] ?? '', w);
        return pad(header ? palette.header(cell) : cell, w, c.align);
      })
      .join('  ')
      .trimEnd();
  return [
    line(
      columns.map((c) => c.header),
      true,
    ),
    ...rows.map((r) => line(r, false)),
  ];
}
