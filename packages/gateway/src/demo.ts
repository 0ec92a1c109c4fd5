/**
 * @module
 * `bifrost demo`: the product's main job on a desk. It starts simulated Modbus, S7, EtherNet/IP
 * and OPC UA PLCs with a small plant's worth of changing signals, an MQTT broker (embedded, or a
 * real one with `mqtt`), and a gateway that reads all four, runs analytics (a window, an anomaly
 * detector, an alarm), forwards through the durable queue, and serves the web dashboard. The
 * config it runs is written to `<dataDir>/gateway.yaml`, so `bifrost run` can run it again.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { parseGatewayConfig, type RunningSimulator, type StartSimulator } from '@bifrost/core';
import { Gateway } from './gateway.js';

/** Options of {@link startDemo}. */
export interface DemoOptions {
  /** A real broker to forward to (default: an embedded one). */
  mqtt?: string;
  /** Port of the embedded broker (default 1883; 0 = any free port). */
  mqttPort?: number;
  /** Web dashboard port (default 8080; 0 = any free port). */
  webPort?: number;
  /** Where the queue, audit log and config go (default ./data/demo). */
  dataDir?: string;
  /** Leave out protocols (e.g. `['opcua']` for a lighter run). */
  without?: Array<'modbus' | 's7' | 'eip' | 'opcua'>;
  /** Fixed simulator ports (0 = any free port). */
  ports?: Partial<Record<'modbus' | 's7' | 'eip' | 'opcua', number>>;
  /** Port of the gateway's own OPC UA server (default 4841, or a free one when taken); `false` for none. Left out with `without: ['opcua']`. */
  opcuaServerPort?: number | false;
}

/** A running demo. */
export interface RunningDemo {
  gateway: Gateway;
  simulators: Record<string, RunningSimulator>;
  mqttUrl: string;
  /** Dashboard URL, when the web package is installed. */
  webUrl?: string;
  /** Endpoint URL of the gateway's OPC UA server, where a SCADA connects. */
  opcuaUrl?: string;
  configFile: string;
  /** Stops everything: gateway (queues persist), web, broker, simulators. Idempotent. */
  stop(): Promise<void>;
}

const PACKAGES = { modbus: '@bifrost/modbus', s7: '@bifrost/s7', eip: '@bifrost/ethernetip', opcua: '@bifrost/opcua' } as const;

/** `port` when it is free on 127.0.0.1, else a free one (node-opcua cannot listen on port 0). */
function portOr(port: number): Promise<number> {
  const probe = (p: number) =>
    new Promise<number | undefined>((resolveProbe) => {
      const s = createServer();
      s.once('error', () => resolveProbe(undefined));
      s.listen(p, '127.0.0.1', () => {
        const got = (s.address() as { port: number }).port;
        s.close(() => resolveProbe(got));
      });
    });
  return probe(port).then(async (p) => p ?? ((await probe(0)) as number));
}

/** True when an error (or its cause) says the port is taken. */
function inUse(e: unknown): boolean {
  for (let x: unknown = e; x; x = (x as { cause?: unknown }).cause) if ((x as { code?: string }).code === 'EADDRINUSE' || /EADDRINUSE/.test(String((x as Error).message))) return true;
  return false;
}

/** The demo plant's gateway config for simulators at these URLs. */
export function demoConfigYaml(urls: Partial<Record<keyof typeof PACKAGES, string>>, mqttUrl: string, dataDir: string, webPort: number, opcuaServerPort?: number): string {
  const devices: string[] = [];
  if (urls.modbus)
    devices.push(`  - name: modbus-press1
    url: ${urls.modbus}
    pollMs: 500
    tags:
      - { name: temperature, address: HR0:FLOAT32, unit: degC, min: 0, max: 120, description: Press hydraulic oil temperature }
      - { name: pressure, address: HR2:FLOAT32, unit: bar, deadband: 0.01 }
      - { name: parts, address: HR4:UINT16, description: Parts pressed }
      - { name: speed, address: IR3, unit: spm, description: Strokes per minute }
      - { name: setpoint, address: HR10:FLOAT32, unit: degC, writable: true, min: 0, max: 120 }
      - { name: running, address: C0 }`);
  if (urls.s7)
    devices.push(`  - name: s7-oven1
    url: ${urls.s7}
    pollMs: 500
    tags:
      - { name: temperature, address: DB1.DBD0:REAL, unit: degC }
      - { name: pressure, address: DB1.DBD4:REAL, unit: bar, deadband: 0.01 }
      - { name: cycles, address: DB1.DBD8:DINT }
      - { name: setpoint, address: DB1.DBD12:REAL, unit: degC, writable: true, min: 0, max: 300 }
      - { name: fan_rpm, address: DB1.DBW18:INT, unit: rpm }
      - { name: batch, address: "DB1.DBB20:STRING[20]" }
      - { name: door_open, address: DB1.DBX16.1 }`);
  if (urls.eip)
    devices.push(`  - name: eip-conveyor1
    url: ${urls.eip}
    pollMs: 500
    tags:
      - { name: counter, address: Counter }
      - { name: temperature, address: Temperature, unit: degC }
      - { name: motor_speed, address: Motor1.Speed, unit: rpm }
      - { name: running, address: Running }
      - { name: setpoint, address: Setpoint, writable: true, min: 0, max: 100 }`);
  if (urls.opcua)
    devices.push(`  - name: opcua-boiler1
    url: ${urls.opcua}
    pollMs: 500
    tags:
      - { name: temperature, address: "ns=1;s=Line1.Temperature", unit: degC }
      - { name: pressure, address: "ns=1;s=Line1.Pressure", unit: bar }
      - { name: speed, address: "ns=1;s=Line1.Speed", unit: rpm }
      - { name: count, address: "ns=1;s=Line1.Count" }
      - { name: setpoint, address: "ns=1;s=Line1.Setpoint", unit: degC, writable: true, min: 0, max: 150 }`);
  const pipelines: string[] = [];
  if (urls.modbus)
    pipelines.push(`  - name: press-temperature-10s
    from: [modbus-press1.temperature]
    steps:
      - window: { type: tumbling, size: 10s }
        aggregate: [mean, min, max, stddev]
  - name: press-overtemperature
    from: [modbus-press1.temperature]
    steps:
      - alarm: { above: 78, hysteresis: 1, onDelay: 2s, severity: 700, message: Press oil above 78 degC }`);
  if (urls.s7)
    pipelines.push(`  - name: oven-pressure-anomaly
    from: [s7-oven1.pressure]
    steps:
      - anomaly: { method: zscore, window: 60, threshold: 3 }`);
  return `# The Bifrost demo plant: written by bifrost demo. Run it again with: bifrost run ${join(dataDir, 'gateway.yaml')}
gateway: { name: demo, site: bifrost, area: demo }
devices:
${devices.join('\n')}
pipelines:
${pipelines.join('\n') || '  []'}
sinks:
  - type: mqtt
    name: mqtt
    url: ${mqttUrl}
    clientId: bifrost-demo
    topic: "bifrost/demo/{device}/{tag}"
    qos: 1
    buffer: { dir: ./queue, maxBytes: 256MB }
store: { memory: 32MB, retention: 1h }
audit: { file: ./audit.jsonl }
web: { port: ${webPort}, host: 127.0.0.1 }
${
  opcuaServerPort === undefined
    ? ''
    : `# The gateway as an OPC UA server for a SCADA: anonymous and read-only here (see docs/configuration.md#opcuaserver).
opcuaServer: { port: ${opcuaServerPort}, host: 127.0.0.1 }
`
}`;
}

/**
 * Starts the demo. The caller renders it (terminal dashboard or logs) and calls `stop()`.
 * @example const demo = await startDemo({ webPort: 8080 }); … await demo.stop();
 */
export async function startDemo(options: DemoOptions = {}): Promise<RunningDemo> {
  const dataDir = resolve(options.dataDir ?? './data/demo');
  await mkdir(dataDir, { recursive: true });
  const simulators: Record<string, RunningSimulator> = {};
  const closers: Array<() => Promise<unknown>> = [];
  const stopAll = async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  };
  try {
    const urls: Partial<Record<keyof typeof PACKAGES, string>> = {};
    for (const key of Object.keys(PACKAGES) as Array<keyof typeof PACKAGES>) {
      if (options.without?.includes(key)) continue;
      const mod = (await import(PACKAGES[key])) as { startSimulator: StartSimulator };
      const sim = await mod.startSimulator({ host: '127.0.0.1', port: options.ports?.[key] ?? 0 });
      closers.push(() => sim.close());
      simulators[key] = sim;
      urls[key] = sim.url;
    }
    let mqttUrl = options.mqtt;
    if (!mqttUrl) {
      const { startEmbeddedBroker } = await import('@bifrost/cloud');
      // A broker already on 1883 (Debian's mosquitto, say) must not stop the demo: take a free port.
      const broker = await startEmbeddedBroker({ host: '127.0.0.1', port: options.mqttPort ?? 1883 }).catch((e: unknown) => {
        if (!inUse(e)) throw e;
        return startEmbeddedBroker({ host: '127.0.0.1', port: 0 });
      });
      closers.push(() => broker.close());
      mqttUrl = broker.url;
    }
    const webPort = options.webPort ?? 8080;
    const serveOpcUa = options.opcuaServerPort !== false && !options.without?.includes('opcua');
    const opcuaPort = serveOpcUa ? await portOr(options.opcuaServerPort === undefined ? 4841 : (options.opcuaServerPort as number)) : undefined;
    const yaml = demoConfigYaml(urls, mqttUrl, dataDir, webPort, opcuaPort);
    const configFile = join(dataDir, 'gateway.yaml');
    await writeFile(configFile, yaml);
    const { config, source } = parseGatewayConfig(yaml, configFile);
    const gateway = new Gateway(config, { source, baseDir: dataDir });
    await gateway.start();
    closers.push(() => gateway.stop());
    const demo: RunningDemo = { gateway, simulators, mqttUrl, configFile, stop: stopAll };
    const web = (await import('@bifrost/web' as string).catch(() => undefined)) as
      | { startWebServer?: (g: Gateway, o: Record<string, unknown>) => Promise<{ port: number; close(): Promise<void> }> }
      | undefined;
    if (web?.startWebServer && config.web) {
      const srv = await web.startWebServer(gateway, { ...config.web, baseDir: dataDir }).catch((e: unknown) => {
        if (!inUse(e)) throw e;
        return (web.startWebServer as NonNullable<typeof web.startWebServer>)(gateway, { ...config.web, port: 0, baseDir: dataDir });
      });
      closers.push(() => srv.close());
      demo.webUrl = `http://127.0.0.1:${srv.port}/`;
    }
    if (config.opcuaServer) {
      const { startGatewayOpcUaServer } = await import('./opcua-server.js');
      const ua = await startGatewayOpcUaServer(gateway);
      closers.push(() => ua.close());
      demo.opcuaUrl = ua.url;
    }
    return demo;
  } catch (e) {
    await stopAll();
    throw e;
  }
}
