/**
 * @module
 * The trend of one tag: history from the store (downsampled on the server) joined with the live
 * values of the stream. Drag to zoom (the zoomed window is fetched again at full resolution up to
 * 1000 points), double-click or "Live" to return to the moving window.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { ApiError, api, type TagInfo } from './api.js';

const RANGES = [
  { label: '5 min', ms: 5 * 60_000 },
  { label: '1 h', ms: 3_600_000 },
  { label: '24 h', ms: 86_400_000 },
];
const MAX_LIVE = 5000;

export interface TrendHandle {
  push(t: number, v: number): void;
}

/** One short label per tick: the time of day at the resolution the span needs, the date when it spans days. */
function timeLabels(splits: number[]): string[] {
  const span = (splits[splits.length - 1] ?? 0) - (splits[0] ?? 0);
  const withSeconds = !splits.every((x) => x % 60 === 0);
  const opts: Intl.DateTimeFormatOptions =
    span > 2 * 86_400
      ? { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false }
      : { hour: '2-digit', minute: '2-digit', ...(withSeconds ? { second: '2-digit' } : {}), hour12: false };
  return splits.map((x) => new Date(x * 1000).toLocaleString([], opts));
}

function css(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export function Trend(props: { tag: TagInfo; register: (h: TrendHandle | undefined) => void }) {
  const { tag } = props;
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot>();
  const data = useRef<{ t: number[]; v: number[] }>({ t: [], v: [] });
  const follow = useRef(true);
  const [range, setRange] = useState(RANGES[0]?.ms ?? 300_000);
  const [points, setPoints] = useState(0);
  const [zoomed, setZoomed] = useState(false);
  const [error, setError] = useState<string>();

  const render = () => {
    const p = plot.current;
    if (!p) return;
    const d = data.current;
    p.setData([d.t.map((t) => t / 1000), d.v], false);
    if (follow.current) {
      const now = Date.now() / 1000;
      p.setScale('x', { min: now - range / 1000, max: now });
    }
    setPoints(d.t.length);
  };

  const load = async (from: number, to: number) => {
    try {
      const h = await api<{ t: number[]; v: number[] }>(
        `/api/tags/${encodeURIComponent(tag.device)}/${encodeURIComponent(tag.tag)}/history?from=${Math.floor(from)}&to=${Math.ceil(to)}&maxPoints=1000`,
      );
      setError(undefined);
      return h;
    } catch (e) {
      setError(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e));
      return { t: [], v: [] };
    }
  };

  // Build the chart once per tag.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const stroke = css('--accent') || '#38bdf8';
    const axis = { stroke: css('--muted') || '#888', grid: { stroke: css('--grid') || '#8882', width: 1 }, ticks: { stroke: css('--grid') || '#8882', width: 1 } };
    const p = new uPlot(
      {
        width: el.clientWidth || 600,
        height: 260,
        legend: { show: false },
        cursor: { drag: { x: true, y: false }, points: { size: 6 } },
        scales: { x: { time: true } },
        axes: [
          { ...axis, space: 90, values: (_u, splits) => timeLabels(splits) },
          { ...axis, size: 56 },
        ],
        series: [{}, { label: tag.key, stroke, width: 2, fill: `${stroke}22`, points: { show: false } }],
        hooks: {
          setSelect: [
            (u) => {
              if (u.select.width < 4) return;
              const from = u.posToVal(u.select.left, 'x') * 1000;
              const to = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
              follow.current = false;
              setZoomed(true);
              void load(from, to).then((h) => {
                if (h.t.length > 1) u.setData([h.t.map((t) => t / 1000), h.v], false);
                u.setScale('x', { min: from / 1000, max: to / 1000 });
              });
              u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            },
          ],
        },
      },
      [[], []],
      el,
    );
    plot.current = p;
    const ro = new ResizeObserver(() => p.setSize({ width: el.clientWidth, height: 260 }));
    ro.observe(el);
    const dbl = () => backToLive();
    el.addEventListener('dblclick', dbl);
    props.register({
      push(t, v) {
        const d = data.current;
        if (d.t.length > 0 && t <= (d.t[d.t.length - 1] ?? 0)) return;
        d.t.push(t);
        d.v.push(v);
        if (d.t.length > MAX_LIVE) {
          d.t.splice(0, d.t.length - MAX_LIVE);
          d.v.splice(0, d.v.length - MAX_LIVE);
        }
        if (follow.current) render();
      },
    });
    return () => {
      props.register(undefined);
      el.removeEventListener('dblclick', dbl);
      ro.disconnect();
      p.destroy();
      plot.current = undefined;
    };
  }, [tag.key]);

  const backToLive = () => {
    follow.current = true;
    setZoomed(false);
    render();
  };

  // Load the history of the range, then keep appending live values.
  useEffect(() => {
    let cancelled = false;
    const to = Date.now();
    void load(to - range, to).then((h) => {
      if (cancelled) return;
      const live = data.current;
      // Live values that arrived during the request and are newer than the history stay.
      const last = h.t[h.t.length - 1] ?? 0;
      const keep = live.t.findIndex((t) => t > last);
      data.current = { t: [...h.t, ...(keep >= 0 ? live.t.slice(keep) : [])], v: [...h.v, ...(keep >= 0 ? live.v.slice(keep) : [])] };
      follow.current = true;
      setZoomed(false);
      render();
    });
    return () => {
      cancelled = true;
    };
  }, [tag.key, range]);

  return (
    <section class="panel trend">
      <header class="panel-head">
        <div>
          <h2>
            {tag.device}.<strong>{tag.tag}</strong>
            {tag.unit ? <span class="unit"> {tag.unit}</span> : null}
          </h2>
          <p class="muted small">
            {tag.address}
            {tag.description ? ` · ${tag.description}` : ''} · {points} points
          </p>
        </div>
        <fieldset class="seg" aria-label="Time range">
          {RANGES.map((r) => (
            <button type="button" key={r.label} class={r.ms === range && !zoomed ? 'on' : ''} onClick={() => (r.ms === range ? backToLive() : setRange(r.ms))}>
              {r.label}
            </button>
          ))}
          {zoomed ? (
            <button type="button" class="on" onClick={backToLive}>
              ● Live
            </button>
          ) : null}
        </fieldset>
      </header>
      {error ? <p class="error-text">{error}</p> : null}
      <div class="chart" ref={box} data-points={points} data-testid="trend" />
      <p class="muted small hint">Drag to zoom · double-click to return to live</p>
    </section>
  );
}
