/**
 * @module
 * A server that cannot listen because its port is taken is the user's environment, not a bug:
 * one typed error, `BIFROST_ADDRESS_IN_USE`, that names the config field (or flag), the address
 * and what to do, for the metrics endpoint, the web server, the OPC UA server and the simulators.
 */
import { BifrostError } from './errors/index.js';

/** Where a server tried to listen, and which setting chose that. */
export interface ListenSite {
  /** What listens, for the message: `metrics endpoint`, `web server`, `modbus simulator`. */
  server: string;
  /** The config field or CLI flag that sets the port: `metrics.port`, `web.port`, `--port`. */
  field: string;
  host?: string;
  port: number;
}

/**
 * True when `err` (or one of its causes) says the address is in use (`EADDRINUSE`).
 * @example if (isAddressInUse(e)) throw addressInUseError(e, { server: 'web server', field: 'web.port', port })
 */
export function isAddressInUse(err: unknown): boolean {
  for (let x: unknown = err, depth = 0; x && depth < 8; x = (x as { cause?: unknown }).cause, depth++) {
    const code = (x as { code?: unknown }).code;
    if (code === 'EADDRINUSE' || code === 'BIFROST_ADDRESS_IN_USE') return true;
    if (/\bEADDRINUSE\b|address already in use/i.test(String((x as { message?: unknown }).message ?? ''))) return true;
  }
  return false;
}

/**
 * The `BIFROST_ADDRESS_IN_USE` error for a site: names the field, the address and what to do.
 * @example throw addressInUseError(err, { server: 'metrics endpoint', field: 'metrics.port', host: '127.0.0.1', port: 9464 })
 */
export function addressInUseError(cause: unknown, site: ListenSite): BifrostError {
  const host = site.host ?? '127.0.0.1';
  const address = host.includes(':') ? `[${host}]:${site.port}` : `${host}:${site.port}`;
  return new BifrostError('BIFROST_ADDRESS_IN_USE', `the ${site.server} cannot listen on ${address} (${site.field}): another process already uses that address`, {
    cause,
    details: { field: site.field, host, port: site.port },
    hint: `Stop the other process (ss -ltnp 'sport = :${site.port}' shows it, or another bifrost still running), or set ${site.field} to a free port.`,
  });
}

/**
 * Runs a listen call, turning an address-in-use failure into {@link addressInUseError}.
 * @example await listenAt(() => app.listen({ port, host }), { server: 'web server', field: 'web.port', host, port })
 */
export async function listenAt<T>(listen: () => Promise<T>, site: ListenSite): Promise<T> {
  try {
    return await listen();
  } catch (e) {
    if (isAddressInUse(e)) throw addressInUseError(e, site);
    throw e;
  }
}
