/**
 * A sink restarted by a reload used to be started by a second copy of the start-up code that
 * did not listen to the sink's errors: after a SIGHUP, a failing broker went unreported.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGatewayConfig } from '@bifrost/core';
import { freePort, waitFor } from '@bifrost/core/test-fixtures';
import { Gateway } from '@bifrost/gateway';
import { expect, it } from 'vitest';

it('a sink restarted by reload still reports its failures as warnings', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bifrost-reload-sink-'));
  const deadPort = await freePort();
  const yaml = (clientId: string) => `sinks:\n  - type: mqtt\n    url: mqtt://127.0.0.1:${deadPort}\n    clientId: ${clientId}\n    buffer: { dir: ./queue }\n`;
  const first = parseGatewayConfig(yaml('gw-a'), 'gw.yaml');
  const gw = new Gateway(first.config, { source: first.source, baseDir: dir });
  const warnings: string[] = [];
  gw.on('warning', (w) => warnings.push(w.where));
  await gw.start();
  await waitFor(() => warnings.includes('sink mqtt-0'), 15_000);
  const next = parseGatewayConfig(yaml('gw-b'), 'gw.yaml');
  await gw.reload(next.config, next.source);
  warnings.length = 0;
  await waitFor(() => warnings.includes('sink mqtt-0'), 15_000);
  expect(gw.sinks().map((s) => s.name)).toEqual(['mqtt-0']);
  await gw.stop();
}, 60_000);
