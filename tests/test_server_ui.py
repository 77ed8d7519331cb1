"""`lenet server start` on a port that is not Prefect's default: its UI renders in headless
Chromium, talks to this server, and lists the automations that find lost runs."""

from __future__ import annotations

import sys

import pytest

from harness.helpers import api, chromium_dom, free_port
from harness.synthetic import run_in
from pipeline.orchestration import server, watch

pytestmark = pytest.mark.integration


def rendered(url: str, profile) -> str:
    """The DOM of `url` after headless Chromium ran its scripts for a while."""
    return chromium_dom(url, profile, "--virtual-time-budget=20000")


def test_the_ui_works_on_any_port_and_shows_the_lost_run_automations(tmp_path):
    port = free_port()
    start = run_in(tmp_path, sys.executable, "-m", "pipeline", "server", "start", "--port",
                   str(port), "--lost-after", "75")
    try:
        assert f"its UI: http://127.0.0.1:{port}" in start.stdout
        assert api(f"http://127.0.0.1:{port}", "/ui-settings")["api_url"] == \
            f"http://127.0.0.1:{port}/api"
        # Started again while it runs: the same server, the automations neither duplicated nor
        # reset to the default.
        run_in(tmp_path, sys.executable, "-m", "pipeline", "server", "start", "--port", str(port))
        lost = api(f"http://127.0.0.1:{port}/api", "/automations/filter", {})
        assert [a["trigger"]["within"] for a in lost if a["name"] == watch.LOST] == [75.0]
        dashboard = rendered(f"http://127.0.0.1:{port}/dashboard", tmp_path / "profile")
        assert "Oops" not in dashboard and "Dashboard" in dashboard
        automations = rendered(f"http://127.0.0.1:{port}/automations", tmp_path / "profile")
        assert automations.count(watch.LOST) == 1 and automations.count(watch.STUCK) == 1
    finally:
        run_in(tmp_path, sys.executable, "-m", "pipeline", "server", "stop")
    assert not server.healthy(f"http://127.0.0.1:{port}/api")
