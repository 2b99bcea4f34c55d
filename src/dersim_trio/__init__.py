"""dersim-trio: a DER simulator service on trio with a tick-driven telemetry stream."""

__version__ = "0.1.0"
