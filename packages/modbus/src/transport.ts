/**
 * @module
 * Transports: a TCP socket or a serial port, opened with a timeout and an abort signal. The
 * serial port uses the optional `serialport` package, loaded only when an RTU URL needs it.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BifrostError, connectError } from '@bifrost/core';

/** Serial line settings (Modbus over Serial Line V1.02 §2.5.1: 8 data bits; even parity is the default). */
export interface SerialOptions {
  path: string;
  baudRate?: number;
  parity?: 'none' | 'even' | 'odd';
  /** Default: 1 with parity, 2 without (§2.5.1 "1 stop bit if parity is used, 2 bits if no parity"). */
  stopBits?: 1 | 2;
  dataBits?: 7 | 8;
}

/**
 * Opens a TCP connection with Nagle off (Modbus requests are small and latency-bound).
 * @example const socket = await openTcp('127.0.0.1', 502, signal)
 */
export function openTcp(host: string, port: number, signal?: AbortSignal, device = `${host}:${port}`): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new BifrostError('BIFROST_ABORTED', `connect to ${device} aborted`, { device, cause: signal.reason }));
      return;
    }
    const socket = netConnect({ host, port, noDelay: true });
    const onAbort = () => {
      socket.destroy();
      reject(signal?.reason instanceof BifrostError ? signal.reason : new BifrostError('BIFROST_ABORTED', `connect to ${device} aborted`, { device, cause: signal?.reason }));
    };
    const onError = (err: Error) => {
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(connectError(err, { device }));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      resolve(socket);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

interface SerialPortCtor {
  new (options: {
    path: string;
    baudRate: number;
    parity: string;
    stopBits: number;
    dataBits: number;
    autoOpen: boolean;
  }): Duplex & {
    open(cb: (err: Error | null) => void): void;
    close(cb?: (err: Error | null) => void): void;
    isOpen: boolean;
  };
}

let serialPortCtor: Promise<SerialPortCtor> | undefined;

/**
 * Loads `serialport` lazily, with an error that names the package when it is missing.
 * @example const SerialPort = await loadSerialPort() // throws BIFROST_DRIVER_NOT_INSTALLED without serialport
 */
export function loadSerialPort(): Promise<SerialPortCtor> {
  serialPortCtor ??= import('serialport').then(
    (m) => (m as unknown as { SerialPort: SerialPortCtor }).SerialPort,
    (cause: unknown) => {
      serialPortCtor = undefined;
      throw new BifrostError('BIFROST_DRIVER_NOT_INSTALLED', 'Modbus RTU over a serial port needs the optional package serialport: run npm install serialport', {
        cause,
        hint: 'npm install serialport',
      });
    },
  );
  return serialPortCtor;
}

/** An open serial port. */
export type SerialStream = Duplex & { close(cb?: (err: Error | null) => void): void; isOpen: boolean };

/**
 * Opens a serial port.
 * @example const port = await openSerial({ path: '/dev/ttyUSB0', baudRate: 19200, parity: 'even' })
 */
export async function openSerial(options: SerialOptions, signal?: AbortSignal): Promise<SerialStream> {
  const SerialPort = await loadSerialPort();
  const parity = options.parity ?? 'even';
  const port = new SerialPort({
    path: options.path,
    baudRate: options.baudRate ?? 19200,
    parity,
    stopBits: options.stopBits ?? (parity === 'none' ? 2 : 1),
    dataBits: options.dataBits ?? 8,
    autoOpen: false,
  });
  await new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      if (port.isOpen) port.close();
      reject(new BifrostError('BIFROST_ABORTED', `opening ${options.path} aborted`, { device: options.path }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    port.open((err) => {
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(new BifrostError('BIFROST_CONNECTION_REFUSED', `cannot open serial port ${options.path}: ${err.message}`, { device: options.path, cause: err }));
      else resolve();
    });
  });
  return port;
}
