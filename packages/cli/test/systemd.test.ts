/**
 * Running as a systemd service: the unit in deploy/systemd passes `systemd-analyze verify` without
 * a single warning, and `bifrost run` speaks the sd_notify protocol (sd_notify(3)) to the socket
 * in $NOTIFY_SOCKET: READY=1 once started, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on
 * SIGTERM. The socket here is a real AF_UNIX datagram socket bound by Debian's python3, standing
 * where systemd's would.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ensureBuilt, ROOT } from './helpers.js';

const children = new Set<ChildProcess>();
let dir: string;

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'bifrost-systemd-'));
});
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

function track<T extends ChildProcess>(c: T): T & { output: () => string } {
  let out = '';
  c.stdout?.on('data', (d) => (out += d));
  c.stderr?.on('data', (d) => (out += d));
  children.add(c);
  c.on('exit', () => children.delete(c));
  return Object.assign(c, { output: () => out });
}

const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

describe('systemd', () => {
  it('the unit passes systemd-analyze verify without warnings', async () => {
    // verify checks that ExecStart's program exists: point it at this checkout's launcher.
    const unit = readFileSync(join(ROOT, 'deploy/systemd/bifrost.service'), 'utf8').replaceAll('/usr/local/bin/bifrost', join(ROOT, 'packages/cli/bin/bifrost.js'));
    const file = join(dir, 'bifrost.service');
    writeFileSync(file, unit);
    const r = await promisify(execFile)('systemd-analyze', ['verify', file]).catch((e: { stdout: string; stderr: string; code: number }) => e);
    expect(r.stderr).toBe('');
    expect((r as { code?: number }).code ?? 0).toBe(0);
    expect(unit).toMatch(/^Type=notify$/m);
    expect(unit).toMatch(/^ExecStartPre=.* --check$/m);
    expect(unit).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  });

  it('bifrost run sends READY=1, RELOADING=1/READY=1 on SIGHUP and STOPPING=1 on SIGTERM', async () => {
    const socket = join(dir, 'notify.sock');
    const receiver = track(
      spawn(
        '/usr/bin/python3',
        [
          '-u',
          '-c',
          // One line per datagram, its assignments separated by "|" (BARRIER=1 ones included).
          'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("bound",flush=True)\nwhile True:\n  print(s.recv(65536).decode().strip().replace("\\n","|"),flush=True)',
          socket,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
    await waitFor(() => receiver.output().includes('bound'), 10_000);
    const messages = () =>
      receiver
        .output()
        .split('\n')
        .filter((l) => l !== 'bound' && l !== 'BARRIER=1' && l !== '');
    const port = await freePort();
    const config = join(dir, 'gateway.yaml');
    // The device is never reachable (connections are lazy): readiness does not wait for a PLC.
    writeFileSync(config, `devices:\n  - name: plc\n    url: modbus://127.0.0.1:1?unit=1\n    tags: [{ name: t, address: HR0 }]\nmetrics: { port: ${port} }\n`);
    const gw = track(spawn(process.execPath, [BIN, 'run', config], { env: { ...process.env, NOTIFY_SOCKET: socket, BIFROST_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] }));
    await waitFor(() => messages().some((m) => m.startsWith('READY=1')), 20_000);
    const ready = messages()[0] as string;
    expect(ready).toMatch(/^READY=1\|STATUS=running: 1 device\(s\), 0 sink\(s\), http port \d+\|MAINPID=\d+$/);
    expect(ready).toContain(`MAINPID=${gw.pid}`);
    // Ready means serving: the metrics endpoint answers.
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBeLessThan(600);

    gw.kill('SIGHUP');
    await waitFor(() => messages().length >= 3, 10_000);
    expect(messages().slice(1, 3)).toEqual(['RELOADING=1|STATUS=reloading the config', 'READY=1|STATUS=running (config reloaded)']);
    expect(gw.output()).toContain('config reloaded');

    gw.kill('SIGTERM');
    expect(await exited(gw)).toBe(0);
    await waitFor(() => messages().length >= 4, 5000);
    expect(messages()[3]).toBe('STOPPING=1|STATUS=stopping');
    receiver.kill();
  });
});
