"""A throwaway PostgreSQL cluster for the tests, from Debian's package: ``initdb`` into a temporary
directory, ``pg_ctl start`` on a Unix socket in it and a free port on 127.0.0.1 (both for this
cluster only), run as the ``postgres`` user when the tests run as root (PostgreSQL refuses root),
and ``pg_ctl stop`` at the end. Each test gets a fresh database owned by a role without superuser
rights, as the README's grants describe."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    cands = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return cands[-1] if cands else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    ROLE = "feedsvc"

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        self.as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="feedsvc-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.n = 0
        if self.as_root:
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o755)

    @property
    def available(self) -> bool:
        if not (self.initdb and self.pg_ctl):
            return False
        if self.as_root:
            try:
                import pwd

                pwd.getpwnam("postgres")
            except KeyError:
                return False
        return True

    def _run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=timeout,
                              cwd=self.dir, env={**os.environ, "LC_ALL": "C.UTF-8"})

    def start(self) -> None:
        assert self.initdb and self.pg_ctl
        self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(self.pg_ctl, "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start")
        self.sql("postgres", f"CREATE ROLE {self.ROLE} LOGIN")

    def stop(self, mode: str = "fast") -> None:
        if self.data.exists() and self.pg_ctl:
            self._run(self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart_later(self) -> None:
        """Start it again after ``stop`` (same port and data)."""
        assert self.pg_ctl
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(self.pg_ctl, "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start")

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def sql(self, db: str, statement: str) -> str:
        psql = find_bin("psql") or "psql"
        r = self._run(psql, "-h", str(self.dir), "-p", str(self.port), "-U", "postgres", "-d", db,
                      "-v", "ON_ERROR_STOP=1", "-Atc", statement)
        return r.stdout.strip()

    def new_database(self) -> str:
        """A fresh database the feedsvc role owns; returns its libpq URL (over TCP, no password)."""
        self.n += 1
        name = f"t{self.n}_{int(time.time() * 1000) % 100000}"
        self.sql("postgres", f"CREATE DATABASE {name} OWNER {self.ROLE} TEMPLATE template0")
        return f"postgresql://{self.ROLE}@127.0.0.1:{self.port}/{name}"
