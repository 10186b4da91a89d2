"""A regions database with a workflow test's enterprises and users, the app on it, and a token per user.

The workflow tests (hidden dangers, accident reports, inspections) each need
their own database: the provincial regions, a few enterprises placed in
known counties, one user per role, and a TestClient signed in as each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from geo.db import make_engine
from tests.conftest import regions_database, world_uscc

__all__ = ["WorkflowApp", "workflow_app"]


@dataclass
class WorkflowApp:
    db: object
    owner: Engine
    app_engine: Engine
    client: object
    ids: dict[str, int]
    auth: dict[str, dict[str, str]]  # user name -> Authorization header ("public": none)


@contextmanager
def workflow_app(throwaway, settings, *, users: dict, enterprises: dict, prefix: str, password: str,
                 populate: Callable[[Connection], dict[str, int]]) -> Iterator[WorkflowApp]:
    """``populate(owner_conn)`` inserts the rows and returns their ids by key; then the users are made.

    ``users``: name -> (role, adcode, enterprise key or None), made as ``<prefix>.<name>``;
    ``enterprises``: key -> (serial, county, …), whose first two give the enterprise user's USCC.
    """
    from fastapi.testclient import TestClient

    from api.app import create_app
    from geo.users import create_user

    db = regions_database(throwaway)
    owner = make_engine(db.owner_url)
    app_engine = make_engine(db.app_url, pool_size=6, max_overflow=4)
    try:
        with owner.begin() as c:
            ids = populate(c)
            for name, (role, adcode, ent) in users.items():
                create_user(c, username=f"{prefix}.{name}", password=password, role=role, adcode=adcode,
                            enterprise_uscc=world_uscc(*enterprises[ent][:2]) if ent else None)
        with TestClient(create_app(settings, engine=app_engine)) as client:
            auth = {}
            for name in users:
                r = client.post("/auth/token", data={"username": f"{prefix}.{name}", "password": password})
                assert r.status_code == 200, r.text
                auth[name] = {"Authorization": f"Bearer {r.json()['access_token']}"}
            auth["public"] = {}
            yield WorkflowApp(db, owner, app_engine, client, ids, auth)
    finally:
        app_engine.dispose()
        owner.dispose()
