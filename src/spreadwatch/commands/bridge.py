"""``spreadwatch bridge``: the home bridge over MQTT (broker set-up, bridge, fleet simulator)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from spreadwatch.commands import fail
from spreadwatch.progress import console

bridge_app = typer.Typer(
    help="Home bridge over MQTT: Mosquitto set-up, telemetry in, alerts and voice answers out.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

Folder = Annotated[Path, typer.Argument(help="The bridge folder (written by `bridge init`).")]
KeyFile = Annotated[
    Path | None,
    typer.Option(help="Pseudonym key file (default ~/.config/spreadwatch/pseudonym.key)."),
]


def _keyring(key_file: Path | None):
    from spreadwatch.privacy.pseudonym import KeyRing, load_key

    try:
        return KeyRing(load_key(key_file))
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from exc


@bridge_app.command("init")
def init(
    folder: Folder,
    households: Annotated[
        list[str],
        typer.Option(
            "--households", help="Platform registry files (the households contract); repeatable."
        ),
    ],
    port: Annotated[int, typer.Option(help="Port the broker listens on.")] = 1883,
    host: Annotated[str, typer.Option(help="Address the broker listens on.")] = "127.0.0.1",
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate: listen with TLS.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert.")] = None,
    key_file: KeyFile = None,
) -> None:
    """Configure a Mosquitto broker: password file, per-household ACLs, persistence.

    Every household of the registry gets a user (its topic id, the pseudonym of its platform
    and ID) and a password; FOLDER/secrets/households.csv maps raw household IDs to them for
    the platforms to provision their devices (keep it as protected as raw data). Start the
    broker with `spreadwatch bridge broker FOLDER` (or mosquitto -c FOLDER/mosquitto.conf).
    """
    from spreadwatch.alerts.broker import BrokerError, init_broker
    from spreadwatch.ingest import RawFileError
    from spreadwatch.ingest.provision import provision

    keyring = _keyring(key_file)
    try:
        creds = provision(households, keyring, folder / "secrets" / "households.csv")
        config = init_broker(
            folder,
            [(c.username, c.password) for c in creds],
            port=port,
            host=host,
            tls_cert=tls_cert,
            tls_key=tls_key,
        )
    except (RawFileError, BrokerError) as exc:
        raise fail(str(exc)) from exc
    console.print(
        f"configured a broker for [bold]{len(creds)}[/] households on {config.host}:{config.port}"
        f"{' with TLS' if tls_cert else ''}; wrote [bold]{config.conf_file}[/]"
    )


@bridge_app.command("broker")
def broker(folder: Folder) -> None:
    """Run the configured Mosquitto broker in the foreground (Ctrl-C stops it)."""
    from spreadwatch.alerts.broker import Broker, BrokerConfig, BrokerError

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # stop mosquitto too, then exit (a signal
        signal.signal(signum, lambda *_: stop.set())  # while it starts included)
    try:
        running = Broker(BrokerConfig.load(folder))
        running.start()
    except BrokerError as exc:
        raise fail(str(exc)) from exc
    console.print(f"mosquitto listening on {running.config.host}:{running.config.port}")
    try:
        while running.process is not None and running.process.poll() is None and not stop.is_set():
            stop.wait(0.5)
    finally:
        running.stop()


@bridge_app.command("run")
def run(
    folder: Folder,
    store: Annotated[
        Path,
        typer.Option(
            help="The ingest store: households, their members and cases are read from it, "
            "telemetry is written to it."
        ),
    ] = Path("out/store"),
    levels: Annotated[
        Path | None,
        typer.Option(help="Risk levels (Parquet from `spreadwatch risk`), watched for changes."),
    ] = None,
    notices: Annotated[
        Path | None,
        typer.Option(
            help="Traveler notices (Parquet from `spreadwatch notices`), watched for changes: "
            "each member's notice goes to their households once."
        ),
    ] = None,
    air: Annotated[
        Path | None,
        typer.Option(
            help="Fine-dust folder (`spreadwatch air assess` output), watched for changes: a "
            "region whose PM2.5 grade rises to bad or very bad alerts its households."
        ),
    ] = None,
    notice_days: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=60,
            help="Look-back window the notices speak of, for a notices file that does not "
            "state it (`spreadwatch notices` files do); default 14.",
        ),
    ] = None,
    batch_messages: Annotated[
        int, typer.Option(min=1, help="Commit a batch at this many messages...")
    ] = 5000,
    flush_seconds: Annotated[
        float, typer.Option(min=0.01, help="...or when its first message waited this long.")
    ] = 1.0,
    seconds: Annotated[
        float | None, typer.Option(min=0.0, help="Stop after this long (default: until Ctrl-C).")
    ] = None,
    key_file: KeyFile = None,
) -> None:
    """Serve the bridge: telemetry into the store, alerts on level rises, fine-dust grade rises
    and traveler notices, voice answers.

    Telemetry of both platforms is validated and pseudonymised into the store's telemetry
    (opted-out households dropped and counted, malformed messages quarantined), acknowledged
    to the broker only once committed. A member's traveler notice reaches the households that
    registered their subscription (the store's household_members). Stops cleanly on Ctrl-C or
    SIGTERM.
    """
    from spreadwatch.alerts.broker import BrokerError
    from spreadwatch.alerts.service import BridgeService

    keyring = _keyring(key_file)
    try:
        service = BridgeService(
            folder,
            store,
            keyring,
            levels,
            batch_messages,
            flush_seconds,
            notices_file=notices,
            notice_days=notice_days,
            air_dir=air,
        )
    except (BrokerError, ValueError) as exc:
        raise fail(str(exc)) from exc
    stopping = {"now": False}

    def stop(*_args: object) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deadline = None if seconds is None else time.monotonic() + seconds
    where = f"{service.config.host}:{service.config.port}"

    def should_stop() -> bool:
        return stopping["now"] or (deadline is not None and time.monotonic() > deadline)

    try:
        service.run(should_stop, on_ready=lambda: console.print(f"bridge ready on {where}"))
    except (ConnectionError, OSError) as exc:
        raise fail(f"broker {where}: {exc}") from exc
    stats = service.bridge.stats
    totals = service.bridge.stream.totals
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(totals.items())) or "none"
    console.print(
        f"telemetry messages {stats.telemetry} ({outcomes}) in {stats.batches} batches; "
        f"voice requests {stats.voice_requests}; alerts sent {service.alerts_sent}"
    )
    if air is not None:
        console.print(f"fine-dust alerts sent {service.air_alerts_sent}")
    if notices is not None:
        last = service.last_notices
        unreachable = last.unreachable if last is not None else 0
        console.print(
            f"traveler notices sent {service.notices_sent}; households with a listed member "
            f"but not in the store's households (nothing sent) {unreachable}"
        )


@bridge_app.command("fleet")
def fleet(
    folder: Folder,
    telemetry: Annotated[
        list[Path],
        typer.Option("--telemetry", help="Raw device_telemetry files to replay; repeatable."),
    ],
    households: Annotated[
        int, typer.Option(min=1, max=300, help="Homes to simulate (one connection each).")
    ] = 100,
    limit: Annotated[int | None, typer.Option(min=1, help="Publish at most this many.")] = None,
    rate: Annotated[
        float | None, typer.Option(min=0.1, help="Messages per second (default: flat out).")
    ] = None,
) -> None:
    """Simulate homes: replay generated telemetry as live platform messages, QoS 1.

    Each household publishes with its own credentials (FOLDER/secrets/households.csv) to its own
    topic, in its platform's JSON; the generator's messy rows go out as malformed messages.
    """
    from spreadwatch.alerts.broker import BrokerConfig, BrokerError
    from spreadwatch.alerts.fleet import Fleet, read_provisioning, read_rows

    try:
        config = BrokerConfig.load(folder)
        logins = read_provisioning(folder / "secrets" / "households.csv")
    except (BrokerError, FileNotFoundError, KeyError) as exc:
        raise fail(str(exc)) from exc
    for path in telemetry:
        if not path.is_file():
            raise fail(f"--telemetry {path}: no such file")
    simulator = Fleet(config.host, config.port, logins, households)
    try:
        report = simulator.publish(read_rows(telemetry), limit=limit, rate=rate)
    except (ConnectionError, OSError) as exc:
        raise fail(f"broker {config.host}:{config.port}: {exc}") from exc
    finally:
        simulator.close()
    console.print(
        f"{report.households} homes published {report.published} messages "
        f"({report.acknowledged} acknowledged) in {report.seconds:.1f} s"
    )


#: The commands of this module, by name (registered in :mod:`spreadwatch.cli`).
GROUPS = {"bridge": bridge_app}
