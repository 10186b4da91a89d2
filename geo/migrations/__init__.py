"""Alembic migrations of the OneMap schema (run with ``onemap db migrate``)."""
