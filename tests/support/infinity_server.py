"""Start and stop a real Infinity server (``infinity_emb v2``) on 127.0.0.1 for tests and benchmarks.

The server runs from its own virtual environment (infinity-emb 0.0.78 + colpali-engine 0.3.8): env
``MULTIVEC_INFINITY_VENV``, else ``~/.cache/multivec-ci/infinity`` when that directory exists. It is started on a
free port with ``--engine torch --device cpu --no-model-warmup``, offline (``HF_HUB_OFFLINE=1``) and without
telemetry (``DO_NOT_TRACK=1``), and stopped (process group terminated, then killed) on exit.

Example::

    >>> from tests.support.infinity_server import InfinityServer, infinity_venv
    >>> with InfinityServer(infinity_venv(), {"tiny-colpali": "/tmp/models/tiny-colpali"}) as server:  # doctest: +SKIP
    ...     print(server.url)
    http://127.0.0.1:40123
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx

__all__ = ["InfinityServer", "InfinityServerError", "free_port", "infinity_venv"]

DEFAULT_VENV = Path.home() / ".cache" / "multivec-ci" / "infinity"


class InfinityServerError(RuntimeError):
    """The server could not be found or did not come up; the message includes the tail of its log."""


def infinity_venv() -> Path | None:
    """The Infinity venv: ``$MULTIVEC_INFINITY_VENV``, else the default cache dir if it exists, else ``None``."""
    configured = os.environ.get("MULTIVEC_INFINITY_VENV")
    if configured:
        return Path(configured)
    return DEFAULT_VENV if DEFAULT_VENV.is_dir() else None


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class InfinityServer:
    """One ``infinity_emb v2`` process serving ``models`` (served name → local model dir) on 127.0.0.1.

    ``api_key`` starts it with ``--api-key``. ``threads`` caps torch/OMP threads in the server (the test machine is
    small). ``start()`` waits for ``GET /health`` and raises :class:`InfinityServerError` with the log tail if the
    process dies or ``startup_timeout`` passes; ``stop()`` is idempotent.
    """

    def __init__(
        self,
        venv: Path | str | None,
        models: Mapping[str, Path | str],
        *,
        api_key: str | None = None,
        threads: int = 1,
        startup_timeout: float = 240.0,
        log_dir: Path | str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        if venv is None:
            raise InfinityServerError(
                "no Infinity venv: set MULTIVEC_INFINITY_VENV or build ~/.cache/multivec-ci/infinity "
                "(bash scripts/dev test builds it)"
            )
        self.executable = Path(venv) / "bin" / "infinity_emb"
        if not self.executable.is_file():
            raise InfinityServerError(f"{self.executable} does not exist; is {venv} an infinity-emb venv?")
        if not models:
            raise InfinityServerError("pass at least one model")
        self.models = {name: Path(path) for name, path in models.items()}
        self.api_key = api_key
        self.threads = threads
        self.startup_timeout = startup_timeout
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="infinity-server-"))
        self.extra_args = extra_args
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.log_dir / "infinity.log"

    @property
    def url(self) -> str:
        if self.port is None:
            raise InfinityServerError("the server is not started")
        return f"http://127.0.0.1:{self.port}"

    def command(self, port: int) -> list[str]:
        cmd = [str(self.executable), "v2", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--engine", "torch", "--device", "cpu", "--no-model-warmup"]
        for name, path in self.models.items():
            cmd += ["--model-id", str(path), "--served-model-name", name]
        if self.api_key:
            cmd += ["--api-key", self.api_key]
        return [*cmd, *self.extra_args]

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFINITY_")}
        threads = str(self.threads)
        env.update(
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            DO_NOT_TRACK="1",
            INFINITY_ANONYMOUS_USAGE_STATS="0",
            TOKENIZERS_PARALLELISM="false",
            OMP_NUM_THREADS=threads,
            MKL_NUM_THREADS=threads,
            PYTHONUNBUFFERED="1",
        )
        return env

    def start(self) -> InfinityServer:
        """Start on a free port (retried on a port race) and wait until ``/health`` answers."""
        last: InfinityServerError | None = None
        for _ in range(3):
            self.port = free_port()
            self.log_dir.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "wb") as log:
                self.process = subprocess.Popen(
                    self.command(self.port),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.environment(),
                    start_new_session=True,  # own process group: stop() ends it and its children only
                )
            try:
                self._wait_healthy()
                return self
            except InfinityServerError as err:
                self.stop()
                last = err
                if "address already in use" not in self.log_tail().lower():
                    break
        assert last is not None
        raise last

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise InfinityServerError(
                        f"Infinity exited with code {self.process.returncode} during startup; log "
                        f"{self.log_path}:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.url}/health").status_code == 200:
                        return
                time.sleep(0.25)
        raise InfinityServerError(
            f"Infinity did not answer /health within {self.startup_timeout:.0f}s; log {self.log_path}:\n"
            f"{self.log_tail()}"
        )

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 15.0) -> None:
        """Terminate the server's process group; kill it if it does not exit within ``timeout``."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)

    def __enter__(self) -> InfinityServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
