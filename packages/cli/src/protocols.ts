/**
 * @module
 * Protocol names the CLI accepts, the package behind each, and lazy loading of a package with
 * an error that names what to install.
 */

/** Protocol name → package. */
export const PROTOCOL_PACKAGES = {
  modbus: '@bifrost/modbus',
  s7: '@bifrost/s7',
  eip: '@bifrost/ethernetip',
  opcua: '@bifrost/opcua',
} as const;

/** A protocol name the CLI knows. */
export type ProtocolName = keyof typeof PROTOCOL_PACKAGES;

/** The protocol names, for help text and completion. */
export const PROTOCOLS = Object.keys(PROTOCOL_PACKAGES) as ProtocolName[];

/**
 * Imports a protocol package, or throws BIFROST_DRIVER_NOT_INSTALLED naming it.
 * @example const modbus = await loadPackage<{ startSimulator: StartSimulator }>('@bifrost/modbus')
 */
export async function loadPackage<T>(pkg: string): Promise<T> {
  try {
    return (await import(pkg)) as T;
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      const { BifrostError } = await import('@bifrost/core');
      throw new BifrostError('BIFROST_DRIVER_NOT_INSTALLED', `this command needs the package ${pkg}, which is not installed`, { cause, hint: `npm install ${pkg}` });
    }
    throw cause;
  }
}

/**
 * Checks a protocol name, throwing BIFROST_CLI_USAGE for an unknown one.
 * @example const pkg = packageFor('modbus') // '@bifrost/modbus'
 */
export async function packageFor(protocol: string): Promise<string> {
  const pkg = (PROTOCOL_PACKAGES as Record<string, string>)[protocol];
  if (pkg) return pkg;
  const { BifrostError } = await import('@bifrost/core');
  throw new BifrostError('BIFROST_CLI_USAGE', `unknown protocol "${protocol}"; expected one of ${PROTOCOLS.join(', ')}`);
}
