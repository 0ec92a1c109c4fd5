import { driverSuite, freePort, type SuiteServer, type SuiteTag } from '@bifrost/core/test-fixtures';
import { type ModbusSimulatorOptions, type RunningModbusSimulator, startModbusSimulator } from '@bifrost/modbus';

const tags: SuiteTag[] = [
  { address: 'HR0:FLOAT32', type: 'REAL' },
  { address: 'HR10:FLOAT32', type: 'REAL', write: 72.5 },
  { address: 'HR12:INT16', type: 'INT', write: -1234 },
  { address: 'HR13:UINT16', type: 'UINT', write: 54321 },
  { address: 'HR14:INT32:CDAB', type: 'DINT', write: -100000 },
  { address: 'HR16:UINT32', type: 'UDINT', write: 3_000_000_000 },
  { address: 'HR20:INT64', type: 'LINT', write: -123456789012n },
  { address: 'HR24:UINT64:DCBA', type: 'ULINT', write: 2n ** 63n + 5n },
  { address: 'HR28:FLOAT64', type: 'LREAL', write: Math.PI },
  { address: 'HR32:STRING[8]', type: 'STRING', write: 'bifrost' },
  { address: 'HR40.2', type: 'BOOL', write: true },
  { address: 'HR41:SINT', type: 'SINT', write: -5 },
  { address: 'HR42:USINT', type: 'USINT', write: 200 },
  { address: 'C1', type: 'BOOL', write: true },
  { address: 'DI0', type: 'BOOL' },
  { address: 'IR0:INT16', type: 'INT' },
];

function suiteServer(options: ModbusSimulatorOptions): () => Promise<SuiteServer> {
  return async () => {
    const port = await freePort();
    let sim: RunningModbusSimulator = await startModbusSimulator({ ...options, port });
    return {
      url: sim.url,
      stop: () => sim.close(),
      restart: async () => {
        sim = await startModbusSimulator({ ...options, port });
      },
    };
  };
}

const common = { tags, badAddress: 'HR9000', badAddressCode: 'BIFROST_MODBUS_ILLEGAL_ADDRESS' as const, invalidAddress: 'XX1', deadbandAddress: 'HR50' };

driverSuite({ name: 'modbus (TCP) against the Bifrost simulator', start: suiteServer({}), ...common });
driverSuite({ name: 'modbus (TCP, 4 requests in flight)', start: suiteServer({}), connectOptions: { maxInFlight: 4 }, ...common });
driverSuite({ name: 'modbus+rtuovertcp against the Bifrost simulator', start: suiteServer({ framing: 'rtu' }), ...common });
