/**
 * @module
 * The full-screen `bifrost monitor --dashboard`, built with Ink (React for terminals): a device
 * health panel, the tag table with sparklines, the alarm list and a key help line. Keys: q quit,
 * ↑/↓ select, / filter (Enter keeps it, Esc clears), p pause. It re-lays out on every terminal
 * resize and drops columns (sparkline, unit, age) when the terminal is narrow.
 */
import { Box, render, Text, useApp, useInput, useStdout } from 'ink';
import { useEffect, useRef, useState } from 'react';
import type { MonitorSnapshot, Poller, TagRow } from '../monitor/poller.js';
import { formatAge, formatValue, type LimitState, sparkline } from '../ui/format.js';

const STATE_COLOR: Record<LimitState, string> = { normal: 'green', near: 'yellow', alarm: 'red', bad: 'red' };
const HEALTH_COLOR: Record<string, string> = { connected: 'green', degraded: 'yellow', connecting: 'yellow', disconnected: 'red' };

function cut(s: string, w: number): string {
  if (w <= 0) return '';
  const chars = [...s];
  return chars.length <= w ? s.padEnd(w) : `${chars.slice(0, Math.max(0, w - 1)).join('')}…`;
}

/** Cuts and right-aligns. */
function fit(s: string, w: number): string {
  return cut(s, w).trimEnd().padStart(w);
}

function useTerminalSize(): { columns: number; rows: number } {
  const { stdout } = useStdout();
  const [size, setSize] = useState({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  useEffect(() => {
    const onResize = () => setSize({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);
  return size;
}

/** Props of {@link Dashboard}. */
export interface DashboardProps {
  poller: Poller;
  title: string;
  onQuit: () => void;
}

/** The dashboard component. */
export function Dashboard({ poller, title, onQuit }: DashboardProps) {
  const { exit } = useApp();
  const { columns, rows: height } = useTerminalSize();
  const [snap, setSnap] = useState<MonitorSnapshot>(poller.snapshot());
  const [, setTick] = useState(0);
  const [selected, setSelected] = useState(0);
  const [filter, setFilter] = useState('');
  const [editing, setEditingState] = useState(false);
  // Keys can arrive before React re-renders with the new state: the handler reads this ref.
  const editingRef = useRef(false);
  const setEditing = (v: boolean) => {
    editingRef.current = v;
    setEditingState(v);
  };

  useEffect(() => {
    const onUpdate = () => {
      setSnap({ ...poller.snapshot() });
      setTick((t) => t + 1);
    };
    poller.on('update', onUpdate);
    return () => {
      poller.off('update', onUpdate);
    };
  }, [poller]);

  const visible = snap.rows.filter((r) => filter === '' || r.name.toLowerCase().includes(filter.toLowerCase()) || r.address.toLowerCase().includes(filter.toLowerCase()));
  const sel = Math.min(selected, Math.max(0, visible.length - 1));

  // tmux send-keys and fast typists deliver several characters in one chunk: handle each.
  const typeChar = (ch: string) => {
    if (editingRef.current) {
      if (ch === '\r' || ch === '\n') {
        setEditing(false);
      } else if (ch === '\u007f' || ch === '\b') setFilter((f) => f.slice(0, -1));
      else if (ch >= ' ') setFilter((f) => f + ch);
      return;
    }
    if (ch === 'q') {
      onQuit();
      exit();
    } else if (ch === '/') {
      setEditing(true);
    } else if (ch === 'p') {
      poller.setPaused(!poller.paused);
      setSnap({ ...poller.snapshot() });
    }
  };

  useInput((input, key) => {
    if (key.ctrl && input === 'c') {
      onQuit();
      exit();
      return;
    }
    if (key.escape) {
      setFilter('');
      setEditing(false);
      return;
    }
    const editing = editingRef.current;
    if (editing && (key.backspace || key.delete)) {
      setFilter((f) => f.slice(0, -1));
      return;
    }
    if (key.return) {
      if (editing) setEditing(false);
      return;
    }
    if (!editing && key.upArrow) return setSelected(Math.max(0, sel - 1));
    if (!editing && key.downArrow) return setSelected(Math.min(visible.length - 1, sel + 1));
    if (key.ctrl || key.meta) return;
    for (const ch of input) typeChar(ch);
  });

  const narrow = columns < 70;
  const now = Date.now();
  const nameW = Math.max(8, Math.min(28, Math.floor(columns * 0.28)));
  const valueW = 12;
  const qualityW = 9;
  const unitW = narrow ? 0 : 6;
  const ageW = narrow ? 0 : 7;
  const sparkW = narrow ? 0 : Math.max(0, columns - 4 - nameW - valueW - qualityW - unitW - ageW - 6);
  const alarmsShown = Math.max(1, Math.min(5, Math.floor(height / 8)));
  const tableRows = Math.max(1, height - snap.devices.length - alarmsShown - 10);
  const start = Math.max(0, Math.min(sel - tableRows + 1, visible.length - tableRows));
  const page = visible.slice(Math.max(0, start), Math.max(0, start) + tableRows);

  const line = (r: TagRow, i: number) => {
    const isSel = Math.max(0, start) + i === sel;
    const v = r.last;
    return (
      <Box key={`${r.device}/${r.name}`}>
        <Text color="magenta">{isSel ? '›' : ' '}</Text>
        <Text inverse={isSel}>{cut(r.name, nameW - 1)} </Text>
        <Text color={STATE_COLOR[r.state]}>{fit(v ? formatValue(v.value) : '…', valueW)} </Text>
        {unitW > 0 && <Text>{cut(r.unit ?? '', unitW)} </Text>}
        <Text color={v?.quality === 'good' ? 'green' : v?.quality === 'uncertain' ? 'yellow' : 'red'}>{cut(v?.quality ?? '—', qualityW)}</Text>
        {ageW > 0 && <Text dimColor>{cut(v ? formatAge(now - (r.changedAt ?? v.timestamp)) : '', ageW)}</Text>}
        {sparkW > 0 && <Text color="blue">{sparkline(r.history, sparkW)}</Text>}
      </Box>
    );
  };

  return (
    <Box flexDirection="column" width={columns}>
      <Box justifyContent="space-between">
        <Text bold color="blue">
          {cut(`bifrost monitor · ${title}`, Math.max(10, columns - 22))}
        </Text>
        <Text color="magenta">{snap.paused ? '◆ PAUSED' : `◆ ${snap.intervalMs} ms · #${snap.polls}`}</Text>
      </Box>
      <Box borderStyle="round" borderColor="blue" flexDirection="column" paddingX={1}>
        <Text bold color="blue">
          Devices
        </Text>
        {snap.devices.map((d) => (
          <Box key={d.name}>
            <Text color={HEALTH_COLOR[d.health] ?? 'white'}>● </Text>
            <Text>{cut(d.name, Math.min(20, nameW))} </Text>
            <Text color={HEALTH_COLOR[d.health] ?? 'white'}>{cut(d.health, 13)}</Text>
            {!narrow && <Text dimColor>{cut(` polls ${d.polls} · bad ${d.badValues}${d.lastError ? ` · ${d.lastError}` : ''}`, Math.max(0, columns - nameW - 24))}</Text>}
          </Box>
        ))}
      </Box>
      <Box flexDirection="column" paddingX={1}>
        <Box>
          <Text bold color="blue">
            {cut(' TAG', nameW)} {'VALUE'.padStart(valueW)} {unitW > 0 ? `${cut('UNIT', unitW)} ` : ''}
            {cut('QUALITY', qualityW)}
            {ageW > 0 ? cut('AGE', ageW) : ''}
            {sparkW > 0 ? 'TREND' : ''}
          </Text>
        </Box>
        {page.map(line)}
        {visible.length === 0 && <Text color="yellow">no tag matches “{filter}”</Text>}
      </Box>
      <Box borderStyle="round" borderColor={snap.alarms.some((a) => a.state === 'alarm' || a.state === 'bad') ? 'red' : 'blue'} flexDirection="column" paddingX={1}>
        <Text bold color="blue">
          Alarms
        </Text>
        {snap.alarms.length === 0 && <Text dimColor>none</Text>}
        {snap.alarms.slice(0, alarmsShown).map((a) => (
          <Text key={`${a.at}-${a.tag}-${a.state}`} color={STATE_COLOR[a.state]}>
            {cut(`${new Date(a.at).toISOString().slice(11, 19)} ${a.text}`, Math.max(10, columns - 4))}
          </Text>
        ))}
      </Box>
      <Text dimColor={!editing} color={editing ? 'yellow' : undefined}>
        {editing ? `/${filter}▏ (Enter keep · Esc clear)` : cut(`q quit · ↑↓ select · / filter${filter ? ` [${filter}]` : ''} · p ${snap.paused ? 'resume' : 'pause'}`, columns)}
      </Text>
    </Box>
  );
}

/**
 * Runs the dashboard until the user quits (q) or the signal aborts.
 * @example await runDashboard(poller, 'gateway.yaml', signal)
 */
export async function runDashboard(poller: Poller, title: string, signal: AbortSignal): Promise<void> {
  const stop = new AbortController();
  const both = AbortSignal.any([signal, stop.signal]);
  const app = render(<Dashboard poller={poller} title={title} onQuit={() => stop.abort()} />, { exitOnCtrlC: false });
  const polling = poller.run(both);
  const onAbort = () => app.unmount();
  both.addEventListener('abort', onAbort, { once: true });
  await app.waitUntilExit();
  stop.abort();
  await polling;
}
