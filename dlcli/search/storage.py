"""`--storage`: a journal file path or a database URL, checked before anything is written.

A value that starts like a URL (`word:`) is a URL and must be a whole one: `postgresql:/x` is a
typo, not a journal file named `postgresql:`. The database driver is imported here, so a
missing one is exit 2 naming the package to install rather than an ImportError mid-run.
"""
from __future__ import annotations

import re
from typing import Any, Optional

from dlcli.errors import UsageError
from dlcli.registry import closest

# SQLAlchemy's own dialects, the ones Optuna's RDBStorage is tested against first
SCHEMES = ("postgresql", "mysql", "mariadb", "sqlite", "oracle", "mssql")
DRIVERS = {"postgresql": ["psycopg", "psycopg2", "pg8000"], "mysql": ["mysqldb", "pymysql", "mysqlconnector"],
           "mariadb": ["mysqldb", "pymysql", "mariadbconnector"], "sqlite": ["pysqlite"],
           "oracle": ["oracledb", "cx_oracle"], "mssql": ["pyodbc", "pymssql"]}
# the module a dialect imports -> what to pip install for it
PACKAGES = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary", "pg8000": "pg8000",
            "MySQLdb": "mysqlclient", "pymysql": "PyMySQL", "mysql": "mysql-connector-python",
            "mariadb": "mariadb", "oracledb": "oracledb", "cx_Oracle": "cx_Oracle", "pyodbc": "pyodbc",
            "pymssql": "pymssql"}
FORMS = ("accepted forms: a journal file path (e.g. studies/x/study.journal; the default), "
         "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE, mysql://USER@HOST/DATABASE, sqlite:///FILE.db, "
         "or SCHEME+DRIVER://... (e.g. postgresql+psycopg2://...)")
# `word:` at the start; one letter is a Windows drive (C:\...), which is a path
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")


def scheme(url: str) -> Optional[str]:
    """The URL scheme of `url` ("postgresql+psycopg"), or None for a journal file path."""
    m = _SCHEME.match(url)
    return m.group(1) if m else None


def masked(url: str) -> str:
    """`url` without its password, for messages."""
    return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url)


def check(url: str) -> None:
    """Exit 2 (UsageError) unless `url` is a journal path or a database URL that can be opened."""
    if not url.strip():
        raise UsageError(f"--storage is empty; {FORMS}")
    name = scheme(url)
    if name is None:
        return
    backend = name.partition("+")[0]
    if backend.lower() not in SCHEMES:
        near = closest(backend.lower(), list(SCHEMES))
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        raise UsageError(f"--storage {masked(url)}: unknown storage scheme '{backend}'{hint}; {FORMS}")
    if not url[len(name) + 1:].startswith("//"):
        raise UsageError(f"--storage {masked(url)}: not a valid storage URL ('{name}:' must be followed by //); {FORMS}")
    parsed = parse(url)
    if backend.lower() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise UsageError(f"--storage {masked(url)}: an SQLite database in memory keeps nothing and cannot be "
                         f"shared by workers; give a file: sqlite:///FILE.db; {FORMS}")
    import_driver(parsed, url)


def parse(url: str) -> Any:
    """SQLAlchemy's URL object, or exit 2 for one it cannot read (a bad port, stray characters)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except (ArgumentError, ValueError) as e:
        raise UsageError(f"--storage {masked(url)}: not a valid storage URL ({e}); {FORMS}") from None


def import_driver(parsed: Any, url: str) -> None:
    """Load the dialect and import its driver module now, so a missing one is a clear exit 2."""
    from sqlalchemy.exc import NoSuchModuleError

    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        known = DRIVERS.get(backend, [])
        near = closest(driver, known)
        hint = f" (did you mean '{near[0]}'?)" if near else f" (known: {', '.join(known)})" if known else ""
        raise UsageError(f"--storage {masked(url)}: unknown driver '{driver}' for {backend}{hint}; {FORMS}") from None
    load = getattr(dialect, "import_dbapi", None) or dialect.dbapi  # SQLAlchemy 2 / 1.4
    try:
        load()
    except ImportError as e:
        module = (e.name or driver).split(".")[0]
        package = PACKAGES.get(module, module)
        extra = " (or pip install 'dlcli[postgres]')" if backend == "postgresql" and module == "psycopg" else ""
        raise UsageError(f"--storage {backend}+{driver}:// needs the Python package '{package}', which is not "
                         f"installed: pip install '{package}'{extra}") from None
