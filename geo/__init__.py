"""Spatial core: settings, database engine and sessions, ORM tables, migrations,
CRS handling (WGS84 / CGCS2000 / GCJ-02), validation and admin regions.

``geo`` imports nothing else of OneMap and nothing of the web.
"""
