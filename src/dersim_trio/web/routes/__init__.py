"""The HTTP and WebSocket routes, one module per resource, each a blueprint factory.

Each factory takes what its routes read or call (the hub, the operator façade, the history, ...)
and returns a quart ``Blueprint``; ``web/app.py`` registers them. Routes translate HTTP to
``service.operator.Controller`` calls and answer with the ``api/`` models; errors are raised and
answered by the handlers of ``web/http_errors.py``.
"""

API_PREFIX = "/api/dersim"
"""Where every API route lives."""
DEVICE_PATH = "/devices/<device_index:index>"
"""A device's sub-resources (``web/params.DeviceIndexConverter``; a negative index is routed,
then answered 404 like any unknown). ``web/app.py`` registers the converter."""
