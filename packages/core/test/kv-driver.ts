/**
 * A minimal real TCP protocol ("GET k" / "SET k v" lines) used to test BaseDevice and the driver
 * conformance suite itself, so that every protocol package can trust them.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { BaseDevice, BifrostError, bad, type ConnectOptions, coerceValue, type DeviceIdentity, type Driver, decodeValue, good, openDevice, type TagValue, type Value } from '@bifrost/core';

export function startKvServer(port = 0): Promise<{ port: number; data: Map<string, string>; server: Server; sockets: Set<Socket> }> {
  const data = new Map<string, string>([
    ['a', '1'],
    ['flag', 'true'],
    ['name', 'kv'],
    ['big', '123456789012'],
    ['x', '0'],
  ]);
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const [cmd, key, ...rest] = line.split(' ');
        if (cmd === 'GET') s.write(data.has(key as string) ? `OK ${data.get(key as string)}\n` : 'ERR unknown key\n');
        else if (cmd === 'SET') {
          data.set(key as string, rest.join(' '));
          s.write('OK\n');
        } else if (cmd === 'ID') s.write('OK kv-sim 1.0\n');
        else s.write('ERR bad command\n');
      }
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({ port: (server.address() as { port: number }).port, data, server, sockets })));
}

const TYPES: Record<string, 'DINT' | 'BOOL' | 'STRING' | 'LINT' | 'REAL'> = { i: 'DINT', b: 'BOOL', s: 'STRING', l: 'LINT', r: 'REAL' };

function parseKvAddress(address: string): { key: string; type: 'DINT' | 'BOOL' | 'STRING' | 'LINT' | 'REAL' } {
  const m = /^([a-z]+):([ibslr])$/.exec(address);
  if (!m) throw new BifrostError('BIFROST_INVALID_ADDRESS', `"${address}" is not a kv address (key:i|b|s|l|r)`, { address });
  return { key: m[1] as string, type: TYPES[m[2] as string] as 'DINT' };
}

class KvDevice extends BaseDevice {
  readonly protocol = 'kv';
  #socket: Socket | undefined;
  #pending: Array<(line: string) => void> = [];
  #port: number;

  constructor(url: URL, options: ConnectOptions) {
    super(url, options);
    this.#port = Number(url.port);
  }

  protected doConnect(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ port: this.#port, host: '127.0.0.1' });
      const onAbort = () => s.destroy();
      signal.addEventListener('abort', onAbort, { once: true });
      s.once('connect', () => {
        this.#socket = s;
        let buf = '';
        s.on('data', (d) => {
          buf += d.toString();
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            this.#pending.shift()?.(line);
          }
        });
        s.on('close', () => {
          const waiting = this.#pending.splice(0);
          for (const w of waiting) w('ERR connection lost');
          this.connectionLost();
        });
        resolve();
      });
      s.once('error', reject);
    });
  }

  protected async doDisconnect(): Promise<void> {
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  #request(line: string): Promise<string> {
    const s = this.#socket;
    if (!s) return Promise.reject(new BifrostError('BIFROST_NOT_CONNECTED', 'not connected'));
    return new Promise((resolve, reject) => {
      this.#pending.push((r) => (r.startsWith('OK') ? resolve(r.slice(3)) : reject(new BifrostError(r.includes('lost') ? 'BIFROST_CONNECTION_LOST' : 'BIFROST_INVALID_ADDRESS', r.slice(4)))));
      s.write(`${line}\n`);
    });
  }

  protected async doReadMany(addresses: readonly string[]): Promise<TagValue[]> {
    return Promise.all(
      addresses.map(async (a) => {
        try {
          const { key, type } = parseKvAddress(a);
          const raw = await this.#request(`GET ${key}`);
          return good(a, coerceValue(type, raw) as Value);
        } catch (e) {
          return bad(a, e);
        }
      }),
    );
  }

  protected async doWrite(address: string, value: Value): Promise<void> {
    const { key, type } = parseKvAddress(address);
    await this.#request(`SET ${key} ${String(coerceValue(type, value))}`);
  }

  protected async doIdentify(): Promise<DeviceIdentity> {
    const [product, firmware] = (await this.#request('ID')).split(' ');
    return { protocol: 'kv', product, firmware };
  }
}

export const kvDriver: Driver = {
  name: 'kv',
  schemes: ['kv'],
  async connect(url, options = {}) {
    return openDevice(new KvDevice(url, options), options);
  },
};

// decodeValue is re-exported to prove the public surface suffices for a driver.
export { decodeValue };
