"""Telemetry from hazard sites: the MQTT broker, payloads, the ingest worker, the simulator.

May import :mod:`geo` and :mod:`layers`, never :mod:`api`. See docs/TELEMETRY.md.
"""
