"""FastAPI dependencies, exposed as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.auth import ContextDep, CurrentUser, request_context

__all__ = ["SessionDep", "get_session", "ContextDep", "CurrentUser", "request_context"]


def get_session(request: Request, ctx: ContextDep) -> Iterator[Session]:
    """One session per request; every transaction it begins carries the request context (RLS, audit)."""
    with request.app.state.sessions() as session:
        session.info["ctx"] = ctx
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
