"""The desk benchmark (bench/desk_bench.py), by concern.

plan.py the run's sizes and constants; servers.py starts the app servers (devtools/servers.py) and ingests; clients.py is
the load generator's HTTP side; measure.py reads CPU (/proc) and database transactions (pg_stat_database); calibrate.py
counts transactions per request in-process; chat.py the answers per second; listen.py push (SSE) against polling;
capacity.py the capacity model; report.py the printed tables.
"""
