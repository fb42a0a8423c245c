"""The test run's throwaway PostgreSQL server: from devtools/servers.py, shared with bench/."""

from devtools.servers import Postgres, PostgresMissing, find_bin_dir

__all__ = ["Postgres", "PostgresMissing", "find_bin_dir"]
