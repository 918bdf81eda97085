# Injected by the vtpm conformance harness (conformance/src/suites/pytss.rs) next to a copy of
# tpm2-pytss's own test/ package; the sdist's files are not modified.
#
# It replaces the suite's TpmSimulator (which finds swtpm or tpm_server itself, picks a random
# port and sleeps 3 s) with one that starts the server under test: for each test (for the FAPI
# tests, whose fixture is module-wide, once per pytest run; the harness runs one per class) a
# fresh process with its own temporary state dir, on a free port pair, killed at teardown.
# The suite keeps its own TCTI (swtpm) and its own Startup.
#
#   VTPM_CONFORMANCE_SERVER        the server command, shell-quoted, without the state/port
#                                  options, e.g. "swtpm socket --tpm2" or "/x/vtpm socket --tpm2"
#   VTPM_CONFORMANCE_TEST_TIMEOUT  seconds after which the servers of a hung test are killed, so
#                                  the TCTI call fails instead of blocking forever (default 60)
#   VTPM_CONFORMANCE_TMP           where the servers' state dirs go (default: the system's)
#
# A server also dies with pytest (PR_SET_PDEATHSIG), should the C library crash it.

import ctypes
import os
import random
import shlex
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest
from tpm2_pytss import TCTILdr

from test import TSS2_BaseTest as base

START_TIMEOUT = 10.0
TEST_TIMEOUT = float(os.environ.get("VTPM_CONFORMANCE_TEST_TIMEOUT", "60"))
LIVE = set()  # servers currently running, for the watchdog
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_pytest():
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG, in the child before exec


def _free_port_pair():
    # Below the kernel's ephemeral range, like the Rust harness; P and P+1 must both be free.
    while True:
        port = random.randrange(20000, 32000, 2)
        socks = [socket.socket() for _ in range(2)]
        try:
            for i, s in enumerate(socks):
                s.bind(("127.0.0.1", port + i))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()


class ExternalSimulator:
    exe = "external"

    def __init__(self):
        self.tpm = None
        self._port = None
        self.working_dir = tempfile.TemporaryDirectory(dir=os.environ.get("VTPM_CONFORMANCE_TMP"))

    def start(self):
        base_cmd = shlex.split(os.environ["VTPM_CONFORMANCE_SERVER"])
        why = "no attempt"
        for _ in range(5):
            port = _free_port_pair()
            cmd = base_cmd + [
                "--tpmstate", f"dir={self.working_dir.name}",
                "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                "--flags", "not-need-init",
            ]
            log = tempfile.TemporaryFile()
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=_die_with_pytest
            )
            deadline = time.monotonic() + START_TIMEOUT
            while proc.poll() is None and time.monotonic() < deadline:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        self.tpm, self._port = proc, port
                        LIVE.add(self)
                        return
                time.sleep(0.02)
            proc.kill()
            proc.wait()
            log.seek(0)
            why = f"exit {proc.returncode}: {log.read().decode(errors='replace')}"
        raise SystemError(f"Could not start {base_cmd}: {why}")

    def close(self):
        LIVE.discard(self)
        proc, self.tpm = self.tpm, None  # may race with the watchdog thread: take it once
        if proc is not None:
            proc.kill()
            proc.wait()

    def __str__(self):
        return os.environ.get("VTPM_CONFORMANCE_SERVER", self.exe)

    @property
    def tcti_name_conf(self):
        return None if self._port is None else f"swtpm:host=127.0.0.1,port={self._port}"

    def get_tcti(self):
        if self._port is None:
            return None
        return TCTILdr("swtpm", f"host=127.0.0.1,port={self._port}")


base.TpmSimulator.getSimulator = staticmethod(ExternalSimulator)


def _kill_live():
    for sim in list(LIVE):
        sim.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    timer = threading.Timer(TEST_TIMEOUT, _kill_live)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def pytest_collection_modifyitems(config, items):
    # Only the tests that talk to a TPM: the pure library tests (types, encoding, ...) pass or
    # fail the same whatever the server is, and would only blur the comparison.
    def uses_tpm(item):
        cls = getattr(item, "cls", None)
        if cls is not None and issubclass(cls, base.TSS2_BaseTest):
            return True
        return "simulator" in getattr(item, "fixturenames", ())

    keep = [i for i in items if uses_tpm(i)]
    dropped = [i for i in items if not uses_tpm(i)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_sessionfinish(session, exitstatus):
    _kill_live()
