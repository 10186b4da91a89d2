"""FastAPI dependencies, exposed as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

__all__ = ["SessionDep", "get_session"]


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, in one transaction; committed by the service caller."""
    with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
