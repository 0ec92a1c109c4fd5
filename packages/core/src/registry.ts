/**
 * @module
 * `connect(url)`: finds the driver by URL scheme and loads its package only then, so a
 * Modbus-only process never loads node-opcua.
 */
import type { ConnectOptions, Device, Driver } from './driver.js';
import { BifrostError } from './errors/index.js';
import { checkUrlOptions, didYouMean, parseDeviceUrl } from './url.js';

/** Built-in schemes and the package that implements each. */
export const BUILTIN_SCHEMES: Readonly<Record<string, string>> = {
  modbus: '@bifrost/modbus',
  'modbus+tcp': '@bifrost/modbus',
  'modbus+rtu': '@bifrost/modbus',
  'modbus+rtuovertcp': '@bifrost/modbus',
  s7: '@bifrost/s7',
  eip: '@bifrost/ethernetip',
  'opc.tcp': '@bifrost/opcua',
};

// Names people type for a scheme (the OPC UA spec's own is opc.tcp, OPC 10000-6 §7.2).
const SCHEME_ALIASES: Readonly<Record<string, string>> = {
  opcua: 'opc.tcp',
  'opc-ua': 'opc.tcp',
  opc: 'opc.tcp',
  'opc.https': 'opc.tcp',
  'opcua.tcp': 'opc.tcp',
  modbustcp: 'modbus',
  'modbus-tcp': 'modbus',
  mbtcp: 'modbus',
  'modbus-rtu': 'modbus+rtu',
  modbusrtu: 'modbus+rtu',
  rtu: 'modbus+rtu',
  ethernetip: 'eip',
  'ethernet-ip': 'eip',
  enip: 'eip',
  cip: 'eip',
  logix: 'eip',
  s7comm: 's7',
  siemens: 's7',
  iso: 's7',
};

const registered = new Map<string, Driver>();

/**
 * Registers a driver for its schemes, overriding a built-in one.
 * @example registerDriver(myDriver)
 */
export function registerDriver(driver: Driver): void {
  for (const s of driver.schemes) registered.set(s.toLowerCase(), driver);
}

/** The package name that serves `scheme`, if any. */
export function packageForScheme(scheme: string): string | undefined {
  return BUILTIN_SCHEMES[scheme.toLowerCase().replace(/:$/, '')];
}

/**
 * Finds the driver for a URL's scheme, importing its package on first use.
 * @example const driver = await resolveDriver(new URL('s7://10.0.0.5?rack=0&slot=1'))
 */
export async function resolveDriver(url: URL): Promise<Driver> {
  const scheme = url.protocol.replace(/:$/, '').toLowerCase();
  const own = registered.get(scheme);
  if (own) return own;
  const pkg = BUILTIN_SCHEMES[scheme];
  if (!pkg) {
    const known = [...new Set([...Object.keys(BUILTIN_SCHEMES), ...registered.keys()])];
    const guess = SCHEME_ALIASES[scheme] ?? didYouMean(scheme, known);
    throw new BifrostError('BIFROST_UNKNOWN_SCHEME', `no driver for "${scheme}://"${guess ? `; did you mean ${guess}://?` : ''} (known schemes: ${known.join(', ')})`, {
      ...(guess ? { hint: `write ${guess}:// instead of ${scheme}://` } : {}),
    });
  }
  let mod: { driver?: Driver };
  try {
    mod = (await import(pkg)) as { driver?: Driver };
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new BifrostError('BIFROST_DRIVER_NOT_INSTALLED', `"${scheme}://" needs the package ${pkg}: run npm install ${pkg}`, { cause, hint: `npm install ${pkg}` });
    }
    throw cause;
  }
  if (!mod.driver) throw new BifrostError('BIFROST_DRIVER_NOT_INSTALLED', `${pkg} does not export a driver`);
  registerDriver(mod.driver);
  return mod.driver;
}

/**
 * Connects to a device by URL.
 * @example
 * await using plc = await connect('modbus://127.0.0.1:502?unit=1');
 * console.log((await plc.read('HR0')).value);
 */
export async function connect(url: string | URL, options: ConnectOptions = {}): Promise<Device> {
  const u = parseDeviceUrl(url);
  const driver = await resolveDriver(u);
  if (driver.urlOptions) checkUrlOptions(u, driver.urlOptions);
  return driver.connect(u, options);
}
