"""Read a simulated device with pysunspec2, the SunSpec Alliance's client, and curtail it.

    python examples/sunspec_client.py [--host 127.0.0.1] [--port 15020] [--unit 1] [--limit PCT]

Against a simulator started with ``dersim-trio --modbus_port 15020`` (device i answers on
15020 + i). The script scans the device (every model it serves), prints the 701 measurements
with their scale factors applied, and with ``--limit`` writes 704 ``WMaxLimPctEna`` and
``WMaxLimPct`` in one request, then reads them back. Exit code 0, or 1 when the device refuses
the write (the Modbus exception code is printed).
"""

from __future__ import annotations

import argparse
import os
import sys

import sunspec2.device
import sunspec2.modbus.client as client
import sunspec2.modbus.modbus as modbus

# pysunspec2 looks for model definitions in the working directory first: pin its own.
MODELS = os.path.join(os.path.dirname(sunspec2.device.__file__), "models")
sunspec2.device.set_model_defs_path([MODELS])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=15020)
    parser.add_argument("--unit", type=int, default=1)
    parser.add_argument("--limit", type=float, default=None, help="WMaxLimPct to write, %%")
    args = parser.parse_args()
    device = client.SunSpecModbusClientDeviceTCP(
        slave_id=args.unit, ipaddr=args.host, ipport=args.port, timeout=5
    )
    try:
        device.scan()
        models = [m for m in device.models if isinstance(m, int)]
        common = device.common[0]
        print(f"{common.Mn.value} {common.Md.value} {common.SN.value}: models {models}")
        ac = device.DERMeasureAC[0]
        print(
            f"W {ac.W.cvalue} VA {ac.VA.cvalue} var {ac.Var.cvalue} PF {ac.PF.cvalue} "
            f"Hz {ac.Hz.cvalue} TotWhInj {ac.TotWhInj.cvalue}"
        )
        if args.limit is not None:
            controls = device.DERCtlAC[0]
            controls.WMaxLimPctEna.cvalue = 1
            controls.WMaxLimPct.cvalue = args.limit
            try:
                controls.write()  # contiguous points: one write multiple registers (FC 16)
            except modbus.ModbusClientException as exc:
                print(f"write refused: {exc}", file=sys.stderr)
                return 1
            controls.read()
            enabled, limit = controls.WMaxLimPctEna.value, controls.WMaxLimPct.cvalue
            print(f"WMaxLimPctEna {enabled} WMaxLimPct {limit}")
    finally:
        device.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
