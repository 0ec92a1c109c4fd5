/**
 * @module
 * Loads node-opcua on first use. node-opcua is heavy (over 100 MB resident, about a second to
 * load), so nothing in this package imports it at module load: the driver, the server, the
 * simulator and `pkiInit` call {@link loadNodeOpcua} inside their async functions, and a
 * Modbus-only process never pays for it. `import type` of node-opcua is erased at compile time.
 */
import { BifrostError, channel } from '@bifrost/core';
import { hardenNodeOpcua } from './harden.js';

/** The node-opcua module namespace. */
export type NodeOpcua = typeof import('node-opcua');

let loading: Promise<NodeOpcua> | undefined;

/**
 * node-opcua's own warnings and errors (`{ level, context, message }`). Libraries do not print
 * (STYLE.md §8), so node-opcua's loggers are routed here instead of to the console.
 * @example diagnostics.subscribe('bifrost:opcua:log', (m) => logger.warn(m))
 */
export const logChannel = channel('opcua', 'log');

function route(level: 'warning' | 'error' | 'debug' | 'trace'): (context: unknown, ...args: unknown[]) => void {
  return (context, ...args) => {
    if (logChannel.hasSubscribers) logChannel.publish({ level, context, message: args.map(String).join(' ') });
  };
}

/**
 * Imports node-opcua once; a missing install gives BIFROST_DRIVER_NOT_INSTALLED naming the package.
 * @example const ua = await loadNodeOpcua(); const client = ua.OPCUAClient.create({});
 */
export function loadNodeOpcua(): Promise<NodeOpcua> {
  loading ??= import('node-opcua').then(
    (m) => {
      const ua = m as NodeOpcua;
      // Set before node-opcua's first asynchronous self-check (NODE-OPCUA-W27) reports.
      ua.setWarningLogger(route('warning'));
      ua.setErrorLogger(route('error'));
      ua.setDebugLogger(route('debug'));
      // Before any socket exists: a few hostile bytes must close one socket, never the process.
      hardenNodeOpcua();
      return ua;
    },
    (cause: unknown) => {
      loading = undefined;
      const code = (cause as NodeJS.ErrnoException).code;
      if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
        throw new BifrostError('BIFROST_DRIVER_NOT_INSTALLED', 'OPC UA needs the package node-opcua@2.182.0: run npm install node-opcua@2.182.0', {
          cause,
          hint: 'npm install node-opcua@2.182.0',
        });
      }
      throw cause;
    },
  );
  return loading;
}
