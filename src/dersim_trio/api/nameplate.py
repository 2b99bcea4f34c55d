"""A device's nameplate as the operator façade reports it (SunSpec 1, 702, 713, 802 ratings).

Read by protocol front ends (the SunSpec Modbus server) that must describe a device as a real
one describes itself; units are the API's (kW, kVA, kvar, kWh, V, A, %).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StorageNameplate(BaseModel):
    """Ratings of a device's energy store (713 ``WHRtg``/``SoH``, 802)."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    energy_kwh: float = Field(description="Rated energy, kWh (713 WHRtg).")
    w_charge_max_kw: float = Field(description="Charge rating, kW (802 WChaRteMax).")
    w_discharge_max_kw: float = Field(description="Discharge rating, kW (802 WDisChaRteMax).")
    chemistry: str = Field(description="Cell chemistry (NMC, LFP).")
    state_of_health_pct: float
    soc_min_pct: float = Field(description="Nameplate usable minimum (802 SoCMin).")
    soc_max_pct: float = Field(description="Nameplate usable maximum (802 SoCMax).")


class DeviceNameplate(BaseModel):
    """One device's identity and ratings."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    device_index: int
    manufacturer: str = Field(description="SunSpec 1 Mn.")
    model: str = Field(description="SunSpec 1 Md.")
    version: str = Field(description="SunSpec 1 Vr (the simulator's version).")
    serial_number: str = Field(description="SunSpec 1 SN, unique per device.")
    device_address: int = Field(description="SunSpec 1 DA: the Modbus unit id it answers.")
    asset_type: str
    ac_type: Literal["single", "split", "three"]
    voltage_ll_nominal_v: float = Field(description="702 VNomRtg (line-to-line).")
    voltage_ln_nominal_v: float
    current_max_a: float = Field(description="702 AMaxRtg: rated line current at VAMaxRtg.")
    w_max_kw: float = Field(description="702 WMaxRtg.")
    va_max_kva: float = Field(description="702 VAMaxRtg.")
    var_max_inj_kvar: float = Field(description="702 VarMaxInjRtg.")
    var_max_abs_kvar: float = Field(description="702 VarMaxAbsRtg.")
    w_charge_max_kw: float = Field(description="702 WChaRteMaxRtg (0: cannot absorb).")
    normal_category: Literal["A", "B"] | None = Field(
        description="IEEE 1547 normal performance category (702 NorOpCatRtg); null: none."
    )
    abnormal_category: Literal["I", "II", "III"] | None = Field(
        description="IEEE 1547 abnormal performance category (702 AbnOpCatRtg)."
    )
    dc_port_count: int
    storage: StorageNameplate | None = Field(description="null for a device without storage.")
