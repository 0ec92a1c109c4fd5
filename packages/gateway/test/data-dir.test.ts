/**
 * `dataDir`: the sink queues, the audit log and the OPC UA client PKI live under one folder,
 * created mode 0700 by `runGateway`, relative to the config file (or `$BIFROST_DATA_DIR`).
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGatewayConfig } from '@bifrost/core';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import { createLogger, runGateway } from '@bifrost/gateway';
import { describe, expect, it } from 'vitest';

const device = (url: string) => `devices:\n  - name: plc\n    url: ${url}\n    tags: [{ name: t, address: "ns=1;s=x" }]\n`;

describe('dataDir', () => {
  it('puts the audit log, each sink queue and the OPC UA PKI under it', () => {
    const file = '/etc/bifrost/gateway.yaml';
    const { config } = parseGatewayConfig(
      `dataDir: /var/lib/bifrost\n${device('opc.tcp://127.0.0.1:4840')}sinks:\n  - { type: mqtt, url: "mqtt://b:1883" }\n  - { type: mqtt, name: cloud, url: "mqtt://c:1883", buffer: { maxBytes: 1GB } }\n  - { type: mqtt, name: own, url: "mqtt://d:1883", buffer: { dir: /srv/q } }\n`,
      file,
    );
    expect(config.audit.file).toBe('/var/lib/bifrost/audit.jsonl');
    expect(config.sinks.map((s) => (s as { buffer?: { dir?: string } }).buffer?.dir)).toEqual(['/var/lib/bifrost/queue/mqtt-0', '/var/lib/bifrost/queue/cloud', '/srv/q']);
    expect(config.devices[0]?.options?.pkiDir).toBe('/var/lib/bifrost/pki');
    // Without dataDir: ./data beside the config (the layout before dataDir existed), or $BIFROST_DATA_DIR.
    const plain = parseGatewayConfig(device('opc.tcp://h:4840'), file).config;
    expect(plain.audit.file).toBe('./data/audit.jsonl');
    expect(plain.devices[0]?.options?.pkiDir).toBe('/etc/bifrost/data/pki');
    process.env.BIFROST_DATA_DIR = '/srv/bifrost';
    try {
      expect(parseGatewayConfig(device('opc.tcp://h:4840'), file).config.audit.file).toBe('/srv/bifrost/audit.jsonl');
    } finally {
      delete process.env.BIFROST_DATA_DIR;
    }
  });

  it('is created mode 0700 and holds the queue of a running gateway', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bifrost-datadir-'));
    const file = join(dir, 'gateway.yaml');
    const port = await freePort();
    writeFileSync(file, `dataDir: ./state\n${device('modbus://127.0.0.1:1').replace('"ns=1;s=x"', 'HR0')}sinks:\n  - { type: mqtt, url: "mqtt://127.0.0.1:${port}" }\n`);
    const logFile = join(dir, 'log.jsonl');
    const run = await runGateway(file, { signals: false, logger: createLogger({ pretty: false, destination: logFile }) });
    try {
      expect(statSync(join(dir, 'state')).mode & 0o777).toBe(0o700);
      await waitFor(() => statSync(join(dir, 'state/queue/mqtt-0')).isDirectory(), 5000);
    } finally {
      await run.stop();
    }
    expect(readFileSync(logFile, 'utf8')).not.toContain('other users can read');
  });
});
