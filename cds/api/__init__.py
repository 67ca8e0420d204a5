"""The HTTP layer: the only part of the service that knows about HTTP."""

from cds.api.app import create_app

__all__ = ["create_app"]
