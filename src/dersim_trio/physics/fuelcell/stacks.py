"""Fuel-cell systems as data: the nameplate type and the four reference machines.

Reference machines (documented behaviour §4.4; the coefficients are our engineering choices, the
cell forms are those of ``cells.py``):

* PEMFC 5 kW (Ballard FCgen-LCS class): 80 cells; OPEM's standard cell scaled to 5× its active
  area (i_0, i_n, i_L ×5, R_M ÷5) at 328 K. Rated 5 kW AC needs 5.66 kW stack power
  (η_inv 0.96, BoP 8 %): ≈ 109 A at 0.647 V/cell, 51.8 V stack (OCV 77 V); peak 14.8 kW.
  Tank 2.0 kg H₂ (≈ 6 h at rated, 0.091 g/s). Electrolysis branch (unitised regenerative cell):
  E_rev 1.20 V (1.229 V at 25 °C, −0.85 mV/K), A_el 0.06 V, i_0,el 0.009 A, R_el = R_M, η_F 0.99;
  absorbing 5 kW: ≈ 32 A at 1.70 V/cell (136 V), 86 % of HHV, 0.027 g/s H₂.
* SOFC 200 kW: 600 cells in series, each position 14 parallel 10×10 cm cells (1400 cm²), at
  1023 K. Per 100 cm²: E0 1.01 V, A 0.02 V, i_0 0.1 A, i_n 0.2 A, i_L 100 A (1 A/cm²),
  R_M 5 mΩ (ASR 0.5 Ω·cm²). Rated 200 kW AC needs 217 kW stack power (η_inv 0.97, BoP 5 %):
  ≈ 533 A at 0.678 V/cell, 407 V stack (OCV 597 V); peak 279 kW. Tank 100 kg (≈ 8 h at rated).
  Electrolysis (SOEC): E_rev 0.90 V (Nernst at 1023 K, 90/10 H₂O/H₂ feed), A_el 0.02 V,
  i_0,el 1.4 A, R_el = R_M, η_F 0.98, V_tn 1.29 V; absorbing 200 kW: ≈ 278 A at 1.105 V/cell
  (663 V, below V_tn: endothermic), 1.71 g/s H₂.

Dynamics (ASSUMED defaults; physics reference B.4 found no authoritative number): PEM ramps at
10 %/s of rating (air-supply BoP limited), SOFC at 1 %/min (thermal limits); mode-change dwell
30 s PEM, 300 s SOFC; minimum turndown 5 % PEM, 10 % SOFC.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Literal

from dersim_trio.physics.ac import AcType
from dersim_trio.physics.fuelcell.cells import (
    HHV_THERMONEUTRAL_V,
    OPEM_STANDARD_CELL,
    ElectrolysisCell,
    LarminieDicksCell,
)

Chemistry = Literal["PEMFC", "SOFC"]
FuelCellMode = Literal["fc_only", "bidirectional"]
FuelSupply = Literal["tank", "continuous"]

SUPPORTED_COMBINATIONS: Final[tuple[tuple[str, str, str], ...]] = (
    ("PEMFC", "fc_only", "tank"),
    ("PEMFC", "bidirectional", "tank"),
    ("SOFC", "bidirectional", "tank"),
    ("SOFC", "fc_only", "continuous"),
)
"""The (chemistry, mode, fuel) tuples the simulator supports (documented behaviour §4.4)."""

SOFC_CELL_100CM2: Final = LarminieDicksCell(
    e0_v=1.01,
    tafel_slope_v=0.02,
    ohmic_resistance_ohm=0.005,
    exchange_current_a=0.1,
    internal_current_a=0.2,
    limiting_current_a=100.0,
    temperature_k=1023.0,
)
"""Our SOFC cell (10×10 cm, 750 °C; assumption documented in the module docstring)."""

PEMFC_CELL: Final = OPEM_STANDARD_CELL.scaled(5.0)
"""The 5 kW PEMFC's cell: OPEM's standard cell at 5× its active area (module docstring)."""


@dataclass(frozen=True, slots=True)
class FuelCellNameplate:
    """A fuel-cell system: stack, electrolysis branch, tank, converter and dynamics.

    Build the four supported products with :func:`fuelcell_nameplate`; the defaults here are
    those of the PEMFC 5 kW fc_only unit.
    """

    name: str = "PEMFC-FC-only 5 kW"
    chemistry: Chemistry = "PEMFC"
    mode: FuelCellMode = "fc_only"
    fuel: FuelSupply = "tank"
    rated_power_kw: float = 5.0
    """AC rating (702 ``WMaxRtg``), both directions for reversible units, kW."""
    cell_count: int = 80
    fc_cell: LarminieDicksCell = PEMFC_CELL
    el_cell: ElectrolysisCell | None = None
    """Electrolysis branch; required when ``mode`` is "bidirectional"."""
    inverter_efficiency: float = 0.96
    bop_fraction: float = 0.08
    """Balance-of-plant share of the stack power (FC) or of the converter output (EL)."""
    min_turndown_pct: float = 5.0
    """|setpoint| below this percentage of the rating means idle (assumption)."""
    ramp_rate_pct_per_s: float = 10.0
    """Ramp rate of the AC power, % of rating per second, up and down (assumption)."""
    mode_change_dwell_s: float = 30.0
    """Time at zero power before reversing between FC and electrolysis (assumption)."""
    tank_capacity_kg: float = 2.0
    initial_hydrogen_pct: float = 100.0
    ac_type: AcType = "three"
    var_rating_pu: float = 0.44
    """Reactive capability (702 ``VarMaxInjRtg``/``VarMaxAbsRtg``) per unit of the rating."""


_PEM_EL_CELL: Final = ElectrolysisCell(
    reversible_voltage_v=1.20,
    tafel_slope_v=0.06,
    exchange_current_a=0.009,
    ohmic_resistance_ohm=PEMFC_CELL.ohmic_resistance_ohm,
    faradaic_efficiency=0.99,
    thermoneutral_voltage_v=HHV_THERMONEUTRAL_V,
)
_SOFC_FC_CELL: Final = SOFC_CELL_100CM2.scaled(14.0)
_SOEC_CELL: Final = ElectrolysisCell(
    reversible_voltage_v=0.90,
    tafel_slope_v=0.02,
    exchange_current_a=1.4,
    ohmic_resistance_ohm=_SOFC_FC_CELL.ohmic_resistance_ohm,
    faradaic_efficiency=0.98,
    thermoneutral_voltage_v=1.29,
)
_SOFC_BASE: Final = FuelCellNameplate(
    chemistry="SOFC",
    rated_power_kw=200.0,
    cell_count=600,
    fc_cell=_SOFC_FC_CELL,
    inverter_efficiency=0.97,
    bop_fraction=0.05,
    min_turndown_pct=10.0,
    ramp_rate_pct_per_s=1.0 / 60.0,
    mode_change_dwell_s=300.0,
    tank_capacity_kg=100.0,
)

REFERENCE_MACHINES: Final[dict[tuple[str, str, str], FuelCellNameplate]] = {
    ("PEMFC", "fc_only", "tank"): FuelCellNameplate(fc_cell=PEMFC_CELL),
    ("PEMFC", "bidirectional", "tank"): FuelCellNameplate(
        name="PEMFC-reversible 5 kW",
        mode="bidirectional",
        fc_cell=PEMFC_CELL,
        el_cell=_PEM_EL_CELL,
        initial_hydrogen_pct=50.0,
    ),
    ("SOFC", "bidirectional", "tank"): replace(
        _SOFC_BASE,
        name="SOFC-reversible 200 kW",
        mode="bidirectional",
        el_cell=_SOEC_CELL,
        initial_hydrogen_pct=50.0,
    ),
    ("SOFC", "fc_only", "continuous"): replace(
        _SOFC_BASE, name="SOFC-200kW-pipeline", fuel="continuous", tank_capacity_kg=0.0
    ),
}
"""The four reference machines by (chemistry, mode, fuel) (module docstring)."""


def fuelcell_nameplate(chemistry: str, mode: str, fuel: str) -> FuelCellNameplate:
    """The nameplate of a supported (chemistry, mode, fuel) combination.

    Raises ``ValueError`` listing the four supported combinations for anything else.
    """
    try:
        return REFERENCE_MACHINES[(chemistry, mode, fuel)]
    except KeyError:
        allowed = "; ".join(
            f"--fuelcell_chemistry {c} --fuelcell_mode {m} --fuelcell_fuel {f}"
            for c, m, f in SUPPORTED_COMBINATIONS
        )
        raise ValueError(
            f"unsupported fuel cell combination (chemistry={chemistry}, mode={mode}, "
            f"fuel={fuel}); supported: {allowed}"
        ) from None
