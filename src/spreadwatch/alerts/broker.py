"""A Mosquitto broker for the home bridge: its configuration folder and a supervised process.

``init_broker`` writes, below one folder::

    mosquitto.conf      listener on a loopback port (TLS optional), no anonymous clients,
                        persistence on, generous queues for persistent sessions
    passwd              hashed passwords (mosquitto_passwd): the bridge and one user per household
    acl                 the bridge reads and writes sw/#; a household only its own topics
    data/               the broker's persistence (sessions, queued QoS 1 messages, retained)
    tls/                copies of the TLS certificate and key (when given)
    secrets/bridge.json the bridge's own credentials (mode 0600)

The broker never runs as root: started by root, Mosquitto drops to an unprivileged account
(:func:`broker_user`: Debian's ``mosquitto``, else ``nobody``), which is given the files it
reads and writes (and must be able to reach the folder: ``init_broker`` checks).

Households log in as their household's topic id (the pseudonym of ``platform:household_id``),
so neither these files nor any topic carries a raw household ID; the platform-side provisioning
file that maps raw IDs to credentials is written by :mod:`spreadwatch.ingest.provision`.
"""

from __future__ import annotations

import ctypes
import getpass
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from spreadwatch.alerts import topics

BRIDGE_USER = "spreadwatch-bridge"
#: QoS 1 messages the broker keeps per offline persistent session (Mosquitto's default is 1000).
MAX_QUEUED_MESSAGES = 1_000_000
#: Largest MQTT packet the broker accepts (a household's message is under a kilobyte; the
#: bridge's notices a few): a client sending more is disconnected.
MAX_PACKET_BYTES = 256 * 1024


class BrokerError(RuntimeError):
    """The broker could not be configured or started."""


@dataclass(frozen=True)
class BrokerConfig:
    """Where a configured broker listens and how the bridge logs in."""

    folder: Path
    host: str
    port: int
    username: str
    password: str
    tls_ca: Path | None = None

    @classmethod
    def load(cls, folder: Path) -> BrokerConfig:
        """The configuration ``init_broker`` wrote to ``folder``."""
        path = Path(folder) / "secrets" / "bridge.json"
        try:
            data = json.loads(path.read_text())
            return cls(
                folder=Path(folder),
                host=data["host"],
                port=int(data["port"]),
                username=data["username"],
                password=data["password"],
                tls_ca=Path(data["tls_ca"]) if data.get("tls_ca") else None,
            )
        except FileNotFoundError as exc:
            raise BrokerError(
                f"{path}: missing; configure the broker first (spreadwatch bridge init)"
            ) from exc
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise BrokerError(f"{path}: expected the JSON written by bridge init ({exc})") from None

    @property
    def conf_file(self) -> Path:
        return self.folder / "mosquitto.conf"


def mosquitto_binary() -> str:
    """Path of the ``mosquitto`` executable (Debian installs it in /usr/sbin)."""
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if found is None:
        raise BrokerError("mosquitto is not installed (Debian: apt-get install mosquitto)")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def broker_user() -> str | None:
    """The account Mosquitto runs as when root starts it (never root itself): Debian's
    ``mosquitto``, else ``nobody``; ``None`` when not root (it runs as the caller)."""
    if os.geteuid() != 0:
        return None
    for name in ("mosquitto", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise BrokerError("running as root, and no unprivileged account (mosquitto, nobody) to run "
                      "the broker as")  # fmt: skip


def _check_reachable(folder: Path, user: str) -> None:
    """``BrokerError`` unless ``user`` can pass through every folder above ``folder``."""
    account = pwd.getpwnam(user)
    groups = {account.pw_gid, *(g.gr_gid for g in _groups_of(user))}
    for parent in [*reversed(folder.parents)]:
        info = parent.stat()
        if info.st_uid == account.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            raise BrokerError(
                f"{folder}: the broker runs as user {user} (never as root), who cannot reach "
                f"{parent} (mode {stat.filemode(info.st_mode)}); choose a folder it can reach, "
                "such as /var/lib/spreadwatch/bridge, or let it through (chmod o+x "
                f"{parent})"
            )


def _groups_of(user: str) -> list:
    import grp

    return [g for g in grp.getgrall() if user in g.gr_mem]


def hand_over(folder: Path) -> None:
    """Give the files the broker reads and writes to the account it runs as (when root starts
    it): the password file, ACL, configuration, TLS copies, log and persistence folder."""
    user = broker_user()
    if user is None:
        return
    account = pwd.getpwnam(user)
    log = folder / "mosquitto.log"
    log.touch(mode=0o600, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    owned = [folder / "passwd", folder / "acl", folder / "mosquitto.conf", log, folder / "data"]
    owned += [*(folder / "data").rglob("*"), *(folder / "tls").glob("*")]
    for path in (p for p in owned if p.exists()):
        os.chown(path, account.pw_uid, account.pw_gid)


def init_broker(
    folder: Path,
    households: Iterable[tuple[str, str]],
    port: int = 1883,
    host: str = "127.0.0.1",
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> BrokerConfig:
    """Write the broker's configuration for ``households`` (``(username, password)`` pairs, as
    provisioned) and a fresh bridge password; returns how to reach it."""
    if (tls_cert is None) != (tls_key is None):
        raise BrokerError("--tls-cert and --tls-key go together")
    for path in (p for p in (tls_cert, tls_key) if p is not None):
        if not Path(path).is_file():
            raise BrokerError(f"{path}: no such file")
    if not 0 < port < 65536:
        raise BrokerError(f"port {port}: expected 1 to 65535")
    folder = Path(folder).resolve()
    runner = broker_user()
    folder.mkdir(parents=True, exist_ok=True)
    if runner is not None:
        _check_reachable(folder, runner)
    (folder / "data").mkdir(exist_ok=True)
    (folder / "secrets").mkdir(mode=0o700, exist_ok=True)
    if tls_cert is not None and tls_key is not None:  # the broker's user may not read the originals
        (folder / "tls").mkdir(mode=0o700, exist_ok=True)
        for source, name in ((tls_cert, "cert.pem"), (tls_key, "key.pem")):
            _write_private(folder / "tls" / name, Path(source).read_text())
        if runner is not None:
            os.chown(folder / "tls", pwd.getpwnam(runner).pw_uid, pwd.getpwnam(runner).pw_gid)
    bridge_password = secrets.token_urlsafe(24)
    users = [(BRIDGE_USER, bridge_password), *households]
    for name, _ in users:
        if not name or ":" in name or any(c.isspace() for c in name):
            raise BrokerError(f"user name {name!r}: expected no colon or white space")
    _write_private(folder / "passwd", "".join(f"{u}:{p}\n" for u, p in users))
    _run([_passwd_binary(), "-U", str(folder / "passwd")], "hashing the password file")
    _write_private(folder / "acl", _acl())
    _write_private(folder / "mosquitto.conf", _conf(folder, host, port, runner, bool(tls_cert)))
    hand_over(folder)
    config = {
        "host": host,
        "port": port,
        "username": BRIDGE_USER,
        "password": bridge_password,
        "tls_ca": str(Path(tls_cert).resolve()) if tls_cert else None,
    }
    _write_private(folder / "secrets" / "bridge.json", json.dumps(config, indent=1) + "\n")
    return BrokerConfig.load(folder)


def _passwd_binary() -> str:
    found = shutil.which("mosquitto_passwd")
    if found is None:
        raise BrokerError("mosquitto_passwd is not installed (Debian package mosquitto)")
    return found


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise BrokerError(f"{what} failed: {done.stderr.strip() or done.stdout.strip()}")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _acl() -> str:
    home = topics.HOME_PATTERN
    return "\n".join(
        [
            "# spreadwatch home bridge: written by `spreadwatch bridge init`",
            f"user {BRIDGE_USER}",
            f"topic readwrite {topics.ROOT}/#",
            "",
            "# every household (user name = its topic id) reaches only its own topics",
            f"pattern write {home}/{topics.TELEMETRY}",
            f"pattern write {home}/{topics.VOICE_REQUEST}",
            f"pattern read {home}/{topics.ALERTS}",
            f"pattern read {home}/{topics.VOICE_RESPONSE}",
            f"pattern read {topics.STATUS}/#",
            "",
        ]
    )


def _conf(folder: Path, host: str, port: int, runner: str | None, tls: bool) -> str:
    lines = [
        "# spreadwatch home bridge: written by `spreadwatch bridge init`",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {folder / 'passwd'}",
        f"acl_file {folder / 'acl'}",
        "persistence true",
        f"persistence_location {folder / 'data'}/",
        "autosave_interval 30",
        f"max_queued_messages {MAX_QUEUED_MESSAGES}",
        "max_inflight_messages 0",
        "# no message of a home or of the bridge is larger",
        f"max_packet_size {MAX_PACKET_BYTES}",
        "persistent_client_expiration 14d",
        f"user {runner or getpass.getuser()}",
        f"log_dest file {folder / 'mosquitto.log'}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
        f"listener {port} {host}",
    ]
    if tls:
        lines += [
            f"certfile {folder / 'tls' / 'cert.pem'}",
            f"keyfile {folder / 'tls' / 'key.pem'}",
        ]
    return "\n".join(lines) + "\n"


# --- a supervised broker process --------------------------------------------------------------


def port_is_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be listened on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _stop_with_parent() -> None:
    """In the child, before mosquitto starts: SIGTERM when the parent dies (Linux)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not glibc Linux: the caller's stop() remains the way to stop it
        pass


PR_SET_PDEATHSIG = 1


class Broker:
    """A Mosquitto process running one configuration folder."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Start the broker and wait until its port accepts connections. A port already in
        use (another broker of this folder, or anything else) is a :class:`BrokerError`; the
        broker stops when this process dies, however it dies (Linux's parent-death signal)."""
        if not port_is_free(self.config.host, self.config.port):
            raise BrokerError(
                f"{self.config.host}:{self.config.port} is in use: is another broker of "
                f"{self.config.folder} running? (stop it, or choose another port at bridge init)"
            )
        hand_over(self.config.folder)  # a persistence folder made anew by root, for one
        runner = broker_user()
        # root starts it as its account at once (rather than letting mosquitto drop to it), so
        # that the parent-death signal, set after the change, survives
        account = pwd.getpwnam(runner) if runner else None
        self.process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self.config.conf_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_stop_with_parent,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise BrokerError(f"mosquitto exited at start: {err.strip() or self._log_tail()}")
            try:
                with socket.create_connection((self.config.host, self.config.port), 0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on port {self.config.port} in {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM: the broker saves its persistence file first)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def _log_tail(self) -> str:
        log = self.config.folder / "mosquitto.log"
        return log.read_text()[-2000:] if log.exists() else "(no log)"


@contextmanager
def running(config: BrokerConfig) -> Iterator[Broker]:
    """A started broker, stopped on exit."""
    broker = Broker(config)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
