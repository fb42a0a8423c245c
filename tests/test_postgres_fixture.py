"""The throwaway PostgreSQL server of the test run (tests/postgres.py) and its fixtures."""

from pathlib import Path

import psycopg
import pytest

from .postgres import Postgres, PostgresMissing, find_bin_dir

pytestmark = pytest.mark.slow


def running(pid: int) -> bool:
    """Whether the process exists and is not a zombie (an exited child that init has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_the_server_answers_on_loopback_only(postgres, postgres_url):
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SELECT current_user").fetchone() == ("relais",)
    with psycopg.connect(postgres.url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("relais",)


def test_each_new_database_is_a_distinct_empty_one(postgres):
    first, second = postgres.new_database(), postgres.new_database("named_one")
    assert first != second and second.endswith("/named_one")
    with psycopg.connect(first) as conn:
        conn.execute("CREATE TABLE only_here (id int)")
    with psycopg.connect(second) as conn:
        assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)
    with psycopg.connect(first) as conn:
        assert conn.execute("SELECT to_regclass('only_here')").fetchone() == ("only_here",)


def test_stop_leaves_no_server_behind():
    try:
        find_bin_dir()
    except PostgresMissing as e:
        pytest.skip(str(e))
    with Postgres() as pg:
        url, data_dir = pg.url, pg.data_dir
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        psycopg.connect(url).close()
        assert running(pid)
    assert not data_dir.exists()
    assert not running(pid)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=3)
