"""Read a simulated device with pysunspec2, the SunSpec Alliance's client, curtail it and
give it a volt-var curve.

    python examples/sunspec_client.py [--host 127.0.0.1] [--port 15020] [--unit 1]
                                      [--limit PCT] [--volt-var V:Q,V:Q,V:Q,V:Q]

Against a simulator started with ``dersim-trio --modbus_port 15020`` (device i answers on
15020 + i). The script scans the device (every model it serves), prints the 701 measurements
with their scale factors applied, and with ``--limit`` writes 704 ``WMaxLimPctEna`` and
``WMaxLimPct`` in one request, then reads them back. With ``--volt-var`` it writes the four
points (V in % of V_nom, Q in % of the var rating, + injects) into 705's stored curve 2, adopts
it (``AdptCrvReq`` 2), enables volt-var and prints the curve in force (curve 1) and the
adoption's result. Exit code 0, or 1 when the device refuses a write (the Modbus exception code
is printed).
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
    parser.add_argument(
        "--volt-var",
        type=curve_points,
        default=None,
        help="four V:Q points (%% of V_nom : %% of the var rating), e.g. 92:44,98:0,102:0,108:-44",
    )
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
        if args.volt_var is not None:
            try:
                write_volt_var(device.DERVoltVar[0], args.volt_var)
            except modbus.ModbusClientException as exc:
                print(f"volt-var refused: {exc}", file=sys.stderr)
                return 1
    finally:
        device.disconnect()
    return 0


def curve_points(text: str) -> list[tuple[float, float]]:
    """``92:44,98:0,102:0,108:-44`` as (V %, Q %) pairs."""
    pairs = [item.split(":") for item in text.split(",")]
    if any(len(pair) != 2 for pair in pairs):
        raise argparse.ArgumentTypeError(f"{text!r}: expected V:Q,V:Q,...")
    return [(float(v), float(q)) for v, q in pairs]


def write_volt_var(vv: client.SunSpecModbusClientModel, curve: list[tuple[float, float]]) -> None:
    """Fill stored curve 2, adopt it, enable volt-var. Curve 1 is the read-only curve in force;
    pysunspec2 numbers groups from 0, so SunSpec's curve 2 is ``Crv[1]``. ``model.write()``
    sends top-level points before the groups', so the adoption is a second write."""
    stored = vv.Crv[1]
    stored.ActPt.cvalue = len(curve)
    for point, (v, q) in zip(stored.Pt[: len(curve)], curve, strict=True):
        point.V.cvalue, point.Var.cvalue = v, q
    vv.write()  # the stored points only: not checked as a curve yet
    vv.AdptCrvReq.cvalue = 2
    vv.write()  # the whole curve checked as PUT .../grid-support would; refused: exception 3
    vv.Ena.cvalue = 1
    vv.write()
    vv.read()
    active = [(p.V.cvalue, p.Var.cvalue) for p in vv.Crv[0].Pt[: vv.Crv[0].ActPt.value]]
    names = {s["value"]: s["name"] for s in vv.AdptCrvRslt.pdef["symbols"]}
    result = names[vv.AdptCrvRslt.value]
    print(f"volt-var Ena {vv.Ena.value} AdptCrvRslt {result} curve {active}")


if __name__ == "__main__":
    sys.exit(main())
