"""kapseld and the CLI through the same engine calls: the restart event. Uses test_daemon's daemon (its own network namespace and root)."""
import json
import os
import time

import pytest

from test_daemon import DOCKER, d, netns  # noqa: F401 (fixtures)


def _actions(dm, since, name):
    out = dm.docker("events", "--since", str(since), "--until", str(int(time.time()) + 1), "--filter",
                    "container=" + name, "--format", "{{.Action}}", timeout=20).stdout
    return out.split()


@pytest.mark.skipif(not DOCKER, reason="no docker CLI to read the events")
def test_api_restart_emits_the_restart_event(d):  # noqa: F811
    start = int(time.time()) - 1
    st, body = d.http("POST", "/containers/create?name=rs", {"Image": "busybox", "Cmd": ["sleep", "1000"]})
    assert st == 201
    cid = json.loads(body)["Id"]
    assert d.http("POST", "/containers/rs/start")[0] == 204
    assert d.http("POST", "/containers/rs/restart?t=0")[0] == 204
    st, body = d.http("GET", "/containers/rs/json")
    assert json.loads(body)["State"]["Running"]
    assert cid
    acts = _actions(d, start, "rs")
    assert "restart" in acts, acts
    # after the stop's events, as the CLI's restart
    assert acts.index("restart") > acts.index("start"), acts
    assert d.http("DELETE", "/containers/rs?force=1")[0] == 204
