"""SunSpec Modbus TCP: every simulated device as a SunSpec server (``--modbus_port``).

``codec`` (Modbus TCP frames, sans-IO) → ``layout`` (SunSpec models from pysunspec2's JSON) →
``points`` (encoding, scale factors, not-implemented values) → ``registers`` (a device's map)
and ``models/`` (one module per SunSpec model family, bound to the operator façade) →
``device`` (one request against one device, sans-IO) → ``server`` (the trio shell: listeners,
connections, timeouts). ``quirks`` documents the field behaviours ``--modbus_quirks`` imitates.
"""
