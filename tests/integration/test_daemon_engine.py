"""kapseld and the CLI through the same engine calls: the restart event, the sweep of interrupted
builds at the daemon's start. Uses test_daemon's daemon (its own network namespace and root)."""
import json
import os
import time

import pytest

from test_daemon import DOCKER, Daemon, d, netns  # noqa: F401 (fixtures)


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


def test_daemon_start_sweeps_interrupted_builds(d, tmp_path):  # noqa: F811
    # a RUN step's work directory whose builder died with a kill -9 of the daemon
    step = os.path.join(d.root, "build", "step-0123456789ab")
    os.makedirs(os.path.join(step, "upper"))
    with open(os.path.join(step, "owner"), "w") as f:
        f.write("2147483646\n")   # beyond pid_max: no such process
    live = os.path.join(d.root, "build", "ctx-ba9876543210")
    os.makedirs(live)
    with open(os.path.join(live, "owner"), "w") as f:
        f.write("%d\n" % os.getpid())
    d.proc.kill()
    d.proc.wait()
    os.unlink(d.sock)
    d2 = Daemon(str(tmp_path))
    d.proc, d.log = d2.proc, d2.log
    assert not os.path.exists(step), d.logs()
    assert os.path.exists(live)
