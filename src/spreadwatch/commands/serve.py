"""``spreadwatch serve``: the REST API and the operations dashboard over a workspace."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from spreadwatch.commands import fail
from spreadwatch.commands.tracing import ACCESS_ENV
from spreadwatch.progress import console


def serve(
    workspace: Annotated[
        Path,
        typer.Argument(help="Folder of pipeline outputs in the demo's layout (docs/api.md)."),
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free port).")] = 8000,
    access: Annotated[
        Path | None,
        typer.Option(
            envvar=ACCESS_ENV,
            help=f"Token registry and audit log (default WORKSPACE/access, or ${ACCESS_ENV}).",
        ),
    ] = None,
    alerts: Annotated[
        Path | None,
        typer.Option(
            help="Alert log of the home bridge (default WORKSPACE/bridge/alert_log.jsonl)."
        ),
    ] = None,
    require_token: Annotated[
        bool, typer.Option(help="Refuse anonymous callers (by default they are public).")
    ] = False,
    max_waiting_jobs: Annotated[
        int, typer.Option(min=1, max=100, help="Scenario runs queued at most.")
    ] = 4,
) -> None:
    """Serve the REST API (/api/v1, OpenAPI at /openapi.json, docs at /docs) and the
    dashboard (/) over WORKSPACE: token roles, audit log, problem+json errors."""
    import socket

    import uvicorn

    from spreadwatch.api import create_app

    if not workspace.is_dir():
        raise fail(f"{workspace}: no such folder (run `spreadwatch demo --out {workspace}`)")
    app = create_app(
        workspace,
        access if access is not None else workspace / "access",
        alerts,
        anonymous=not require_token,
        max_waiting_jobs=max_waiting_jobs,
        freeze_tables=True,
    )
    try:
        sock = socket.create_server((host, port), reuse_port=False)
        # accepted connections inherit this: without it, keep-alive responses written in two
        # parts wait ~40 ms for the client's delayed ACK
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    bound = sock.getsockname()[1]
    os.environ.setdefault("SPREADWATCH_QUIET", "1")
    console.print(
        f"serving [bold]{workspace}[/] on http://{host}:{bound}/ "
        f"(dashboard /, API /api/v1, docs /docs); Ctrl-C stops"
    )
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])


#: The commands of this module, by name (registered in :mod:`spreadwatch.cli`).
COMMANDS = {"serve": serve}
