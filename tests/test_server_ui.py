"""`lenet server start` on a port that is not Prefect's default: its UI renders in headless
Chromium, talks to this server, and lists the automations that find lost runs."""

from __future__ import annotations

import sys

import pytest

from harness.helpers import api, chromium_dom, free_port
from harness.synthetic import run_in
from pipeline.orchestration import server, watch

pytestmark = pytest.mark.integration


def rendered(url: str, profile, shows) -> str:
    """The DOM of `url` after headless Chromium ran its scripts for a while, rendered again (three
    times at most) until `shows(dom)`: on a loaded machine a render can end before the UI's API
    calls have answered."""
    for _ in range(3):
        dom = chromium_dom(url, profile, "--virtual-time-budget=20000")
        if shows(dom):
            break
    return dom


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

        def dashboard_shown(dom):
            return "Oops" not in dom and "Dashboard" in dom

        def automations_listed(dom):
            return dom.count(watch.LOST) == 1 and dom.count(watch.STUCK) == 1

        dashboard = rendered(f"http://127.0.0.1:{port}/dashboard", tmp_path / "profile",
                             dashboard_shown)
        assert dashboard_shown(dashboard), dashboard[-2000:]
        automations = rendered(f"http://127.0.0.1:{port}/automations", tmp_path / "profile",
                               automations_listed)
        assert automations_listed(automations), automations[-2000:]
    finally:
        run_in(tmp_path, sys.executable, "-m", "pipeline", "server", "stop")
    assert not server.healthy(f"http://127.0.0.1:{port}/api")
