/**
 * @module
 * Regression: `bifrost simulate opcua --config plant.yaml`, an example of the CLI's own help, failed
 * with BIFROST_NOT_SUPPORTED ("takes its config as an object"). The OPC UA simulator reads a YAML
 * file like the other simulators, and a wrong field is a config error with file and line.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@bifrost/core';
import { freePort } from '@bifrost/core/test-fixtures';
import { startSimulator } from '@bifrost/opcua';
import { afterAll, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'bifrost-opcua-simcfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('reads bulkTags from a YAML file, and names the line of a wrong field', async () => {
  const file = join(dir, 'plant.yaml');
  writeFileSync(file, `bulkTags: 5\nupdateMs: 1000\npkiDir: ${join(dir, 'pki')}\n`);
  const sim = await startSimulator({ port: await freePort(), config: file });
  try {
    const plc = await connect(sim.url, { pkiDir: join(dir, 'client') });
    try {
      expect((await plc.read('ns=1;s=Bulk.Tag4')).quality).toBe('good');
    } finally {
      await plc.close();
    }
  } finally {
    await sim.close();
  }
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'updateMs: 1000\nbulkTagz: 5\n');
  await expect(startSimulator({ port: await freePort(), config: bad })).rejects.toMatchObject({ code: 'BIFROST_CONFIG_INVALID', message: expect.stringContaining(`${bad}:2:1: bulkTagz`) });
}, 60_000);
