import { driverSuite, freePort } from '@bifrost/core/test-fixtures';
import { type EipSimulator, startEipSimulator } from '@bifrost/ethernetip';

for (const connected of [true, false]) {
  driverSuite({
    name: `eip (${connected ? 'connected' : 'unconnected'} messaging) against the Bifrost Logix simulator`,
    async start() {
      const port = await freePort();
      let sim: EipSimulator = await startEipSimulator({ port });
      return {
        url: `eip://127.0.0.1:${port}?path=1,0&connected=${connected}`,
        stop: () => sim.close(),
        async restart() {
          sim = await startEipSimulator({ port });
        },
      };
    },
    tags: [
      { address: 'TestBOOL', type: 'BOOL', write: true },
      { address: 'TestSINT', type: 'SINT', write: -12 },
      { address: 'TestINT', type: 'INT', write: 1234 },
      { address: 'TestDINT', type: 'DINT', write: -99999 },
      { address: 'TestLINT', type: 'LINT', write: 1234567890123n },
      { address: 'TestUSINT', type: 'USINT', write: 250 },
      { address: 'TestUINT', type: 'UINT', write: 65000 },
      { address: 'TestUDINT', type: 'UDINT', write: 3000000000 },
      { address: 'TestULINT', type: 'ULINT', write: 12345678901234567890n },
      { address: 'TestREAL', type: 'REAL', write: 6.25 },
      { address: 'TestLREAL', type: 'LREAL', write: 1.0000001 },
      { address: 'TestSTRING', type: 'STRING', write: 'driver suite' },
      { address: 'Motor1.Speed', type: 'REAL' },
      { address: 'Program:Main.X', type: 'DINT' },
      { address: 'Counter.0', type: 'BOOL' },
    ],
    badAddress: 'NoSuchTag',
    badAddressCode: 'BIFROST_EIP_TAG_NOT_FOUND',
    invalidAddress: 'Bad..Tag[',
    deadbandAddress: 'Setpoint',
  });
}
