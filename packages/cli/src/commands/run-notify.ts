/**
 * @module
 * systemd's readiness protocol (sd_notify(3)) for `bifrost run` under a `Type=notify` unit:
 * `READY=1` once devices, sinks and servers have started, `RELOADING=1` … `READY=1` around a
 * SIGHUP reload, `STOPPING=1` when a stop begins, `STATUS=` lines for `systemctl status`.
 *
 * The protocol is one datagram on the AF_UNIX socket named by `$NOTIFY_SOCKET`. Node cannot send
 * datagrams on a unix socket (its `dgram` module is UDP only), and a native addon is not worth it
 * for four messages in a process's life, so the messages go through `systemd-notify`, which ships
 * in the same Debian package as systemd itself (on any host where `$NOTIFY_SOCKET` is set, it is
 * there). It also sends `BARRIER=1` and waits for the service manager to have read the message
 * (Debian 12's systemd 252 does), which closes the race of a short-lived sender (the unit still sets
 * `NotifyAccess=all`, as the message comes from a child process, not the main PID).
 * Without `$NOTIFY_SOCKET` (a terminal, Docker) nothing is sent.
 */
import { spawn } from 'node:child_process';

/** Sends sd_notify messages; a no-op without `$NOTIFY_SOCKET`. */
export interface Notifier {
  /** True when `$NOTIFY_SOCKET` is set. */
  readonly active: boolean;
  /** Sends `KEY=value` assignments in one message; resolves when systemd-notify has exited. Never rejects. */
  notify(...assignments: string[]): Promise<void>;
}

/**
 * A notifier for the environment `env`; `onError` hears a failure to send (once per failure).
 * @example const sd = createNotifier(process.env, (m) => log.warn(m)); await sd.notify('READY=1', 'STATUS=polling 3 devices');
 */
export function createNotifier(env: NodeJS.ProcessEnv, onError: (message: string) => void = () => {}): Notifier {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return { active: false, notify: async () => {} };
  let missing = false;
  return {
    active: true,
    notify: (...assignments) =>
      new Promise<void>((resolve) => {
        if (missing) return resolve();
        const child = spawn('systemd-notify', assignments, { stdio: ['ignore', 'ignore', 'pipe'], env });
        let err = '';
        let settled = false;
        child.stderr.on('data', (b: Buffer) => {
          err += b.toString('utf8');
        });
        child.on('error', (e: NodeJS.ErrnoException) => {
          if (settled) return;
          settled = true;
          if (e.code === 'ENOENT') missing = true;
          onError(`cannot run systemd-notify (${e.code ?? e.message}): systemd will not see ${assignments[0]}; install the systemd package or use Type=simple`);
          resolve();
        });
        child.on('close', (code) => {
          if (settled) return;
          settled = true;
          if (code !== 0 && code !== null) onError(`systemd-notify ${assignments[0]} exited with code ${code}${err ? `: ${err.trim().split('\n')[0]}` : ''}`);
          resolve();
        });
      }),
  };
}
