/**
 * @module
 * The Bifrost dashboard: devices and health, the live tag table, a trend per tag, alarms with
 * acknowledge and a confirmed write dialog for writable tags. Values arrive on one WebSocket;
 * devices and alarms are refreshed every 2 s; when the gateway cannot be reached the page says so
 * and keeps the last values, marked stale.
 */
import { render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { type Alarm, ApiError, ago, api, auth, type DeviceInfo, formatValue, type LiveRow, type Me, openStream, type StreamState, type TagInfo } from './api.js';
import './styles.css';
import { Trend, type TrendHandle } from './trend.js';

const canWrite = (me: Me) => me.role === 'operator' || me.role === 'admin';

function Login(props: { onLogin: (me: Me) => void; reason?: string }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(props.reason);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const who = await api<Me>('/api/login', { method: 'POST', body: { token: token.trim() } });
      auth.token = token.trim();
      props.onLogin(who);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form class="panel" onSubmit={submit}>
        <div class="brand big">
          <Logo /> Bifrost
        </div>
        <p class="muted">Sign in with an API token.</p>
        <label for="token">API token</label>
        <input id="token" type="password" autoComplete="off" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} placeholder="bft_…" required />
        {error ? <p class="error-text">{error}</p> : null}
        <button class="primary" type="submit" disabled={busy || token.trim() === ''}>
          Sign in
        </button>
      </form>
    </main>
  );
}

function Logo() {
  return (
    <svg class="logo" viewBox="0 0 24 24" aria-hidden="true">
      <path d="M2 19 Q12 -1 22 19" fill="none" stroke="var(--accent)" stroke-width="3" stroke-linecap="round" />
      <path d="M6 19 Q12 7 18 19" fill="none" stroke="var(--accent2)" stroke-width="2.5" stroke-linecap="round" />
    </svg>
  );
}

function Devices(props: { devices: DeviceInfo[] }) {
  return (
    <section class="devices" aria-label="Devices">
      {props.devices.map((d) => (
        <article class={`panel device h-${d.health}`} key={d.name} data-device={d.name}>
          <header>
            <span class={`dot h-${d.health}`} />
            <h3>{d.name}</h3>
            <span class={`badge h-${d.health}`} data-testid="health">
              {d.health}
            </span>
          </header>
          <p class="muted small mono ellipsis" title={d.url}>
            {d.url}
          </p>
          <dl>
            <div>
              <dt>Tags</dt>
              <dd>{d.tags}</dd>
            </div>
            <div>
              <dt>Polls</dt>
              <dd>{d.stats.polls.toLocaleString()}</dd>
            </div>
            <div>
              <dt>Errors</dt>
              <dd class={d.stats.errors > 0 ? 'warn' : ''}>{d.stats.errors.toLocaleString()}</dd>
            </div>
            <div>
              <dt>Latency</dt>
              <dd>{d.stats.polls > 0 ? `${d.stats.lastLatencyMs.toFixed(1)} ms` : '—'}</dd>
            </div>
          </dl>
          {d.health !== 'connected' && d.stats.lastError ? (
            <p class="error-text small ellipsis" title={d.stats.lastError.message}>
              {d.stats.lastError.code}: {d.stats.lastError.message}
            </p>
          ) : null}
        </article>
      ))}
      {props.devices.length === 0 ? <p class="muted">No devices configured.</p> : null}
    </section>
  );
}

function TagTable(props: { tags: TagInfo[]; values: Map<string, LiveRow>; selected?: string; onSelect: (k: string) => void; onWrite?: (t: TagInfo) => void; now: number; stale: boolean }) {
  const [filter, setFilter] = useState('');
  const shown = props.tags.filter((t) => filter === '' || t.key.toLowerCase().includes(filter.toLowerCase()) || (t.description ?? '').toLowerCase().includes(filter.toLowerCase()));
  return (
    <section class="panel tags">
      <header class="panel-head">
        <h2>Tags</h2>
        <input class="search" type="search" placeholder="Filter tags…" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} aria-label="Filter tags" />
      </header>
      <div class="scroll">
        <table class={props.stale ? 'stale' : ''}>
          <thead>
            <tr>
              <th>Tag</th>
              <th class="num">Value</th>
              <th>Quality</th>
              <th>Updated</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {shown.map((t) => {
              const live = props.values.get(t.key);
              const value = live ? live[1] : t.value;
              const quality = live ? live[2] : t.quality;
              const ts = live ? live[3] : t.timestamp;
              const err = live ? live[4] : t.error;
              return (
                <tr key={t.key} data-key={t.key} class={props.selected === t.key ? 'selected' : ''} onClick={() => props.onSelect(t.key)}>
                  <td>
                    <span class="muted">{t.device}.</span>
                    {t.tag}
                    <div class="muted small mono">{t.address}</div>
                  </td>
                  <td class="num value" data-testid="value" title={err ? `${err.code}: ${err.message}` : undefined}>
                    {quality === 'bad' ? '—' : formatValue(value)}
                    {t.unit ? <span class="unit"> {t.unit}</span> : null}
                  </td>
                  <td>
                    <span class={`badge q-${quality}`}>{quality}</span>
                  </td>
                  <td class="muted small">{ago(ts, props.now)}</td>
                  <td class="actions">
                    {t.writable && props.onWrite ? (
                      <button
                        type="button"
                        class="small"
                        data-testid="write"
                        onClick={(e) => {
                          e.stopPropagation();
                          props.onWrite?.({ ...t, value, quality });
                        }}
                      >
                        Write…
                      </button>
                    ) : t.writable ? (
                      <span class="muted small" title="Writes need the operator role">
                        read-only
                      </span>
                    ) : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function WriteDialog(props: { tag: TagInfo; onClose: () => void }) {
  const { tag } = props;
  const isBool = typeof tag.value === 'boolean';
  const [text, setText] = useState(isBool ? String(!tag.value) : formatValue(tag.value));
  const [step, setStep] = useState<'edit' | 'confirm' | 'busy' | 'done'>('edit');
  const [error, setError] = useState<string>();
  const [result, setResult] = useState<{ oldValue: unknown; newValue: unknown }>();
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    ref.current?.showModal();
  }, []);
  const parsed = (): unknown => {
    if (isBool) return text === 'true';
    if (typeof tag.value === 'number') return Number(text);
    return text;
  };
  const invalid = typeof tag.value === 'number' && (text.trim() === '' || !Number.isFinite(Number(text)));
  const send = async () => {
    setStep('busy');
    try {
      const r = await api<{ oldValue: unknown; newValue: unknown }>(`/api/tags/${encodeURIComponent(tag.device)}/${encodeURIComponent(tag.tag)}/write`, { method: 'POST', body: { value: parsed() } });
      setResult(r);
      setStep('done');
    } catch (e) {
      setError(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e));
      setStep('edit');
    }
  };
  return (
    <dialog ref={ref} class="panel dialog" onClose={props.onClose} aria-labelledby="write-title">
      <h2 id="write-title">
        Write {tag.device}.<strong>{tag.tag}</strong>
      </h2>
      <p class="muted small">
        {tag.address}
        {tag.min !== undefined || tag.max !== undefined ? ` · range ${tag.min ?? '−∞'} … ${tag.max ?? '∞'}` : ''}
        {tag.unit ? ` · ${tag.unit}` : ''}
      </p>
      <p>
        Current value: <strong class="mono">{formatValue(tag.value)}</strong>
      </p>
      {step === 'edit' ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (!invalid) setStep('confirm');
          }}
        >
          <label for="new-value">New value</label>
          {isBool ? (
            <select id="new-value" value={text} onChange={(e) => setText((e.target as HTMLSelectElement).value)}>
              <option value="true">true</option>
              <option value="false">false</option>
            </select>
          ) : (
            <input id="new-value" inputMode={typeof tag.value === 'number' ? 'decimal' : 'text'} value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
          )}
          {error ? (
            <p class="error-text" data-testid="write-error">
              {error}
            </p>
          ) : null}
          <div class="buttons">
            <button type="button" onClick={() => ref.current?.close()}>
              Cancel
            </button>
            <button type="submit" class="primary" disabled={invalid}>
              Review
            </button>
          </div>
        </form>
      ) : step === 'confirm' || step === 'busy' ? (
        <div>
          <p class="confirm">
            Change <strong>{tag.key}</strong> from <strong class="mono">{formatValue(tag.value)}</strong> to <strong class="mono">{formatValue(parsed())}</strong>
            {tag.unit ? ` ${tag.unit}` : ''}? This writes to the device and is recorded in the audit log.
          </p>
          <div class="buttons">
            <button type="button" onClick={() => setStep('edit')} disabled={step === 'busy'}>
              Back
            </button>
            <button type="button" class="danger" onClick={send} disabled={step === 'busy'}>
              {step === 'busy' ? 'Writing…' : 'Confirm write'}
            </button>
          </div>
        </div>
      ) : (
        <div>
          <p class="ok-text" data-testid="write-ok">
            Written: {formatValue(result?.oldValue)} → {formatValue(result?.newValue)}
          </p>
          <div class="buttons">
            <button type="button" class="primary" onClick={() => ref.current?.close()}>
              Close
            </button>
          </div>
        </div>
      )}
    </dialog>
  );
}

function Alarms(props: { alarms: Alarm[]; me: Me; onAck: (id: string) => void; now: number }) {
  return (
    <section class="panel alarms">
      <header class="panel-head">
        <h2>
          Alarms {props.alarms.filter((a) => a.state === 'active').length > 0 ? <span class="badge h-disconnected">{props.alarms.filter((a) => a.state === 'active').length} active</span> : null}
        </h2>
      </header>
      {props.alarms.length === 0 ? <p class="muted empty">No alarms.</p> : null}
      <ul>
        {props.alarms.map((a) => (
          <li key={a.id} class={`alarm ${a.state}${a.acknowledged ? ' acked' : ''}`}>
            <span class={`dot ${a.state === 'active' ? 'h-disconnected' : 'h-degraded'}`} />
            <div class="grow">
              <strong>{a.message}</strong>
              <div class="muted small">
                {a.source} · {a.state} · raised {ago(a.raisedAt, props.now)}
                {a.value !== undefined ? ` · ${formatValue(a.value)}` : ''}
                {a.acknowledged ? ` · acknowledged by ${a.acknowledgedBy ?? '?'}` : ''}
              </div>
            </div>
            {!a.acknowledged && canWrite(props.me) ? (
              <button type="button" class="small" onClick={() => props.onAck(a.id)}>
                Acknowledge
              </button>
            ) : null}
          </li>
        ))}
      </ul>
    </section>
  );
}

function Dashboard(props: { me: Me; onLogout: () => void; onUnauthorized: () => void }) {
  const { me } = props;
  const [devices, setDevices] = useState<DeviceInfo[]>([]);
  const [tags, setTags] = useState<TagInfo[]>([]);
  const [alarms, setAlarms] = useState<Alarm[]>([]);
  const [values, setValues] = useState(new Map<string, LiveRow>());
  const [stream, setStream] = useState<StreamState>('connecting');
  const [reachable, setReachable] = useState(true);
  const [lastContact, setLastContact] = useState(Date.now());
  const [selected, setSelected] = useState<string>();
  const [writing, setWriting] = useState<TagInfo>();
  const [now, setNow] = useState(Date.now());
  const trend = useRef<TrendHandle>();
  const selectedRef = useRef<string>();
  selectedRef.current = selected;

  const refresh = async () => {
    try {
      const [d, a] = await Promise.all([api<DeviceInfo[]>('/api/devices'), api<Alarm[]>('/api/alarms')]);
      setDevices(d);
      setAlarms(a);
      setReachable(true);
      setLastContact(Date.now());
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) props.onUnauthorized();
      else setReachable(false);
    }
  };

  useEffect(() => {
    void api<TagInfo[]>('/api/tags')
      .then((t) => {
        setTags(t);
        setSelected((s) => s ?? t.find((x) => typeof x.value === 'number')?.key ?? t[0]?.key);
      })
      .catch(() => setReachable(false));
    void refresh();
    const poll = setInterval(refresh, 2000);
    const tick = setInterval(() => setNow(Date.now()), 1000);
    const stop = openStream({
      onValues: (rows) => {
        setLastContact(Date.now());
        setValues((prev) => {
          const next = new Map(prev);
          for (const r of rows) {
            next.set(r[0], r);
            if (r[0] === selectedRef.current && typeof r[1] === 'number' && r[2] !== 'bad') trend.current?.push(r[3], r[1]);
            else if (r[0] === selectedRef.current && typeof r[1] === 'boolean') trend.current?.push(r[3], r[1] ? 1 : 0);
          }
          return next;
        });
      },
      onHealth: (device, state) => setDevices((ds) => ds.map((d) => (d.name === device ? { ...d, health: state } : d))),
      onAlarm: () => void refresh(),
      onState: setStream,
    });
    return () => {
      clearInterval(poll);
      clearInterval(tick);
      stop();
    };
  }, []);

  const selectedTag = useMemo(() => tags.find((t) => t.key === selected), [tags, selected]);
  const down = !reachable || stream === 'unreachable';
  const status = down ? 'unreachable' : stream === 'live' ? 'live' : 'connecting';
  const health = devices.length === 0 ? 'ok' : devices.every((d) => d.health === 'connected') ? 'ok' : devices.every((d) => d.health === 'disconnected') ? 'down' : 'degraded';

  return (
    <div class="app">
      <header class="top">
        <div class="brand">
          <Logo /> Bifrost <span class="muted">/ {me.gateway?.name ?? 'gateway'}</span>
        </div>
        <span class={`pill s-${status}`} data-testid="connection">
          <span class="dot" /> {status === 'live' ? 'Live' : status === 'connecting' ? 'Connecting…' : 'Unreachable'}
        </span>
        <span class={`pill g-${health}`}>Plant {health}</span>
        <div class="grow" />
        <span class="user">
          {me.name} <span class="badge role">{me.role}</span>
        </span>
        <button type="button" class="small" onClick={props.onLogout}>
          {auth.token ? 'Sign out' : 'Sign in'}
        </button>
      </header>
      {down ? (
        <div class="banner" role="alert" data-testid="unreachable">
          <strong>Gateway unreachable.</strong> Showing the last values received {ago(lastContact, now)}; reconnecting automatically…
        </div>
      ) : null}
      <main class={down ? 'grid stale' : 'grid'}>
        <Devices devices={devices} />
        <TagTable tags={tags} values={values} selected={selected} onSelect={setSelected} onWrite={canWrite(me) ? setWriting : undefined} now={now} stale={down} />
        <div class="side">
          {selectedTag ? (
            <Trend
              tag={selectedTag}
              register={(h) => {
                trend.current = h;
              }}
            />
          ) : (
            <section class="panel trend muted">Select a tag to see its trend.</section>
          )}
          <Alarms
            alarms={alarms}
            me={me}
            now={now}
            onAck={(id) =>
              void api(`/api/alarms/${encodeURIComponent(id)}/ack`, { method: 'POST' })
                .then(refresh)
                .catch(() => {})
            }
          />
        </div>
      </main>
      {writing ? <WriteDialog tag={writing} onClose={() => setWriting(undefined)} /> : null}
    </div>
  );
}

function App() {
  const [me, setMe] = useState<Me>();
  const [state, setState] = useState<'loading' | 'login' | 'ready' | 'unreachable'>('loading');
  const [reason, setReason] = useState<string>();
  const check = async () => {
    try {
      setMe(await api<Me>('/api/me'));
      setState('ready');
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        if (auth.token) setReason('Your token is no longer valid.');
        auth.token = null;
        setState('login');
      } else {
        setState('unreachable');
        setTimeout(check, 3000);
      }
    }
  };
  useEffect(() => {
    void check();
  }, []);
  if (state === 'loading') return <main class="login muted">Loading…</main>;
  if (state === 'unreachable')
    return (
      <main class="login">
        <div class="panel banner-box" role="alert" data-testid="unreachable">
          <div class="brand big">
            <Logo /> Bifrost
          </div>
          <p>
            <strong>The gateway is unreachable.</strong>
          </p>
          <p class="muted">Retrying every 3 seconds…</p>
        </div>
      </main>
    );
  if (state === 'login' || !me)
    return (
      <Login
        reason={reason}
        onLogin={() => {
          setReason(undefined);
          void check();
        }}
      />
    );
  return (
    <Dashboard
      me={me}
      onLogout={() => {
        auth.token = null;
        setMe(undefined);
        setState('login');
      }}
      onUnauthorized={() => {
        auth.token = null;
        setReason('Your token is no longer valid.');
        setState('login');
      }}
    />
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
