"""The ASGI app for uvicorn: ``uvicorn app.main:app`` (settings from the environment)."""

from .api import create_app

app = create_app()
