"""MQTT: every device's telemetry published to a broker, its controls taken from it
(``--mqtt``).

``codec`` (topics, payloads, requests answered through the operator façade; sans-IO) →
``link`` (the broker connection: paho-mqtt's network loop and the publisher, in threads) →
``bridge`` (the trio shell: the hub's ticks out, requests in, wired by
``ServiceParts.run_mqtt`` in ``service/run.py``).
"""
