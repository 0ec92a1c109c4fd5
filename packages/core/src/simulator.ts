/**
 * @module
 * The contract every protocol simulator meets, so that `bifrost simulate <protocol>`, the demo
 * and the tests start any of them the same way.
 */
import type { ConnectionLimits } from './connections.js';

/** Options every simulator accepts; `maxConnections` and `idleTimeoutMs` bound what idle peers can hold. */
export interface SimulatorOptions extends ConnectionLimits {
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** TCP port (0 = any free port; each protocol has its own default for the CLI). */
  port?: number;
  /** A YAML file path, or the parsed config object, describing the simulated data. */
  config?: string | Record<string, unknown>;
  /** Seed for generated signals, so runs can repeat. */
  seed?: number;
}

/** A running simulator. */
export interface RunningSimulator extends AsyncDisposable {
  /** The URL a Bifrost client connects to, e.g. `modbus://127.0.0.1:5020?unit=1`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** A short description for the CLI (protocol, units/areas/tags served). */
  describe(): string;
  /** Stops listening and drops connections; idempotent. */
  close(): Promise<void>;
}

/** What a protocol package exports to be startable by `bifrost simulate`. */
export type StartSimulator = (options?: SimulatorOptions) => Promise<RunningSimulator>;
