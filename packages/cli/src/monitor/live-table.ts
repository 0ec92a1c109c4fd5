/**
 * @module
 * The plain `bifrost monitor` view: a table redrawn in place on a terminal (values colored by
 * state: green normal, yellow near a limit, red in alarm or bad), or, when stdout is not a
 * terminal, one line per changed value (JSON lines with `--json`).
 */
import { formatAge, formatQuality, formatValue, paintState } from '../ui/format.js';
import { type Palette, SYMBOLS } from '../ui/palette.js';
import { renderTable } from '../ui/table.js';
import type { MonitorSnapshot, TagRow } from './poller.js';

/**
 * The lines of the live table.
 * @example liveTableLines(poller.snapshot(), palette, Date.now(), 100)
 */
export function liveTableLines(s: MonitorSnapshot, palette: Palette, now: number, width: number): string[] {
  const multi = s.devices.length > 1;
  const columns = [
    { header: 'TAG', minWidth: 8 },
    { header: 'VALUE', align: 'right' as const, minWidth: 6 },
    { header: 'UNIT', minWidth: 2 },
    { header: 'QUALITY' },
    { header: 'AGE', align: 'right' as const },
    ...(multi ? [{ header: 'DEVICE', minWidth: 6 }] : []),
  ];
  const rows = s.rows.map((r) => {
    const v = r.last;
    const paint = paintState(r.state, palette);
    return [
      r.name,
      paint(v ? formatValue(v.value) : '…'),
      r.unit ?? '',
      v ? formatQuality(v.quality, palette) : palette.dim('—'),
      v ? palette.dim(formatAge(now - (r.changedAt ?? v.timestamp))) : '',
      ...(multi ? [r.device] : []),
    ];
  });
  const health = s.devices
    .map((d) => `${d.name} ${d.health === 'connected' ? palette.success(d.health) : d.health === 'degraded' || d.health === 'connecting' ? palette.warning(d.health) : palette.error(d.health)}`)
    .join('  ');
  const status = s.paused ? palette.special(`${SYMBOLS.special} paused`) : palette.special(`${SYMBOLS.special} every ${s.intervalMs} ms`);
  return [`${status}  ${health}`, ...renderTable(columns, rows, palette, width), palette.dim('Ctrl-C to stop')];
}

/**
 * One line per changed value, for pipes.
 * @example changeLine(row, palette)
 */
export function changeLine(r: TagRow, palette: Palette): string {
  const v = r.last;
  if (!v) return '';
  return `${new Date(v.timestamp).toISOString()}  ${r.name}  ${paintState(r.state, palette)(formatValue(v.value))}${r.unit ? ` ${r.unit}` : ''}  ${formatQuality(v.quality, palette)}`;
}
