# The simulated board protocol end to end (DESIGN.md section 4): a door station
# (MicroPython .mpy or CPython) and an indoor station (CPython) talking on 127.0.0.1
# with no server, driven only through stdin commands and JSON events on stdout.
import json
import os
import signal
import subprocess
import sys

import pytest

from stations import door_config, free_udp_ports, indoor_config, stations  # noqa: F401
from tooling import ROOT


def _door_and_flat(stations, door_runtime, dtmf_method):
    door_sip, door_rtp, flat_sip, flat_rtp = free_udp_ports(4)
    flat = stations.start(indoor_config(flat_sip, flat_rtp, dtmf_method=dtmf_method,
                                        auto_answer_s=None), label="indoor")
    door = stations.start(door_config(door_sip, door_rtp,
                                      call=["sip:flat@127.0.0.1:%d" % flat_sip],
                                      hangup_after_open_s=1),
                          runtime=door_runtime, label="door-" + door_runtime)
    return door, flat


@pytest.mark.parametrize("door_runtime,dtmf_method", [
    ("micropython", "rfc4733"), ("cpython", "rfc4733"),
    ("micropython", "info"), ("cpython", "info")])
def test_bell_answer_open_hangup(stations, door_runtime, dtmf_method):
    door, flat = _door_and_flat(stations, door_runtime, dtmf_method)
    door.send("press bell")
    door.wait_for("call_started", 5)
    incoming = flat.wait_for("incoming_call", 5)
    assert incoming["from"].startswith("sip:door@127.0.0.1"), incoming
    door.wait_for("ringing", 5)
    assert flat.status()["state"] == "ringing"
    flat.send("press answer")
    flat.wait_for("answered", 5)
    door.wait_for("answered", 5)
    assert door.status()["state"] == "in_call"
    flat.send("press open")
    flat.wait_for("code_sent", 5, method=dtmf_method)
    opened = door.wait_for("door_opened", 10)
    assert opened["relay"] == "door"
    assert opened["method"] == dtmf_method
    assert opened["caller"].startswith("sip:flat@127.0.0.1"), opened
    digits = [(e["digit"], e["method"]) for e in door.find("dtmf")]
    assert digits == [(d, dtmf_method) for d in "1234"], digits
    on = door.wait_for("relay", 5, name="door", state="on")
    off = door.wait_for("relay", 5, name="door", state="off")
    assert off["t_ms"] - on["t_ms"] >= 250  # pulse_ms 300 (10 ms ticks)
    # hangup_after_open_s: 1 -> the door sends BYE; both sides report the RTP figures.
    for station, reason in ((door, "local_bye"), (flat, "remote_bye")):
        ended = station.wait_for("call_ended", 5)
        assert ended["reason"] == reason, ended
        assert ended["packets_sent"] > 0 and ended["packets_received"] > 0, ended
        assert ended["packets_lost"] >= 0
    assert door.status()["state"] == "idle"
    assert door.stop() == 0 and flat.stop() == 0
    assert door.find("stopped") and flat.find("stopped")


def test_status_hold_unknown_quit_on_micropython(stations):
    door_sip, door_rtp = free_udp_ports(2)
    # the bell calls a port nobody listens on: the call rings out, nothing answers
    dead = free_udp_ports(1)[0]
    door = stations.start(door_config(door_sip, door_rtp, call=["sip:nobody@127.0.0.1:%d" % dead]),
                          runtime="micropython")
    status = door.status()
    assert status["state"] == "idle"
    assert isinstance(status["heap_used"], int) and isinstance(status["heap_free"], int)
    assert status["heap_used"] > 10000 and status["heap_free"] > 0
    since = door.mark()
    door.send("hold bell 1500")
    button = door.wait_for("button", 5, since=since, name="bell")
    door.wait_for("call_started", 5, since=since)
    # the release comes 1500 ms after the press: no second call, one button event
    since = door.mark()
    door.send("frobnicate now")
    err = door.wait_for("error", 5, since=since)
    assert "frobnicate" in err["message"]
    # Commands run in order and `hold` returns at the release: the next command is
    # answered about 1500 ms after the press fired (30 ms debounce).
    assert 1350 <= err["t_ms"] - button["t_ms"] <= 2500, (button, err)
    status = door.status()  # still alive and answering
    assert status["state"] == "calling"
    assert len(door.find("button")) == 1 and len(door.find("call_started")) == 1
    assert door.stop() == 0
    assert door.find("stopped")


def test_hold_keeps_the_button_down_cpython(stations):
    door_sip, door_rtp = free_udp_ports(2)
    door = stations.start(door_config(door_sip, door_rtp))
    status = door.status()
    assert status["state"] == "idle" and status["heap_used"] is None  # CPython: no heap figures
    since = door.mark()
    door.send("hold bell 1500")
    door.wait_for("button", 5, since=since, name="bell")  # bell has no call list here
    door.send("hold bell x")
    assert "hold" in door.wait_for("error", 5, since=since)["message"]
    assert door.stop() == 0


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_doorsip_run_starts_both_runtimes(stations, runtime):
    door_sip, door_rtp = free_udp_ports(2)
    door = stations.start(door_config(door_sip, door_rtp), runtime=runtime, via_cli=True)
    started = door.find("started")[0]
    assert started["runtime"] == runtime and started["sip"] == "127.0.0.1:%d" % door_sip, started
    status = door.status()
    assert status["state"] == "idle" and status["registration"] == "none"
    assert isinstance(status["heap_used"], int) == (runtime == "micropython"), status
    assert door.stop() == 0 and door.find("stopped")


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_stdin_eof_stops_cleanly(stations, runtime):
    door_sip, door_rtp = free_udp_ports(2)
    door = stations.start(door_config(door_sip, door_rtp), runtime=runtime)
    door.proc.stdin.close()
    assert door.proc.wait(timeout=10) == 0
    door.wait_for("stopped", 5)


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_sigterm_hangs_up_and_stops_cleanly(stations, runtime):
    # `doorsip run` as systemd or `kill` stops it: the call in progress gets its BYE
    # (answered: the SIPp callee's scenario passes), the station says "stopped",
    # closes its sockets and exits 0. MicroPython has no signal module: `doorsip run`
    # turns SIGTERM into the console's `quit` (run.run_micropython).
    callee = stations.sipp("policy_uas_expect_bye.xml", subs={"BYE_WITHIN_MS": 20000}, timeout_s=30)
    door_sip, door_rtp = free_udp_ports(2)
    door = stations.start(door_config(door_sip, door_rtp, call=[callee.uri()]), runtime=runtime,
                          via_cli=True)
    door.send("press bell")
    door.wait_for("answered", 10)
    door.proc.send_signal(signal.SIGTERM)
    assert door.proc.wait(timeout=10) == 0, door.stderr
    door.wait_for("stopped", 5)
    assert callee.wait(15) == 0, callee.tail()
    # the ports are free again: a new station can bind them at once
    again = stations.start(door_config(door_sip, door_rtp), runtime=runtime)
    assert again.stop() == 0


def _doorsip_run(tmp_path, config, board="sim"):
    path = os.path.join(str(tmp_path), "bad.json")
    with open(path, "w") as f:
        json.dump(config, f)
    cmd = [sys.executable, "-m", "doorsip_tools", "run", "--board", board, "--config", path]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                          cwd=ROOT)


@pytest.mark.parametrize("mutate,field", [
    (lambda c: c["sip"].__setitem__("local_port", "5060"), "sip.local_port"),
    (lambda c: c["buttons"]["bell"].__setitem__("call", ["http://flat.example.org/"]), "buttons.bell.call[0]"),
    (lambda c: c["doors"]["door"].__setitem__("max_wrong", True), "doors.door.max_wrong"),
])
def test_bad_config_exits_with_one_line(tmp_path, mutate, field):
    door_sip, door_rtp = free_udp_ports(2)
    cfg = door_config(door_sip, door_rtp, call=["sip:flat@127.0.0.1:5099"])
    mutate(cfg)
    result = _doorsip_run(tmp_path, cfg)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert field in lines[0], lines[0]
    assert result.stdout == ""  # nothing started: no events at all
    assert "started" not in result.stdout


def test_button_the_board_lacks(tmp_path):
    door_sip, door_rtp = free_udp_ports(2)
    cfg = door_config(door_sip, door_rtp, call=["sip:flat@127.0.0.1:5099"])
    cfg["board"] = "rpi"
    cfg["buttons"]["garage"] = cfg["buttons"]["bell"]
    result = _doorsip_run(tmp_path, cfg, board="rpi")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "garage" in lines[0] and "buttons" in lines[0], lines[0]
    assert result.stdout == ""
