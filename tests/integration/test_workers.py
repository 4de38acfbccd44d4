# SPDX-License-Identifier: MIT
"""--workers N: N processes on SO_REUSEPORT listeners sharing one replay filter."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.dirname(__file__))
from sstest import *  # noqa: E402,F401,F403
from test_badinput import capture_flight  # noqa: E402


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(x) for x in f.read().split()]


def test_workers_share_load_and_the_replay_filter():
    echo = Server(echo_handler)
    sp, lp = free_port(), free_port()
    srv = ssserver(sp, extra=["--workers", "2", "-u", "--handshake-timeout", "2", "-v"])
    loc = sslocal(lp, sp, extra=["--workers", "2"])
    wait_until(lambda: len(children(srv.pid)) == 2 and len(children(loc.pid)) == 2, what="2 workers each")
    # Many connections: both server workers take some.
    results = []

    def one(i):
        results.append(socks_echo(lp, "127.0.0.1", echo.port, b"w%d" % i) == b"w%d" % i)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results.count(True) == 100
    # Each worker logs the connections it takes (-v); the start-up block comes from one.
    pids = {int(l.split("ssserver[")[1].split("]")[0]) for l in srv.log_text().splitlines()
            if "wants" in l}
    assert len(pids & set(children(srv.pid))) == 2
    # A flight replayed ten times (landing on either worker) never reaches the target.
    flight = capture_flight(echo.port, b"once")
    accepts = echo.accepts
    for i in range(10):
        c = socket.create_connection(("127.0.0.1", sp), timeout=5)
        c.sendall(flight)
        if i == 0:
            assert recv_exact(c, 32)
        c.close()
    time.sleep(0.5)
    assert echo.accepts == accepts + 1, "a replay reached the target through another worker"
    # SIGTERM to the parent stops every worker.
    kids = children(srv.pid) + children(loc.pid)
    assert srv.stop() == 0 and loc.stop() == 0
    for k in kids:
        assert not os.path.exists("/proc/%d" % k) or open("/proc/%d/stat" % k).read().split()[2] == "Z"
    echo.close()


def test_supervisor_sums_the_workers_counters():
    # Each worker counts in shared memory; the supervisor sums them on SIGUSR1.
    echo = Server(echo_handler)
    sp, lp = free_port(), free_port()
    srv = ssserver(sp, extra=["--workers", "2"])
    sslocal(lp, sp)
    wait_until(lambda: len(children(srv.pid)) == 2, what="2 workers")
    n = 40
    for i in range(n):
        assert socks_echo(lp, "127.0.0.1", echo.port, b"c%d" % i) == b"c%d" % i
    srv.send_signal(signal.SIGUSR1)
    wait_until(lambda: "all 2 workers:" in srv.log_text(), what="the supervisor's totals")
    line = [l for l in srv.log_text().splitlines() if "all 2 workers:" in l][-1]
    accepted = int(line.split("workers: ")[1].split(" connections accepted")[0])
    # The startup port probe of the test harness is a connection too.
    assert n <= accepted <= n + 2, line
    up = int(line.split("; ")[1].split(" bytes up")[0])
    assert up >= sum(len(b"c%d" % i) for i in range(n)), line
    # Each worker logs its own line once the signal reaches it, just after the parent's.
    wait_until(lambda: srv.log_text().count("connections accepted; bytes up") >= 2,
               what="each worker's own counters")
    echo.close()


def echo_through(lp, port, n):
    return all(socks_echo(lp, "127.0.0.1", port, b"r%d" % i) == b"r%d" % i for i in range(n))


def test_a_killed_worker_is_restarted_and_workers_die_with_the_parent():
    echo = Server(echo_handler)
    sp, lp = free_port(), free_port()
    srv = ssserver(sp, extra=["--workers", "2"])
    loc = sslocal(lp, sp, extra=["--workers", "2"])
    wait_until(lambda: len(children(srv.pid)) == 2, what="2 server workers")
    # A crashed worker (SIGKILL here) comes back; the others keep serving.
    first = children(srv.pid)
    os.kill(first[0], signal.SIGKILL)
    wait_until(lambda: "(pid %d) killed by signal 9" % first[0] in srv.log_text(), what="restart line")
    wait_until(lambda: len(children(srv.pid)) == 2 and first[0] not in children(srv.pid),
               what="a new worker")
    new = (set(children(srv.pid)) - set(first)).pop()
    wait_until(lambda: "ssserver[%d] info: ssserver ready" % new in srv.log_text(), what="new worker ready")
    assert echo_through(lp, echo.port, 40)
    # One that keeps dying is given up on after 5 restarts a minute; the exit status says so.
    for _ in range(5):
        victim = next(p for p in children(srv.pid) if p != first[1])
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in children(srv.pid) and
                   (len(children(srv.pid)) == 2 or "not restarting it" in srv.log_text()),
                   what="restart or give-up after killing %d" % victim)
    assert "worker 0 died 6 times in 60 s; not restarting it" in srv.log_text() or \
        "worker 1 died 6 times in 60 s; not restarting it" in srv.log_text(), srv.log_text()[-2000:]
    assert children(srv.pid) == [first[1]]
    assert echo_through(lp, echo.port, 20)
    assert srv.stop() == 1
    # SIGKILL to a parent takes its workers with it.
    kids = children(loc.pid)
    loc.kill()
    loc.wait()
    wait_until(lambda: all(not os.path.exists("/proc/%d" % k) or
                           open("/proc/%d/stat" % k).read().split()[2] == "Z" for k in kids),
               what="workers gone with their parent")
    echo.close()


if __name__ == "__main__":
    sys.exit(run_tests([test_workers_share_load_and_the_replay_filter,
                        test_a_killed_worker_is_restarted_and_workers_die_with_the_parent,
                        test_supervisor_sums_the_workers_counters], "workers"))
