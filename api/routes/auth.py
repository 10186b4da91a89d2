"""``/auth``: OAuth2 password flow and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordRequestForm

from api.auth import CurrentUser, issue_token
from geo.users import login

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token")
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict:
    """Exchange ``username`` and ``password`` (form fields) for a bearer token."""
    user = login(request.app.state.engine, username=form.username, password=form.password)
    return {"access_token": issue_token(user, request.app.state.settings), "token_type": "bearer",
            "expires_in": request.app.state.settings.jwt_ttl_s}


@router.post("/refresh")
def refresh(request: Request, user: CurrentUser) -> dict:
    """A fresh token for a valid one (the pages renew theirs before it expires; 401 without one).

    The user is looked up again, so a disabled account cannot renew.
    """
    if user is None:
        raise HTTPException(status_code=401, detail="not authenticated", headers={"WWW-Authenticate": "Bearer"})
    return {"access_token": issue_token(user, request.app.state.settings), "token_type": "bearer",
            "expires_in": request.app.state.settings.jwt_ttl_s}


@router.get("/me")
def me(user: CurrentUser) -> dict:
    """The authenticated user (401 without a token)."""
    if user is None:
        raise HTTPException(status_code=401, detail="not authenticated", headers={"WWW-Authenticate": "Bearer"})
    return {"id": user.id, "username": user.username, "role": user.role, "jurisdiction": user.jurisdiction,
            "enterprise_id": user.enterprise_id}
