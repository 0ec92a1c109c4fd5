/**
 * @module
 * The gateway config API as `@bifrost/core` exports it: thin wrappers that load `config.js`
 * (and with it zod and yaml, ~400 ms of a cold start on a small machine) on first use, so a
 * program that only connects to a PLC never pays for config parsing. The schemas themselves
 * are exported from `@bifrost/core/config`.
 *
 * The load is synchronous (`require` of an ES module, Node ≥ 20.19 / 22.12) because
 * `parseGatewayConfig` and `loadGatewayConfig` are synchronous APIs; the module graph is
 * shared with `import`, so `BifrostError` stays one class.
 */
import { createRequire } from 'node:module';
import type * as Config from './config.js';

export type { DeviceConfig, GatewayConfig, OpcuaServerConfig, PipelineConfig, SinkConfig, SourcePosition, TagConfig } from './config.js';

let loaded: typeof Config | undefined;

/** The config module, loaded on first call. */
function config(): typeof Config {
  loaded ??= createRequire(import.meta.url)('./config.js') as typeof Config;
  return loaded;
}

/**
 * Parses and validates gateway config text. Throws BIFROST_CONFIG_YAML or BIFROST_CONFIG_INVALID
 * naming file, line, field and expectation.
 * @example const { config, source } = parseGatewayConfig(text, 'gateway.yaml')
 */
export function parseGatewayConfig(text: string, file?: string): ReturnType<typeof Config.parseGatewayConfig> {
  return config().parseGatewayConfig(text, file);
}

/**
 * Reads, parses and validates a gateway config file.
 * @example const { config } = loadGatewayConfig('gateway.yaml')
 */
export function loadGatewayConfig(file: string): ReturnType<typeof Config.loadGatewayConfig> {
  return config().loadGatewayConfig(file);
}

/**
 * Reads a gateway config file and resolves every secret reference, `${exec:}` commands included
 * (what `bifrost run` does at start and on SIGHUP).
 * @example const { config, source } = await loadGatewayConfigAsync('/etc/bifrost/gateway.yaml')
 */
export function loadGatewayConfigAsync(file: string, options?: Parameters<typeof Config.loadGatewayConfigAsync>[1]): ReturnType<typeof Config.loadGatewayConfigAsync> {
  return config().loadGatewayConfigAsync(file, options);
}

/**
 * `devices[0].tags[2].address` from a path.
 * @example formatPath(['devices', 0, 'url']) // 'devices[0].url'
 */
export function formatPath(path: readonly PropertyKey[]): string {
  return config().formatPath(path);
}

/** A parsed config file that can say where any field path stands in it. */
export type ConfigSource = Config.ConfigSource;

/**
 * A parsed config file that can say where any field path stands in it (`new ConfigSource(file, text)`);
 * the class is loaded with the config module on first construction.
 * @example const source = new ConfigSource('gateway.yaml', text); throw source.errorAt(['devices', 0], 'a device')
 */
export const ConfigSource: typeof Config.ConfigSource = new Proxy(function ConfigSource() {} as unknown as typeof Config.ConfigSource, {
  construct: (_target, args, newTarget) => Reflect.construct(config().ConfigSource, args, newTarget === ConfigSource ? config().ConfigSource : newTarget),
  get: (_target, key) => Reflect.get(config().ConfigSource, key),
  getPrototypeOf: () => Reflect.getPrototypeOf(config().ConfigSource),
});
