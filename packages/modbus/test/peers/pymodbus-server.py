"""A pymodbus TCP server for Bifrost's cross-tests (Debian python3-pymodbus 3.0.0rc1).

Usage: /usr/bin/python3 pymodbus-server.py PORT [rtu]
Unit 1: HR0..HR99 = 1000 + address, IR0..IR9 = 2000 + address, coils C0..C15 alternate
(even addresses on), discrete inputs DI0..DI15 on for multiples of 3. Addresses >= 100 are
unmapped (exception 02). Prints "ready" when listening.
"""
import sys
import threading
import time

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.device import ModbusDeviceIdentification
from pymodbus.server import StartTcpServer

port = int(sys.argv[1])
framing = sys.argv[2] if len(sys.argv) > 2 else "tcp"

store = ModbusSlaveContext(
    di=ModbusSequentialDataBlock(0, [i % 3 == 0 for i in range(16)]),
    co=ModbusSequentialDataBlock(0, [i % 2 == 0 for i in range(16)]),
    hr=ModbusSequentialDataBlock(0, [1000 + i for i in range(100)]),
    ir=ModbusSequentialDataBlock(0, [2000 + i for i in range(10)]),
    zero_mode=True,
)
context = ModbusServerContext(slaves={1: store}, single=False)

identity = ModbusDeviceIdentification(
    info_name={
        "VendorName": "pymodbus",
        "ProductCode": "PM",
        "VendorUrl": "https://github.com/pymodbus-dev/pymodbus",
        "ProductName": "pymodbus test server",
        "ModelName": "bifrost cross-test",
        "MajorMinorRevision": "3.0.0",
    }
)


def ready():
    time.sleep(0.5)
    print("ready", flush=True)


threading.Thread(target=ready, daemon=True).start()
kwargs = {}
if framing == "rtu":
    from pymodbus.transaction import ModbusRtuFramer

    kwargs["framer"] = ModbusRtuFramer
StartTcpServer(context=context, identity=identity, address=("127.0.0.1", port), **kwargs)
