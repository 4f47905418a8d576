"""A real, throwaway PostgreSQL server for the tests of `dlcli tune`'s multi-worker storage.

SQLite cannot show what parallel Optuna workers do to a shared study, so the session starts its own
server from the Debian package's binaries on a free localhost port, with trust auth and a private
data directory; nothing on the machine's own clusters is touched. `.ci/run` installs the package;
where it is missing the tests skip with SKIP_REASON instead of installing anything themselves.
"""
from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from contextlib import closing
from glob import glob
from pathlib import Path

import pytest

SKIP_REASON = "PostgreSQL server binaries not installed (apt-get install postgresql); .ci/run installs them"
DB_USER = "postgres"  # the superuser initdb creates (-U), whatever OS account runs the server
SERVICE_ACCOUNT = "postgres"  # the account the Debian package creates; PostgreSQL refuses to run as root
START_TIMEOUT_S = 20


def find_pg_bindir() -> Path | None:
    """The folder holding pg_ctl and initdb: PATH first, else the newest /usr/lib/postgresql/<major>/bin.

    Debian keeps them off PATH (only its pg_ctlcluster wrappers are there), hence the glob.
    """
    candidates = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    debian = glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(d) for d in sorted(debian, key=_major_version, reverse=True)]
    for bindir in candidates:
        if (bindir / "pg_ctl").is_file() and (bindir / "initdb").is_file():
            return bindir
    return None


def _major_version(bindir: str) -> int:
    match = re.search(r"/postgresql/(\d+)/", bindir)
    return int(match.group(1)) if match else -1


def _server_account() -> str | None:
    """Who runs initdb/postgres: None means the current (non-root) user, else an unprivileged account."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_ACCOUNT)
    except KeyError:  # binaries present without the package's account (e.g. built from source)
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--shell", "/usr/sbin/nologin", SERVICE_ACCOUNT], check=True)
    return SERVICE_ACCOUNT


def _run_as(account: str | None, cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run a server tool as `account`; cwd is the server's own folder so it never needs to read ours."""
    if account is not None:
        cmd = ["runuser", "-u", account, "--", *cmd]
    env = {**os.environ, "LC_ALL": "C"}  # initdb fails on a LANG whose locale is not generated
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)


def _free_port() -> int:
    # The kernel picks an unused port; the tiny window before postgres binds it is acceptable here.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(bindir: Path, root: Path, account: str | None, port: int) -> None:
    """initdb + pg_ctl start with the data in root/data; returns once the server accepts connections."""
    data, log = root / "data", root / "server.log"
    steps = [
        [str(bindir / "initdb"), "-D", str(data), "-U", DB_USER, "--auth=trust",
         "--encoding=UTF8", "--locale=C", "--no-sync"],  # no fsync: the data is thrown away
        [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", str(START_TIMEOUT_S),
         "-o", f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root}"
               " -c fsync=off", "start"],
    ]
    for cmd in steps:
        done = _run_as(account, cmd, cwd=root)
        if done.returncode != 0:
            server_log = log.read_text() if log.exists() else ""
            raise RuntimeError(f"{Path(cmd[0]).name} failed ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}{server_log}")


def _stop_server(bindir: Path, root: Path, account: str | None) -> None:
    # Always tried, even after a failed start: pg_ctl -w may give up on a postmaster that still runs.
    # "immediate": nothing in a throwaway cluster is worth a clean shutdown.
    _run_as(account, [str(bindir / "pg_ctl"), "-D", str(root / "data"), "stop", "-m", "immediate"], cwd=root)


def _admin_sql(url, statement: str, database: str) -> None:
    """Run CREATE/DROP DATABASE `database` on the server: they need autocommit, outside any database's own."""
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(host=url.host, port=url.port, user=url.username, dbname="postgres")
    conn.autocommit = True
    with closing(conn), conn.cursor() as cur:
        cur.execute(sql.SQL(statement).format(sql.Identifier(database)))


@pytest.fixture(scope="session")
def postgres_url():
    """postgresql+psycopg2://postgres@127.0.0.1:PORT/dlcli_test on a server private to this session."""
    from sqlalchemy.engine import make_url

    bindir = find_pg_bindir()
    if bindir is None:
        pytest.skip(SKIP_REASON)
    account = _server_account()
    # Not tmp_path_factory: its folders are 0700 and owned by us, so the service account could not enter.
    root = Path(tempfile.mkdtemp(prefix="dlcli-pg-"))
    if account is not None:
        shutil.chown(root, user=account, group=pwd.getpwnam(account).pw_gid)
    url = make_url(f"postgresql+psycopg2://{DB_USER}@127.0.0.1:{_free_port()}/dlcli_test")
    try:
        _start_server(bindir, root, account, url.port)
        _admin_sql(url, "CREATE DATABASE {}", url.database)
        yield url.render_as_string(hide_password=False)
    finally:
        _stop_server(bindir, root, account)
        shutil.rmtree(root, ignore_errors=True)


def _database_name(nodeid: str) -> str:
    """A valid, unique, at most 63-byte name: the sanitised test name plus a hash of the full node id."""
    stem = re.sub(r"[^a-z0-9_]+", "_", nodeid.split("::")[-1].lower()).strip("_")[:40]
    return f"t_{stem}_{hashlib.sha1(nodeid.encode()).hexdigest()[:8]}"


@pytest.fixture
def fresh_postgres_db(postgres_url, request):
    """URL of a new empty database on the session's server, dropped after the test."""
    from sqlalchemy.engine import make_url

    server = make_url(postgres_url)
    name = _database_name(request.node.nodeid)
    _admin_sql(server, "CREATE DATABASE {}", name)
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        # FORCE: the test process's SQLAlchemy pool (Optuna's RDBStorage) may still hold connections.
        _admin_sql(server, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
