/**
 * @module
 * A small MQTT broker inside the process (aedes, MQTT 3.1.1 and 5) for the demo and for tests that
 * need to see what a client sends at connect time. Not a production broker: no persistence
 * across restarts. aedes is loaded only when a broker is started.
 */
import { createServer as createNetServer, type Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { BifrostError } from '@bifrost/core';

/** Options of {@link startEmbeddedBroker}. */
export interface EmbeddedBrokerOptions {
  /** TCP port (0, the default, picks a free one). */
  port?: number;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** Serve MQTT over TLS with this server certificate and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer; requestCert?: boolean };
  /** Accept or refuse a connection by its credentials (default: accept all). */
  authenticate?: (clientId: string, username: string | undefined, password: Buffer | undefined) => boolean;
}

/** A running embedded broker. */
export interface EmbeddedBroker extends AsyncDisposable {
  /** `mqtt://host:port` or `mqtts://host:port`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Stops listening, disconnects clients; idempotent. */
  close(): Promise<void>;
}

/**
 * Starts an aedes broker on `host:port`.
 * @example
 * const broker = await startEmbeddedBroker({ port: 1883 });
 * const sink = new MqttSink({ url: broker.url, queue: { dir: './data/q' } });
 * await broker.close();
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  let Aedes: typeof import('aedes').Aedes;
  try {
    ({ Aedes } = await import('aedes'));
  } catch (cause) {
    throw new BifrostError('BIFROST_DRIVER_NOT_INSTALLED', 'the embedded MQTT broker needs the aedes package: npm install aedes', { cause });
  }
  const broker = await Aedes.createBroker();
  const auth = options.authenticate;
  if (auth) {
    broker.authenticate = (client, username, password, done) => {
      if (auth(client.id, username, password)) done(null, true);
      else done(Object.assign(new Error('bad username or password'), { returnCode: 4 as const }), false);
    };
  }
  const server: Server = options.tls
    ? createTlsServer({ cert: options.tls.cert, key: options.tls.key, ...(options.tls.ca ? { ca: options.tls.ca } : {}), requestCert: options.tls.requestCert ?? false }, (s) => broker.handle(s))
    : createNetServer((s) => broker.handle(s));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new BifrostError('BIFROST_INVALID_ARGUMENT', `embedded broker cannot listen on ${host}:${options.port ?? 0}: ${e.message}`, { cause: e })));
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (options.port ?? 0);
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      broker.close(() => server.close(() => resolve()));
    });
    return closing;
  };
  return { url: `${options.tls ? 'mqtts' : 'mqtt'}://${host}:${port}`, host, port, close, [Symbol.asyncDispose]: close };
}
