# Helpers for the host-tool tests (tests/integration/test_host_*.py): run the
# `doorsip` command in-process and capture its output; a station config that
# the firmware's validator accepts; started(device) for a fake-device fixture.
import copy
import json

from doorsip_tools import cli

SECRET = "s3cr3t-Pa55"
DOOR_CODE = "7391"

SAMPLE_CONFIG = {
    "role": "door",
    "name": "Front door",
    "board": "sim",
    "sip": {"user": "door100", "password": SECRET, "registrar": "127.0.0.1:5060"},
    "buttons": {"bell": {"call": ["sip:flat200@127.0.0.1"]}},
    "doors": {"door": {"code": DOOR_CODE}},
}


def started(device):
    """The body of a `device` fixture: yields device.start(), stopped once the
    test is over (`yield from started(FakeDevice(tmp_path))`)."""
    dev = device.start()
    try:
        yield dev
    finally:
        dev.stop()


def sample_config(**changes):
    cfg = copy.deepcopy(SAMPLE_CONFIG)
    for key, value in changes.items():
        cfg[key] = value
    return cfg


def write_json(path, value):
    with open(str(path), "w") as f:
        json.dump(value, f)
    return str(path)


def run_cli(capsys, *argv):
    """(exit status, stdout, stderr) of `doorsip ARGV` run in this process."""
    try:
        status = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse: --help, usage errors
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err, *needles):
    """Exit status 1, no traceback, and exactly one "doorsip CMD: error: ..." line
    (progress lines printed before the failure are allowed)."""
    assert status == 1, err
    assert "Traceback" not in err
    errors = [l for l in err.splitlines() if l.startswith("doorsip ") and ": error: " in l]
    assert len(errors) == 1, err
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]
