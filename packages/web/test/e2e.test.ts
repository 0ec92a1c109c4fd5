/**
 * End to end in Debian's Chromium (playwright-core): the built dashboard served by the web server
 * of a real Gateway polling the real Modbus simulator. Values change live, a trend renders with
 * history, an operator writes a setpoint through the confirmation dialog and the simulator holds
 * it, a viewer is refused, and the page says so when the gateway goes away. Screenshots go to
 * test-artifacts/web/.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, parseGatewayConfig, type RunningSimulator } from '@bifrost/core';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import { Gateway } from '@bifrost/gateway';
import { startSimulator } from '@bifrost/modbus';
import { createToken, startWebServer } from '@bifrost/web';
import { type Browser, chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/web/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bifrost-web-e2e-'));
const operator = createToken({ name: 'olivia', role: 'operator' });
const viewer = createToken({ name: 'victor', role: 'viewer' });
let sim: RunningSimulator;
let gw: Gateway;
let web: Awaited<ReturnType<typeof startWebServer>>;
let chrome: Browser | undefined;

async function browser(colorScheme: 'light' | 'dark' = 'light'): Promise<Page> {
  // One Chromium for the file (launching is the slow part); each role gets its own context, with
  // its own storage, as a separate browser profile would.
  chrome ??= await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  const ctx = await chrome.newContext({ viewport: { width: 1440, height: 900 }, colorScheme });
  const page = await ctx.newPage();
  // Nothing may load from the internet: fail the test on any request that is not to the gateway.
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (!['127.0.0.1', 'localhost'].includes(u.hostname) && u.protocol !== 'data:') throw new Error(`request to ${r.url()}`);
  });
  return page;
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(web.url);
  await page.fill('#token', token);
  await page.click('button[type=submit]');
  await page.waitForSelector('tr[data-key="press1.parts"]');
}

const cellText = (page: Page, key: string) => page.textContent(`tr[data-key="${key}"] [data-testid=value]`);

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  sim = await startSimulator({ port: 0 });
  const dead = await freePort();
  const { config, source } = parseGatewayConfig(
    `
gateway: { name: line-1 }
devices:
  - name: press1
    url: ${sim.url}
    pollMs: 100
    tags:
      - { name: temperature, address: "HR0:FLOAT32", unit: degC, description: melt temperature }
      - { name: pressure, address: "HR2:FLOAT32", unit: bar }
      - { name: parts, address: "HR4:UINT16", description: parts produced }
      - { name: ramp, address: "HR5:UINT16" }
      - { name: setpoint, address: "HR10:FLOAT32", writable: true, min: 0, max: 120, unit: degC }
      - { name: motor, address: C0, writable: true }
  - name: press2
    url: modbus://127.0.0.1:${dead}?unit=1&timeout=200
    pollMs: 500
    tags: [{ name: temperature, address: "HR0:FLOAT32", unit: degC }]
pipelines:
  - name: temp-high
    from: [press1.temperature]
    steps:
      - alarm: { above: 61, hysteresis: 0.5, message: melt temperature high }
audit: { file: ${join(dir, 'audit.jsonl')} }
`,
    'gw.yaml',
  );
  gw = new Gateway(config, { source, baseDir: dir });
  await gw.start();
  // Build the dashboard from the current sources, so the test never runs a stale bundle.
  const uiDir = join(dir, 'ui');
  await build({ configFile: fileURLToPath(new URL('../ui/vite.config.ts', import.meta.url)), logLevel: 'warn', build: { outDir: uiDir, emptyOutDir: true } });
  web = await startWebServer(gw, { port: 0, host: '127.0.0.1', tokens: [operator.entry, viewer.entry], uiDir });
  // A few seconds of history for the trend.
  await waitFor(() => (gw.store?.query('press1.temperature', { from: 0, to: Date.now() }).t.length ?? 0) >= 30, 15_000);
}, 90_000);

afterAll(async () => {
  await chrome?.close().catch(() => {});
  await web?.close();
  await gw?.stop();
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('serves the built page uncached and its hashed assets cached, and the page for any app path', async () => {
  const base = `http://127.0.0.1:${web.port}`;
  const page = await fetch(`${base}/`);
  expect(page.headers.get('cache-control')).toBe('no-cache');
  const html = await page.text();
  const asset = /src="\.(\/assets\/[^"]+\.js)"/.exec(html)?.[1] as string;
  const res = await fetch(`${base}${asset}`);
  expect(res.headers.get('content-type')).toMatch(/javascript/);
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('public, max-age=3600');
  const deep = await fetch(`${base}/devices/press1`);
  expect(deep.headers.get('cache-control')).toBe('no-cache');
  expect(await deep.text()).toBe(html);
  expect((await fetch(`${base}/assets/missing.js`)).status).toBe(404);
});

describe.skipIf(!existsSync(CHROMIUM))('dashboard in Chromium', { timeout: 60_000 }, () => {
  let page: Page;

  it('signs in with an operator token and shows values changing live', async () => {
    page = await browser('light');
    await signIn(page, operator.token);
    expect(await page.textContent('[data-testid=connection]')).toContain('Live');
    await page.waitForFunction(() => document.querySelector('tr[data-key="press1.parts"] [data-testid=value]')?.textContent !== '—');
    const first = await cellText(page, 'press1.parts');
    // The simulator's HR4 counts one per second; the page must show the new value without a reload.
    await page.waitForFunction((v) => document.querySelector('tr[data-key="press1.parts"] [data-testid=value]')?.textContent !== v, first, { timeout: 5000 });
    expect(Number(await cellText(page, 'press1.parts'))).toBeGreaterThan(Number(first));
    expect(await page.textContent('[data-device="press1"] [data-testid=health]')).toBe('connected');
    await page.waitForFunction(() => document.querySelector('[data-device="press2"] [data-testid=health]')?.textContent === 'disconnected', undefined, { timeout: 10_000 });
  });

  it('draws the trend of a tag from history, then keeps adding live points', async () => {
    await page.click('tr[data-key="press1.temperature"]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=trend]')?.getAttribute('data-points')) >= 30, undefined, { timeout: 10_000 });
    const n = Number(await page.getAttribute('[data-testid=trend]', 'data-points'));
    expect(await page.locator('[data-testid=trend] canvas').count()).toBe(1);
    await page.waitForFunction((k) => Number(document.querySelector('[data-testid=trend]')?.getAttribute('data-points')) > k, n, { timeout: 5000 });
    // The alarm on temperature > 61 °C is raised by the pipeline and listed with its acknowledge button.
    await page.waitForSelector('.alarm', { timeout: 15_000 });
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(ARTIFACTS, 'operator-dashboard.png'), fullPage: true });
  });

  it('zooms the trend by dragging, and returns to live', async () => {
    const box = await page.locator('[data-testid=trend] .u-over').boundingBox();
    if (!box) throw new Error('no plot area');
    await page.mouse.move(box.x + box.width * 0.85, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.98, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.waitForSelector('.trend button:has-text("Live")');
    await page.screenshot({ path: join(ARTIFACTS, 'trend-zoomed.png') });
    await page.click('.trend button:has-text("Live")');
    await page.waitForSelector('.trend button:has-text("Live")', { state: 'detached' });
  });

  it('an operator acknowledges the alarm', async () => {
    await page.click('.alarm button:has-text("Acknowledge")');
    await page.waitForSelector('.alarm:has-text("acknowledged by olivia")', { timeout: 5000 });
    expect(gw.alarms().some((a) => a.acknowledged && a.acknowledgedBy === 'olivia')).toBe(true);
  });

  it('an operator writes a setpoint through the confirmation dialog and the simulator holds it', async () => {
    await page.click('tr[data-key="press1.setpoint"] [data-testid=write]');
    await page.fill('#new-value', '75.5');
    await page.click('dialog button[type=submit]');
    await page.waitForSelector('dialog .confirm');
    expect(await page.textContent('dialog .confirm')).toContain('75.5');
    await page.screenshot({ path: join(ARTIFACTS, 'write-confirm.png') });
    await page.click('dialog button.danger');
    await page.waitForSelector('[data-testid=write-ok]');
    await using plc = await connect(sim.url);
    expect((await plc.read('HR10:FLOAT32')).value).toBe(75.5);
    await page.click('dialog button.primary');
    await page.waitForFunction(() => document.querySelector('tr[data-key="press1.setpoint"] [data-testid=value]')?.textContent?.startsWith('75.5'), undefined, { timeout: 5000 });
  });

  it('shows the error of a refused write (out of range) and nothing reaches the PLC', async () => {
    await page.click('tr[data-key="press1.setpoint"] [data-testid=write]');
    await page.fill('#new-value', '500');
    await page.click('dialog button[type=submit]');
    await page.click('dialog button.danger');
    await page.waitForSelector('[data-testid=write-error]');
    expect(await page.textContent('[data-testid=write-error]')).toContain('BIFROST_VALUE_OUT_OF_RANGE');
    await page.screenshot({ path: join(ARTIFACTS, 'write-refused.png') });
    await page.click('dialog button[type=button]');
    await using plc = await connect(sim.url);
    expect((await plc.read('HR10:FLOAT32')).value).toBe(75.5);
  });

  it('a viewer sees no write action, and a write sent anyway is refused with 403', async () => {
    const v = await browser('dark');
    await signIn(v, viewer.token);
    expect(await v.locator('[data-testid=write]').count()).toBe(0);
    expect(await v.textContent('tr[data-key="press1.setpoint"] td.actions')).toContain('read-only');
    const res = await v.evaluate(async (token) => {
      const r = await fetch('/api/tags/press1/setpoint/write', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"value": 10}' });
      return { status: r.status, body: await r.json() };
    }, viewer.token);
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('BIFROST_WEB_FORBIDDEN');
    await using plc = await connect(sim.url);
    expect((await plc.read('HR10:FLOAT32')).value).toBe(75.5);
    await v.click('tr[data-key="press1.pressure"]');
    await v.waitForFunction(() => Number(document.querySelector('[data-testid=trend]')?.getAttribute('data-points')) >= 10, undefined, { timeout: 10_000 });
    await v.waitForTimeout(300);
    await v.screenshot({ path: join(ARTIFACTS, 'viewer-dark.png'), fullPage: true });
  });

  it('a wrong token is refused at sign-in', async () => {
    const p = await browser('light');
    await p.goto(web.url);
    await p.fill('#token', 'bft_wrong');
    await p.click('button[type=submit]');
    await p.waitForSelector('.error-text');
    expect(await p.textContent('.error-text')).toContain('not valid');
    await p.screenshot({ path: join(ARTIFACTS, 'login-refused.png') });
  });

  it('says clearly when the gateway is unreachable', async () => {
    await web.close();
    await page.waitForSelector('[data-testid=unreachable]', { timeout: 10_000 });
    expect(await page.textContent('[data-testid=connection]')).toContain('Unreachable');
    await page.screenshot({ path: join(ARTIFACTS, 'unreachable.png'), fullPage: true });
  });
});
