/**
 * The whole scan: the four simulators on distinct loopback addresses, decoys that speak other
 * things on the protocols' ports, and a scan of 127.0.0.0/28 that must find exactly the
 * simulators, with their identities, within its timeout budget.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import type { RunningSimulator, StartSimulator } from '@bifrost/core';
import { parseGatewayConfig } from '@bifrost/core';
import { freePort } from '@bifrost/core/test-fixtures';
import { discover, toGatewayYaml } from '@bifrost/discovery';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const closers: Array<() => Promise<unknown>> = [];
const ports = { modbus: 0, s7: 0, eip: 0, opcua: 0 };

async function listen(server: Server | ReturnType<typeof createHttpServer>, host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  closers.push(() => new Promise((r) => server.close(r)));
}

beforeAll(async () => {
  for (const p of Object.keys(ports) as Array<keyof typeof ports>) ports[p] = await freePort();
  const start = async (pkg: string, host: string, port: number) => {
    const mod = (await import(pkg)) as { startSimulator: StartSimulator };
    const sim: RunningSimulator = await mod.startSimulator({ host, port });
    closers.push(() => sim.close());
  };
  await start('@bifrost/modbus', '127.0.0.2', ports.modbus);
  await start('@bifrost/s7', '127.0.0.3', ports.s7);
  await start('@bifrost/ethernetip', '127.0.0.4', ports.eip);
  await start('@bifrost/opcua', '127.0.0.5', ports.opcua);
  // Decoys: an HTTP server on the Modbus port, random bytes on the S7 port, a silent listener on
  // the OPC UA port, and an HTTP server on the EtherNet/IP port.
  const http = createHttpServer((_req, res) => res.writeHead(400).end('bad request'));
  await listen(http, '127.0.0.6', ports.modbus);
  const garbage = createServer((s) => {
    s.on('data', () => s.write(Buffer.from([0x03, 0x00, 0x00, 0x07, 0xde, 0xad, 0xbe, 0xef, 0x13, 0x37])));
    s.on('error', () => {});
  });
  await listen(garbage, '127.0.0.7', ports.s7);
  // Silent: it reads what it is sent and never answers. (It must read: a socket never read never
  // sees the client's FIN, so the server could not close.)
  const silent = createServer((s) => {
    s.resume();
    s.on('error', () => {});
  });
  await listen(silent, '127.0.0.8', ports.opcua);
  const http2 = createHttpServer((_req, res) => res.writeHead(404).end());
  await listen(http2, '127.0.0.9', ports.eip);
}, 120_000);

afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
});

describe('bifrost discover on 127.0.0.0/28', () => {
  it('finds exactly the simulators, identified, and reports the decoys as unidentified', async () => {
    const timeoutMs = 800;
    let progress = 0;
    const r = await discover({
      networks: ['127.0.0.0/28'],
      ports: { modbus: [ports.modbus], s7: [ports.s7], eip: [ports.eip], opcua: [ports.opcua] },
      timeoutMs,
      concurrency: 32,
      onProgress: (d) => (progress = d),
    });
    expect(r.found.map((f) => `${f.protocol}@${f.host}:${f.port}`)).toEqual([
      `modbus@127.0.0.2:${ports.modbus}`,
      `s7@127.0.0.3:${ports.s7}`,
      `eip@127.0.0.4:${ports.eip}`,
      `opcua@127.0.0.5:${ports.opcua}`,
    ]);
    const by = Object.fromEntries(r.found.map((f) => [f.protocol, f.identity]));
    expect(by.modbus?.vendor ?? by.modbus?.product).toBeTruthy();
    expect(by.s7?.orderCode ?? by.s7?.model ?? by.s7?.product).toBeTruthy();
    expect(by.eip?.productName ?? by.eip?.product).toBeTruthy();
    expect(by.opcua?.endpointUrl).toBe(`opc.tcp://127.0.0.5:${ports.opcua}`);
    expect(by.opcua?.applicationName).toBeTruthy();
    expect(by.opcua?.securityPolicies).toEqual(expect.arrayContaining(['None/None', 'Basic256Sha256/SignAndEncrypt']));
    expect(r.unidentified.map((u) => `${u.host}:${u.port}`).sort()).toEqual([`127.0.0.6:${ports.modbus}`, `127.0.0.7:${ports.s7}`, `127.0.0.8:${ports.opcua}`, `127.0.0.9:${ports.eip}`].sort());
    expect(r.hostsScanned).toBe(14);
    expect(progress).toBe(r.probes);
    // The timeout budget: each probe costs at most a few timeouts (connect, identify, fallback).
    const waves = Math.ceil(r.probes / 32);
    expect(r.durationMs).toBeLessThan(waves * timeoutMs * 6 + 5000);
  }, 120_000);

  it('finds EtherNet/IP both by unicast TCP and by the UDP ListIdentity sweep of the network', async () => {
    // A /32 "network": its broadcast address is the host itself, which loopback can deliver.
    const r = await discover({ networks: ['127.0.0.4/32'], protocols: ['eip'], ports: { eip: [ports.eip] }, timeoutMs: 800 });
    expect(r.found).toHaveLength(1);
    expect(r.found[0]?.identity.via).toBe('tcp+udp-broadcast');
    const tcpOnly = await discover({ networks: ['127.0.0.4/32'], protocols: ['eip'], ports: { eip: [ports.eip] }, timeoutMs: 800, broadcast: false });
    expect(tcpOnly.found[0]?.identity.via).toBe('tcp');
  }, 60_000);

  it('writes a gateway.yaml skeleton that the config loader accepts', async () => {
    const r = await discover({ hosts: ['127.0.0.2'], protocols: ['modbus'], ports: { modbus: [ports.modbus] }, timeoutMs: 800 });
    const yaml = toGatewayYaml(r.found);
    const { config } = parseGatewayConfig(yaml, 'discovered.yaml');
    expect(config.devices).toHaveLength(1);
    expect(config.devices[0]?.url).toBe(`modbus://127.0.0.2:${ports.modbus}?unit=1`);
  }, 60_000);
});
