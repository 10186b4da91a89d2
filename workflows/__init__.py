"""Workflow modules on top of the map services: the hidden-danger closed loop (隐患排查治理).

May import :mod:`geo` and :mod:`layers`, never :mod:`api` (docs/ARCHITECTURE.md).
"""
