"""The REST API and the operations dashboard (``spreadwatch serve``): FastAPI over the
outputs of a workspace folder, token roles from :mod:`spreadwatch.access`."""

from spreadwatch.api.app import create_app
from spreadwatch.api.workspace import DATASETS, Workspace

__all__ = ["DATASETS", "Workspace", "create_app"]
