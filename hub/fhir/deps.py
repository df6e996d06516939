"""FastAPI dependencies of the FHIR routes: the settings and a database session per request.

The session is closed after the response; whatever the route did not commit is rolled back. Routes that
write commit themselves (the caller owns the transaction).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from hub.config import Settings, get_settings
from hub.db import get_sessionmaker


def request_settings(request: Request) -> Settings:
    """The app's settings (``app.state.settings``, as :func:`hub.app.create_app` sets them), else the process's."""
    settings = getattr(request.app.state, "settings", None)
    return settings if isinstance(settings, Settings) else get_settings()


SettingsDep = Annotated[Settings, Depends(request_settings)]


def get_session(settings: SettingsDep) -> Iterator[Session]:
    """A session for one request."""
    session = get_sessionmaker(settings)()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]
