/**
 * Regression: a request made right after the client dropped its connection (to resynchronise a
 * half-read MBAP stream) was written to the dying socket and failed with
 * BIFROST_CONNECTION_LOST when the socket reported `close`. It must go to a new connection.
 */
import { freePort } from '@bifrost/core/test-fixtures';
import { ModbusTcpClient, startModbusSimulator } from '@bifrost/modbus';
import { expect, it } from 'vitest';

it('a request made right after destroy() goes to a new connection', async () => {
  await using sim = await startModbusSimulator({ port: await freePort() });
  const client = new ModbusTcpClient({ host: '127.0.0.1', port: sim.port, reconnect: { baseMs: 10, maxMs: 20 } });
  try {
    await client.connect();
    expect(Buffer.from(await client.readInputRegisters(9, 1)).readUInt16BE(0)).toBe(42);
    client.destroy();
    expect(client.isOpen).toBe(false);
    expect(Buffer.from(await client.readInputRegisters(9, 1)).readUInt16BE(0)).toBe(42);
    expect(client.isOpen).toBe(true);
  } finally {
    await client.close();
  }
});
