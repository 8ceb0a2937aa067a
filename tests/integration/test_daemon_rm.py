"""`docker run --rm` through kapseld: the container's rootfs is mounted volatile, so its unmount at
exit does not sync the file system under it (docs/daemon.md), and the container is gone at its end.
The daemon is test_daemon.py's (a temporary root, in its network namespace)."""
import json
import os

from test_daemon import d, netns  # noqa: F401 (fixtures)


def volatile(opts):
    """Linux shows the option as "volatile" or (6.x) "fsync=volatile"."""
    return any(o in ("volatile", "fsync=volatile") for o in opts or [])


def rootfs_options(root, cid):
    target = os.path.join(os.path.realpath(root), "containers", cid, "rootfs")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == target:
                return fields[-1].split(",")
    return None


def create_start(d, auto_remove):
    st, body = d.http("POST", "/v1.41/containers/create",
                       {"Image": "busybox", "Cmd": ["sleep", "2"],
                        "HostConfig": {"NetworkMode": "none", "AutoRemove": auto_remove}})
    assert st == 201, body
    cid = json.loads(body)["Id"]
    st, body = d.http("POST", "/v1.41/containers/%s/start" % cid)
    assert st == 204, body
    return cid


def test_rm_container_rootfs_is_volatile_and_gone_after_exit(d):
    root = d.root
    kept = create_start(d, False)
    cid = create_start(d, True)
    opts = rootfs_options(root, cid)
    assert opts is not None, "no overlay mounted for the --rm container"
    assert volatile(opts), opts
    # a container that outlives its process keeps a durable upper dir
    assert not volatile(rootfs_options(root, kept)), rootfs_options(root, kept)
    st, body = d.http("POST", "/v1.41/containers/%s/wait?condition=removed" % cid)
    assert st == 200, body
    assert json.loads(body)["StatusCode"] == 0
    st, _ = d.http("GET", "/v1.41/containers/%s/json" % cid)
    assert st == 404
    assert not os.path.exists(os.path.join(root, "containers", cid))
    assert rootfs_options(root, cid) is None
    st, body = d.http("POST", "/v1.41/containers/%s/wait" % kept)
    assert st == 200, body
    st, _ = d.http("DELETE", "/v1.41/containers/%s?force=1" % kept)
    assert st == 204
