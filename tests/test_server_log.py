"""The Prefect server log check of tests/test_flow.py, on log text alone: no server, no database.

The check itself lives beside the fixture that applies it (tests/test_flow.py); this is its unit
test, which needs neither PostgreSQL nor a Prefect server."""

from tests.test_flow import server_tracebacks

CRASH = ("11:24:00.001 | ERROR   | prefect.server.services.scheduler - Unexpected error\n"
         "Traceback (most recent call last):\n  File \"deployments.py\"\n"
         "sqlalchemy.exc.InvalidRequestError: Can't evaluate bulk DML statement\n")
INFO = "11:24:01.000 | INFO    | uvicorn - started\n"
# SQLite refusing a worker's heartbeat: logged with a traceback, and the next heartbeat is written.
HEARTBEAT = ("11:24:02.000 | ERROR   | prefect.server.utilities.worker_channel - Worker channel "
             "heartbeat persistence failed: work_pool=gpu\nTraceback (most recent call last):\n"
             "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked\n")
# The same SQLite error from another service: a crash.
LOCKED = CRASH.replace("InvalidRequestError: Can't evaluate bulk DML statement",
                       "OperationalError: (sqlite3.OperationalError) database is locked")


def test_a_log_without_tracebacks_or_with_a_lost_heartbeat_only_has_no_crash():
    assert server_tracebacks(INFO + INFO + HEARTBEAT) == []


def test_each_crash_is_found_as_its_own_record():
    found = server_tracebacks(INFO + CRASH + INFO + CRASH + HEARTBEAT + LOCKED)
    assert [record.splitlines()[-1] for record in found] == [
        CRASH.splitlines()[-1], CRASH.splitlines()[-1], LOCKED.splitlines()[-1]]
