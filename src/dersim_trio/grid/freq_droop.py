"""Frequency droop (frequency-power) function (IEEE 1547-2018 §6.5.2.7, formulas
in Table 23; SunSpec 711).

With f_nom = 60 Hz (``physics.ac.NOMINAL_FREQUENCY_HZ``), dead bands db_OF/db_UF (Hz) and droops
k_OF/k_UF (per-unit frequency change for a 1 pu power change), all powers in pu of ``WMaxRtg``:

    over  (f > f_nom + db_OF):  P = max(P_pre − (f − (f_nom + db_OF)) / (f_nom·k_OF), P_min)
    under (f < f_nom − db_UF):  P = P_pre + ((f_nom − db_UF) − f) / (f_nom·k_UF)

P_pre is the active power delivered just before the frequency left the dead band, held for as
long as it stays outside (§6.5.2.7.2; OpenDER ``frequency_droop.py``). Under-frequency raises
output only where there is headroom: for PV and wind the result is a *limit* (the model delivers
what its source allows up to it, so a curtailed unit rises and a unit at full output does not);
for storage, fuel cell and hybrid it is a *setpoint* (the model still honours its own SoC and
rating limits). P_min (``p_min_pct``, 711 ``PMin``) is 0 for units that only inject and −100 %
(full charging) for units that absorb. Defaults (§6.5.2.7.2, categories I, II, III): db 0.036 Hz,
k 5 %, OLRT 5 s (adjustable: db 0.017–1.0 Hz; k 2–5 % and OLRT 0.2–10 s for category III,
k 3–5 % and OLRT 1–10 s for categories I and II).

The response reaches 90 % after ``rsp_tms_s`` through a first-order lag. When the frequency
returns inside the dead band the output lags back to the unit's normal command and the function
stays active until it is within 1e-3 pu of it (OpenDER's release rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dersim_trio.grid.lag import Lag

NOMINAL_FREQUENCY_HZ = 60.0
"""f_nom; the droop and the frequency trip and ride-through tables are for 60 Hz systems."""
RELEASE_PU = 1e-3


@dataclass(frozen=True, slots=True)
class FreqDroopSettings:
    """711 ``Ena``, ``Ctl.DbOf``, ``DbUf``, ``KOf``, ``KUf``, ``RspTms``, ``PMin``."""

    enabled: bool = True
    db_of_hz: float = 0.036
    db_uf_hz: float = 0.036
    k_of: float = 0.05
    k_uf: float = 0.05
    rsp_tms_s: float = 5.0
    p_min_pct: float = 0.0


@dataclass(slots=True)
class FreqDroop:
    """The droop's state: the pre-disturbance power, which side is active, the lag."""

    p_pre_pu: float | None = None
    side: str | None = None
    """"of", "uf" or None (inactive)."""
    lag: Lag = field(default_factory=Lag)

    @property
    def active(self) -> bool:
        """True while the droop overrides the unit's normal command."""
        return self.side is not None

    def step(
        self,
        settings: FreqDroopSettings,
        f_hz: float,
        p_last_pu: float,
        normal_pu: float,
        dt_s: float,
    ) -> float | None:
        """The droop's P command in pu of WMaxRtg, or None when the droop does not act.

        ``p_last_pu`` is the power delivered at the previous step, ``normal_pu`` the unit's
        command without the droop (PV: its limit, storage: its setpoint).
        """
        if not settings.enabled:
            self.reset()
            return None
        f_nom = NOMINAL_FREQUENCY_HZ
        over = f_hz > f_nom + settings.db_of_hz
        under = f_hz < f_nom - settings.db_uf_hz
        side = "of" if over else ("uf" if under else None)
        if side is not None:
            if self.side != side or self.p_pre_pu is None:
                # the excursion starts (or flips side): P_pre is what was just delivered
                self.p_pre_pu = p_last_pu
                if self.lag.value is None or self.side is None:
                    self.lag.reset(p_last_pu)
            self.side = side
            if over:
                target = max(
                    self.p_pre_pu - (f_hz - (f_nom + settings.db_of_hz)) / (f_nom * settings.k_of),
                    settings.p_min_pct / 100.0,
                )
            else:
                target = self.p_pre_pu + ((f_nom - settings.db_uf_hz) - f_hz) / (
                    f_nom * settings.k_uf
                )
                target = min(target, 1.0)
            return self.lag.step(target, settings.rsp_tms_s, dt_s)
        if self.side is None:
            return None
        # back inside the dead band: lag back to the normal command, then release
        self.p_pre_pu = None
        out = self.lag.step(normal_pu, settings.rsp_tms_s, dt_s)
        if abs(out - normal_pu) < RELEASE_PU:
            self.reset()
            return None
        return out

    def reset(self) -> None:
        """Inactive, no memory."""
        self.p_pre_pu = None
        self.side = None
        self.lag.reset()
