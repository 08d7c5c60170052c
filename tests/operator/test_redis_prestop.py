"""The Redis Pod's preStop hook and readiness check, run for real.

The scripts are the ones the operator renders into the Redis ConfigMap, run by ``sh`` against a
real redis-server master + replica and three real redis-sentinel processes on loopback
(tests/common/redis.py). Three env vars map the Pod's view onto loopback: ``REDIS_LOCAL_PORT``
(every Pod's Redis listens on 6379), ``REDIS_ANNOUNCE_HOST`` (the Pod's DNS name, here the
address the Sentinels monitor) and ``PRESTOP_LOG`` (the container log, ``/proc/1/fd/1``).
What this does not show: the kubelet calling the hook (tests/pods does) and DNS names.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError

from labelhive_operator import validate
from labelhive_operator.builders import redis as redis_builder
from tests.common.processes import stop_pid
from tests.common.processes import wait_for
from tests.common.redis import MASTER_NAME
from tests.common.redis import PASSWORD
from tests.common.redis import RedisCluster
from tests.common.redis import RedisServer
from tests.common.redis import redis_cluster
from tests.operator.conftest import load_example


@pytest.fixture
def scripts(tmp_path: Path) -> dict[str, Path]:
    body = load_example("minimal")
    body["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    out = {}
    for name, text in redis_builder.scripts(validate.parse(body)).items():
        out[name] = tmp_path / name
        out[name].write_text(text)
    return out


@pytest.fixture
def cluster() -> Iterator[RedisCluster]:
    with redis_cluster() as c:
        yield c


def run_script(path: Path, port: int, cluster: RedisCluster | None = None) -> tuple[int, str]:
    """Run one rendered script as the kubelet would, for the Redis listening on ``port``."""
    log = path.with_suffix(".log")
    env = {
        "PATH": os.environ["PATH"],
        "REDIS_PASSWORD": PASSWORD,
        "REDIS_MASTER": MASTER_NAME,
        "REDIS_SVC": "unused.svc",
        "REDIS_LOCAL_PORT": str(port),
        "REDIS_ANNOUNCE_HOST": "127.0.0.1",
        "PRESTOP_LOG": str(log),
    }
    if cluster is not None:
        env["SENTINEL_HOSTS"] = " ".join(f"127.0.0.1:{p}" for p in cluster.sentinel_ports)
    proc = subprocess.run(["sh", str(path)], env=env, capture_output=True, text=True, timeout=90)
    return proc.returncode, log.read_text() if log.exists() else ""


def role(port: int) -> str:
    with Redis(port=port, password=PASSWORD, socket_timeout=2) as client:
        return str(client.info("replication")["role"])


class Writer:
    """Writes numbered keys through Sentinel, recording every write Redis acknowledged."""

    def __init__(self, cluster: RedisCluster) -> None:
        self.master = cluster.sentinel_client().master_for(MASTER_NAME, socket_timeout=30)
        self.acked: list[int] = []
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                self.master.set(f"k{n}", n)
            except RedisError:
                self.refused += 1
                continue
            self.acked.append(n)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def test_prestop_on_the_master_moves_it_without_losing_an_acknowledged_write(
    cluster: RedisCluster, scripts: dict[str, Path]
) -> None:
    old = cluster.master_address()
    assert old == ("127.0.0.1", cluster.master_port)
    with Writer(cluster) as writer:
        wait_for(lambda: len(writer.acked) >= 200, 20, "writes on the first master")
        code, log = run_script(scripts["redis-prestop.sh"], cluster.master_port, cluster)
        assert code == 0
        assert "failover asked" in log and "this Pod is its replica now" in log, log
        before = len(writer.acked)
        wait_for(lambda: len(writer.acked) >= before + 200, 20, "writes on the new master")
    # every Sentinel reports the replica as the master now, and the old master follows it.
    # The leader switches at once; the others learn the new epoch from its hello messages
    # (published every 2 s), so each is given a few seconds to agree.
    new = ("127.0.0.1", cluster.replica_port)
    for port in cluster.sentinel_ports:
        with Redis(port=port, password=PASSWORD, socket_timeout=2) as sentinel:

            def reports_new(sentinel: Redis = sentinel) -> bool:
                host, port_ = sentinel.sentinel_get_master_addr_by_name(MASTER_NAME)
                return (host.decode(), int(port_)) == new

            wait_for(reports_new, 15, f"sentinel {port} reporting the new master")
    assert role(cluster.master_port) == "slave"
    # the kubelet stops the container after the hook
    stop_pid(cluster.procs["master"])
    # writes acknowledged after the hook returned came from the new master (the old one is a
    # replica by then, refusing writes); the ones before, from the old master
    keys = [f"k{n}" for n in writer.acked]
    with Redis(port=cluster.replica_port, password=PASSWORD, socket_timeout=5) as master:
        assert master.info("replication")["role"] == "master"
        values = master.mget(keys)
    lost = [k for k, v in zip(keys, values, strict=True) if v is None]
    assert lost == [], f"{len(lost)} acknowledged writes lost"


def test_prestop_on_a_replica_changes_nothing(
    cluster: RedisCluster, scripts: dict[str, Path]
) -> None:
    code, log = run_script(scripts["redis-prestop.sh"], cluster.replica_port, cluster)
    assert code == 0 and log == ""
    assert cluster.master_address() == ("127.0.0.1", cluster.master_port)
    assert role(cluster.master_port) == "master"
    # and writes were never paused
    with Redis(port=cluster.master_port, password=PASSWORD, socket_timeout=2) as client:
        assert client.set("after", 1)


def test_prestop_leaves_a_master_alone_when_sentinel_knows_another(
    cluster: RedisCluster, scripts: dict[str, Path]
) -> None:
    # a stale master (say, cut off during a failover) must not fail over the real one
    server = RedisServer()
    server.start()
    try:
        code, log = run_script(scripts["redis-prestop.sh"], server.master_port, cluster)
    finally:
        server.stop()
    assert code == 0
    assert "not this Pod" in log
    assert cluster.master_address() == ("127.0.0.1", cluster.master_port)


def test_readiness_waits_for_the_replica_link(scripts: dict[str, Path]) -> None:
    server = RedisServer()
    server.start()
    try:
        assert run_script(scripts["redis-ready.sh"], server.master_port)[0] == 0  # a master
        with Redis(port=server.master_port, password=PASSWORD, socket_timeout=2) as client:
            client.replicaof("127.0.0.1", server.replica_port)  # nothing listens there
            assert client.info("replication")["master_link_status"] == "down"
        assert run_script(scripts["redis-ready.sh"], server.master_port)[0] == 1
    finally:
        server.stop()


def test_readiness_of_a_synced_replica(cluster: RedisCluster, scripts: dict[str, Path]) -> None:
    assert run_script(scripts["redis-ready.sh"], cluster.replica_port)[0] == 0
