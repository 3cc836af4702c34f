# `doorsip check`: the firmware's UserAgent in a blocking UDP loop against SIPp as a
# digest registrar (SIPp verifies the credentials with its own digest code), a
# small OPTIONS responder, and a silent port, all on 127.0.0.1.
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from doorsip.sip.message import build_response, parse
from host_support import assert_one_line_error, run_cli, sample_config, write_json
from stations import registrar_scenario
from tooling import free_udp_port, require

PASSWORD = "reg-secret-77"
CHALLENGE = 'Digest realm="test.local", nonce="[pid]n[call_number]x", algorithm=MD5, qop="auth"'


@pytest.fixture
def registrar(tmp_path):
    sipp = require("sipp")
    port = free_udp_port()
    path = registrar_scenario(tmp_path, CHALLENGE, password=PASSWORD, unregister=True)
    proc = subprocess.Popen([sipp, "-sf", path, "-i", "127.0.0.1", "-p", str(port), "-nostdin",
                             "-trace_err", "-error_file", str(tmp_path / "sipp.err")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(tmp_path),
                            start_new_session=True)
    time.sleep(0.3)
    try:
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


class OptionsResponder:
    """Answers every OPTIONS with a fixed status (the firmware's own response builder)."""

    def __init__(self, status):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.status = status
        self.seen = 0
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            msg = parse(data)
            if msg.method == "OPTIONS":
                self.seen += 1
                self.sock.sendto(build_response(msg, self.status, to_tag="t1"), addr)

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def responders():
    made = []

    def make(status):
        r = OptionsResponder(status)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def config(tmp_path, registrar_port, password, targets):
    cfg = sample_config()
    cfg["sip"] = {"user": "door100", "password": password, "registrar": "127.0.0.1:%d" % registrar_port}
    cfg["buttons"] = {"bell": {"call": targets}}
    return write_json(tmp_path / "check.json", cfg)


def test_check_passes_with_right_credentials_and_live_targets(tmp_path, capsys, registrar, responders):
    flat = responders(200)
    path = config(tmp_path, registrar, PASSWORD, ["sip:flat200@127.0.0.1:%d" % flat.port])
    status, out, err = run_cli(capsys, "check", "--config", path, "--timeout", "5")
    assert status == 0, out + err
    assert "200 OK as door100" in out and "[ok  ] options sip:flat200@127.0.0.1" in out
    assert "all 4 checks passed" in out and flat.seen == 1
    assert PASSWORD not in out + err


def test_check_reports_wrong_password_and_dead_target(tmp_path, capsys, registrar, responders):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    missing = responders(404)
    try:
        targets = ["sip:flat200@127.0.0.1:%d" % silent.getsockname()[1],
                   "sip:flat300@127.0.0.1:%d" % missing.port]
        path = config(tmp_path, registrar, "wrong-password", targets)
        status, out, err = run_cli(capsys, "check", "--config", path, "--timeout", "2")
    finally:
        silent.close()
    line = assert_one_line_error(status, err, "3 of 5 checks failed")
    assert "[FAIL] register 127.0.0.1" in out and "403" in out and "password is wrong" in out
    assert "no answer" in out and "404" in out
    assert "wrong-password" not in out + err and line


def test_check_register_timeout(tmp_path, capsys):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        path = config(tmp_path, silent.getsockname()[1], PASSWORD, ["sip:flat200@127.0.0.1:9"])
        started = time.monotonic()
        status, out, err = run_cli(capsys, "check", "--config", path, "--timeout", "1.5")
    finally:
        silent.close()
    assert time.monotonic() - started < 10
    assert_one_line_error(status, err, "register")
    assert "no answer within 2 s" in out or "no answer within 1 s" in out or "no answer" in out


def test_check_invalid_config_names_the_field(tmp_path, capsys):
    cfg = sample_config()
    cfg["sip"]["expires"] = 5
    status, out, err = run_cli(capsys, "check", "--config", write_json(tmp_path / "c.json", cfg))
    assert_one_line_error(status, err, "sip.expires")
    assert "[FAIL] config" in out and "sip.expires" in out
    cfg = sample_config()
    cfg["sip"]["registrar"] = "no-such-host.invalid:5060"
    status, out, err = run_cli(capsys, "check", "--config", write_json(tmp_path / "d.json", cfg),
                               "--timeout", "1")
    assert status == 1 and "cannot resolve no-such-host.invalid" in out


def test_check_without_registrar_only_probes_targets(tmp_path, capsys, responders):
    flat = responders(200)
    cfg = sample_config()
    cfg["sip"] = {"user": "door100", "password": PASSWORD, "registrar": None}
    cfg["buttons"] = {"bell": {"call": ["sip:flat200@127.0.0.1:%d" % flat.port]}}
    status, out, err = run_cli(capsys, "check", "--config", write_json(tmp_path / "direct.json", cfg),
                               "--timeout", "3")
    assert status == 0, out + err
    assert "[skip] register" in out and "all 3 checks passed" in out and flat.seen == 1
