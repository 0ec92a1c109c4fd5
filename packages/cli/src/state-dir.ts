/**
 * @module
 * Where the CLI keeps its own state (the audit log of `bifrost write`, the OPC UA client's
 * certificates): one per-user folder, never the folder the user happens to stand in.
 * `--data-dir`, then `BIFROST_DATA_DIR`, then `$XDG_STATE_HOME/bifrost` (XDG Base Directory
 * Specification 0.8: state data, relative values are ignored), then `~/.local/state/bifrost`.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fs } from './node-fs.js';

/** One line for `--help`. */
export const STATE_DIR_HELP = 'State (audit log, OPC UA certificates): $XDG_STATE_HOME/bifrost, else ~/.local/state/bifrost (mode 0700); --data-dir <dir> or BIFROST_DATA_DIR=<dir> to change';

/**
 * The state folder for these flags and environment (not created).
 * @example stateDirPath(undefined, { HOME: '/home/ana' }) // '/home/ana/.local/state/bifrost'
 */
export function stateDirPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flag) return resolve(flag);
  if (env.BIFROST_DATA_DIR) return resolve(env.BIFROST_DATA_DIR);
  const xdg = env.XDG_STATE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'bifrost');
  return join(env.HOME || homedir(), '.local', 'state', 'bifrost');
}

/**
 * Creates the state folder (mode 0700: the audit log and private keys are the user's alone) and returns it.
 * @example const dir = ensureStateDir('/home/ana/.local/state/bifrost')
 */
export function ensureStateDir(dir: string): string {
  const created = fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is masked by the umask; the folder we created is set exactly
  if (created !== undefined) fs.chmodSync(dir, 0o700);
  return dir;
}

/**
 * Extra connect options for a device URL: an opc.tcp:// client keeps its certificates in
 * `<state>/pki` (the library's default, ./data/pki, is relative to the working folder).
 * @example await connect(url, { ...deviceStateOptions(url, ctx.stateDir), signal })
 */
export function deviceStateOptions(url: string, stateDir: () => string): { pkiDir?: string } {
  return /^opc\.tcp:/i.test(url) && !/[?&]pki=/.test(url) ? { pkiDir: join(stateDir(), 'pki') } : {};
}
