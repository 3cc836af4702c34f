# config.py: validation with defaults, field-naming errors, masking, atomic save,
# clear load errors. Runs under pytest and the MicroPython runner.
import json
import os

from support import raises, MICROPYTHON
from doorsip import config
from doorsip.config import validate, load, save, masked, ConfigError

EXAMPLE = {
    "role": "door",
    "name": "Front door",
    "board": "sim",
    "wifi": {"ssid": "home", "password": "wifipass"},
    "sip": {"user": "door100", "auth_user": "door100", "password": "secret100",
            "domain": "pbx.example.org", "registrar": "pbx.example.org:5060", "proxy": None,
            "expires": 300, "local_port": 5060, "display_name": "Front door"},
    "rtp": {"port": 4000, "codecs": ["PCMU", "PCMA"], "dtmf": ["rfc4733", "info", "inband"]},
    "buttons": {"bell": {"call": ["sip:flat200@pbx.example.org"], "mode": "sequential",
                         "ring_timeout_s": 20}},
    "doors": {"door": {"code": "1234", "pulse_ms": 3000, "max_wrong": 3, "lockout_s": 60}},
    "incoming": {"allow": ["sip:flat200@pbx.example.org"], "auto_answer": True},
    "call": {"max_duration_s": 120},
}

_n = [0]


def _tmp_dir():
    _n[0] += 1
    base = "/tmp" if "tmp" in os.listdir("/") else "."
    d = "%s/doorsip_cfg_%d_%d" % (base, os.getpid() if hasattr(os, "getpid") else 0, _n[0])
    try:
        os.mkdir(d)
    except OSError:
        for name in os.listdir(d):
            os.remove(d + "/" + name)
    return d


def _copy(value):
    return json.loads(json.dumps(value))


def _with(path, value):
    """EXAMPLE with one dotted field set (value None with a marker deletes)."""
    cfg = _copy(EXAMPLE)
    parts = path.split(".")
    node = cfg
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return cfg


def _error(cfg):
    return raises(ConfigError, validate, cfg)


def test_design_example_is_valid_and_keeps_values():
    out = validate(_copy(EXAMPLE))
    assert out["sip"]["expires"] == 300
    assert out["buttons"]["bell"]["call"] == ["sip:flat200@pbx.example.org"]
    assert out["doors"]["door"]["code"] == "1234"
    assert out["incoming"]["auto_answer"] is True


def test_defaults_filled_for_empty_config():
    out = validate({})
    assert out["role"] == "door"
    assert out["name"] == "doorsip"
    assert out["board"] == "sim"
    assert out["sip"]["registrar"] is None
    assert out["sip"]["expires"] == 300
    assert out["sip"]["local_port"] == 5060
    assert out["sip"]["auth_user"] == out["sip"]["user"] == "doorsip"
    assert out["sip"]["display_name"] == "doorsip"
    assert out["rtp"]["codecs"] == ["PCMU", "PCMA"]
    assert out["rtp"]["dtmf"] == ["rfc4733", "info", "inband"]
    assert out["rtp"]["dtmf_pt"] == 101
    assert out["buttons"] == {} and out["doors"] == {}
    assert out["incoming"] == {"allow": [], "auto_answer": False, "auto_answer_delay_s": 0}
    assert out["call"] == {"max_duration_s": 120, "hangup_after_open_s": None}
    assert out["indoor"]["dtmf_method"] == "rfc4733"
    assert out["indoor"]["door_code"] is None
    assert out["indoor"]["ring_timeout_s"] == 30
    assert out["indoor"]["answer_button"] == "answer"
    assert out["indoor"]["open_button"] == "open"
    assert out["indoor"]["hangup_button"] == "hangup"


def test_nested_defaults_filled():
    out = validate({"buttons": {"bell": {"call": ["sip:a@b"]}},
                    "doors": {"door": {"code": "12"}}, "sip": {"user": "x"}})
    assert out["buttons"]["bell"] == {"call": ["sip:a@b"], "mode": "sequential",
                                      "ring_timeout_s": 20, "fallback": []}
    assert out["doors"]["door"] == {"code": "12", "pulse_ms": 3000, "max_on_ms": 10000,
                                    "max_wrong": 3, "lockout_s": 60}
    assert out["sip"]["auth_user"] == "x"


def test_validate_does_not_modify_input():
    cfg = {"sip": {"user": "x"}}
    validate(cfg)
    assert cfg == {"sip": {"user": "x"}}


def test_error_message_names_field_and_value():
    e = _error(_with("sip.expires", "abc"))
    assert e.field == "sip.expires"
    assert str(e) == 'sip.expires: must be an integer between 60 and 86400, got "abc"'


def test_ranges():
    for path, bad, good in (("sip.expires", 59, 60), ("sip.expires", 86401, 86400),
                            ("sip.local_port", 0, 1), ("sip.local_port", 65536, 65535),
                            ("rtp.port", 70000, 65535), ("rtp.dtmf_pt", 95, 96),
                            ("doors.door.pulse_ms", 99, 100),
                            ("doors.door.max_wrong", 0, 1), ("call.max_duration_s", 5, 10),
                            ("incoming.auto_answer_delay_s", 61, 60),
                            ("call.hangup_after_open_s", 0, 1)):
        assert _error(_with(path, bad)).field == path, path
        assert validate(_with(path, good)) is not None


def test_bool_is_not_an_integer_and_int_is_not_a_bool():
    assert _error(_with("sip.expires", True)).field == "sip.expires"
    assert _error(_with("incoming.auto_answer", 1)).field == "incoming.auto_answer"
    assert _error(_with("sip.expires", 300.0)).field == "sip.expires"


def test_pulse_bounded_by_max_on_guard():
    cfg = _with("doors.door.max_on_ms", 2000)
    e = _error(cfg)  # pulse_ms 3000 > max_on_ms 2000
    assert e.field == "doors.door.pulse_ms"
    assert "between 100 and 2000" in str(e)
    cfg["doors"]["door"]["pulse_ms"] = 2000
    assert validate(cfg)["doors"]["door"]["pulse_ms"] == 2000


def test_enums():
    assert _error(_with("role", "gate")).field == "role"
    assert validate(_with("role", "indoor"))["role"] == "indoor"
    assert _error(_with("buttons.bell.mode", "random")).field == "buttons.bell.mode"
    assert validate(_with("buttons.bell.mode", "parallel"))["buttons"]["bell"]["mode"] == "parallel"
    e = _error(_with("rtp.codecs", ["PCMU", "G722"]))
    assert e.field == "rtp.codecs[1]" and "PCMU, PCMA" in str(e)
    assert _error(_with("rtp.codecs", [])).field == "rtp.codecs"
    assert _error(_with("rtp.codecs", ["PCMA", "PCMA"])).field == "rtp.codecs[1]"
    assert _error(_with("rtp.dtmf", ["sms"])).field == "rtp.dtmf[0]"
    assert validate(_with("rtp.dtmf", []))["rtp"]["dtmf"] == []
    assert _error(_with("indoor.dtmf_method", "inband")).field == "indoor.dtmf_method"
    assert validate(_with("indoor.dtmf_method", "info"))["indoor"]["dtmf_method"] == "info"


def test_door_codes():
    for good in ("1234", "0", "*#ABCD09", "1234567890123456"):
        assert validate(_with("doors.door.code", good))["doors"]["door"]["code"] == good
    for bad in ("", "12a4", "12 4", "12345678901234567", 1234, None):
        e = _error(_with("doors.door.code", bad))
        assert e.field == "doors.door.code"
        assert "1234" not in str(e) and "12a4" not in str(e)  # never echoed
    assert _error({"doors": {"door": {}}}).field == "doors.door.code"
    assert validate(_with("indoor.door_code", "4321"))["indoor"]["door_code"] == "4321"
    assert _error(_with("indoor.door_code", "x")).field == "indoor.door_code"


def test_call_targets_must_be_sip_uris():
    for good in ("sip:flat200@pbx.example.org", "sips:flat@host:5061", "sip:192.168.1.20:5062",
                 "sip:flat@192.168.1.20:5062;transport=udp", "SIP:a@b", "sip:a@[::1]:5060"):
        assert validate(_with("buttons.bell.call", [good])) is not None, good
    for bad in ("flat200@pbx", "tel:+4930123", "http://x", "sip:", "sip:@host", "sip:a b@c",
                "sip:a@host:0", "sip:a@host:99999", 42):
        e = _error(_with("buttons.bell.call", ["sip:ok@host", bad]))
        assert e.field == "buttons.bell.call[1]", bad
        assert "SIP URI" in str(e)
    assert _error(_with("buttons.bell.call", [])).field == "buttons.bell.call"
    assert _error({"buttons": {"bell": {}}}).field == "buttons.bell.call"
    e = _error(_with("buttons.bell.fallback", ["192.168.1.20"]))
    assert e.field == "buttons.bell.fallback[0]"
    ok = validate(_with("buttons.bell.fallback", ["sip:flat@192.168.1.20:5062"]))
    assert ok["buttons"]["bell"]["fallback"] == ["sip:flat@192.168.1.20:5062"]
    assert _error(_with("incoming.allow", ["flat200"])).field == "incoming.allow[0]"
    assert validate(_with("incoming.allow", ["*"]))["incoming"]["allow"] == ["*"]


def test_registrar_and_proxy_host_port():
    for good in ("pbx.example.org", "pbx:5060", "10.0.0.1:5080", "[::1]:5060", "[fe80::1]", None):
        assert validate(_with("sip.registrar", good))["sip"]["registrar"] == good
    for bad in ("pbx:0", "pbx:abc", ":5060", "sip:pbx", "pbx example", "", "a:1:2", 5060):
        assert _error(_with("sip.registrar", bad)).field == "sip.registrar", bad
    assert _error(_with("sip.proxy", "x:70000")).field == "sip.proxy"


def test_unknown_keys_rejected_with_known_names():
    e = _error(_with("sip.expire", 300))
    assert e.field == "sip.expire"
    assert "unknown key" in str(e) and "expires" in str(e)
    assert _error(_with("colour", "red")).field == "colour"
    assert _error(_with("doors.door.pulse", 10)).field == "doors.door.pulse"
    assert _error(_with("buttons.bell.target", [])).field == "buttons.bell.target"


def test_underscore_keys_kept_as_comments():
    out = validate(_with("_comment", "installed 2026"))
    assert out["_comment"] == "installed 2026"
    assert validate(_with("sip._note", "x"))["sip"]["_note"] == "x"


def test_wrong_shapes_name_the_field():
    assert _error([]).field is None
    assert _error(_with("sip", "pbx")).field == "sip"
    assert _error(_with("buttons", ["bell"])).field == "buttons"
    assert _error(_with("buttons.bell", "sip:a@b")).field == "buttons.bell"
    assert _error({"buttons": {"bad name": {"call": ["sip:a@b"]}}}).field == "buttons.bad name"
    assert _error(_with("name", "")).field == "name"
    assert _error(_with("sip.user", "a b")).field == "sip.user"


def test_secret_never_in_error():
    e = _error(_with("sip.password", 12345678))
    assert e.field == "sip.password" and "12345678" not in str(e)


def test_indoor_settings():
    cfg = {"role": "indoor", "indoor": {"door_code": "1234", "dtmf_method": "info",
                                        "answer_button": "talk", "open_button": "open",
                                        "hangup_button": "talk", "auto_answer_s": 0}}
    out = validate(cfg)["indoor"]
    assert out["answer_button"] == "talk" and out["hangup_button"] == "talk"
    assert out["auto_answer_s"] == 0
    assert _error(_with("indoor.open_button", "")).field == "indoor.open_button"
    assert validate(_with("indoor.open_button", None))["indoor"]["open_button"] is None
    assert _error(_with("indoor.auto_answer_s", -1)).field == "indoor.auto_answer_s"


def test_masked_hides_secrets_only():
    out = masked(validate(_copy(EXAMPLE)))
    assert out["sip"]["password"] == "****"
    assert out["wifi"]["password"] == "****"
    assert out["doors"]["door"]["code"] == "****"
    assert out["sip"]["user"] == "door100"
    text = json.dumps(out)
    for secret in ("secret100", "wifipass", "1234"):
        assert secret not in text
    # the original is untouched; unset secrets stay visibly unset
    assert EXAMPLE["sip"]["password"] == "secret100"
    assert masked(validate({}))["sip"]["password"] == ""
    assert masked(validate(_with("indoor.door_code", "9999")))["indoor"]["door_code"] == "****"


def test_save_and_load_round_trip():
    d = _tmp_dir()
    path = d + "/config.json"
    saved = save(path, _copy(EXAMPLE))
    assert load(path) == saved
    assert saved["doors"]["door"]["max_on_ms"] == 10000
    assert "config.json.tmp" not in os.listdir(d)


def test_save_refuses_invalid_config_and_keeps_file():
    d = _tmp_dir()
    path = d + "/config.json"
    save(path, _copy(EXAMPLE))
    before = open(path).read()
    raises(ConfigError, save, path, _with("sip.expires", 1))
    assert open(path).read() == before


class _FailingFile:
    """A file that writes part of the data and then fails, like a cut mid-write."""

    def __init__(self, path, mode):
        self.f = open(path, mode)

    def write(self, data):
        self.f.write(data[: len(data) // 2])
        self.f.flush()
        raise OSError(28)  # ENOSPC

    def flush(self):
        self.f.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_failure_during_write_leaves_old_file_intact():
    d = _tmp_dir()
    path = d + "/config.json"
    save(path, _copy(EXAMPLE))
    before = open(path).read()
    new = config.dumps(validate(_with("name", "Back door"))).encode()
    raises(OSError, config.write_atomic, path, new, _FailingFile)
    assert open(path).read() == before
    assert load(path)["name"] == "Front door"
    assert "config.json.tmp" not in os.listdir(d)


def test_cut_before_rename_leaves_old_file_loaded():
    # Power lost after a partial temp file was written: the target is untouched.
    d = _tmp_dir()
    path = d + "/config.json"
    save(path, _copy(EXAMPLE))
    with open(path + ".tmp", "w") as f:
        f.write('{"name": "Back')
    assert load(path)["name"] == "Front door"
    save(path, _with("name", "Back door"))
    assert load(path)["name"] == "Back door"
    assert "config.json.tmp" not in os.listdir(d)


def test_complete_temp_file_used_when_target_missing():
    # FAT path of _replace: target removed, cut before the rename.
    d = _tmp_dir()
    path = d + "/config.json"
    with open(path + ".tmp", "w") as f:
        f.write(config.dumps(validate(_copy(EXAMPLE))))
    assert load(path)["name"] == "Front door"


def test_load_missing_file():
    e = raises(ConfigError, load, _tmp_dir() + "/nope.json")
    assert e.field is None
    assert "nope.json" in str(e) and "no such configuration file" in str(e)


def _load_text(text):
    d = _tmp_dir()
    path = d + "/bad.json"
    with open(path, "w") as f:
        f.write(text)
    return raises(ConfigError, load, path)


def test_load_invalid_json_names_line_and_column():
    e = _load_text('{\n  "role": "door",\n  "sip": {"expires" 300}\n}\n')
    assert "invalid JSON at line 3 column 21" in str(e), str(e)
    e = _load_text('{"role": "door",}')
    assert "line 1 column 17" in str(e), str(e)
    e = _load_text('{"a": [1, 2,]}')
    assert "line 1 column 13" in str(e), str(e)
    e = _load_text("   \n")
    assert "empty" in str(e)


def test_load_valid_json_invalid_config_names_field():
    e = _load_text('{"sip": {"expires": "abc"}}')
    assert e.field == "sip.expires"


def test_load_non_utf8():
    d = _tmp_dir()
    path = d + "/bin.json"
    with open(path, "wb") as f:
        f.write(b'{"name": "\xff\xfe"}')
    e = raises(ConfigError, load, path)
    assert "UTF-8" in str(e)


def test_strict_checker_agrees_with_cpython_json():
    from doorsip import jsonstrict
    docs = ('{"a":1,}', '[1,2,]', '{"a" 1}', "{'a':1}", '{"a":01}', '{"a":tru}',
            '{"a":"\\x"}', '{"a":1e}', '{"a":-}', '{"a":1} x', '{"a":"b\n"}', '[', '{"a":1',
            '"abc', '{"a":[1,{"b":2}]}', ' {"a": -0.5e+3, "b": [true, false, null, "\\u00e9"]} ',
            '{"a":1.}', '{"a":.5}', '[1 2]')
    for doc in docs:
        found = jsonstrict.find_error(doc)
        if MICROPYTHON:
            continue
        try:
            json.loads(doc)
            assert found is None, doc
        except ValueError as exc:
            assert found is not None, doc
            assert found[0] == exc.pos, (doc, found, exc.pos)
    assert jsonstrict.find_error('{"a":1,}') is not None
    assert jsonstrict.find_error('{"a": [1, "x"]}') is None


def test_validate_is_idempotent():
    once = validate(_copy(EXAMPLE))
    assert validate(once) == once
    assert validate(validate({})) == validate({})


def test_release_forgets_modules():
    import sys
    import doorsip
    from doorsip import board  # noqa: F401
    saved = {}
    for name in ("doorsip.config", "doorsip.board", "doorsip.jsonstrict"):
        if name in sys.modules:
            saved[name] = sys.modules[name]
    try:
        config.release()
        assert "doorsip.config" not in sys.modules and "doorsip.board" not in sys.modules
        assert "config" not in doorsip.__dict__
        assert validate({})["role"] == "door"  # functions already bound keep working
    finally:
        # Put the same module objects back: other tests hold their classes.
        for name in saved:
            sys.modules[name] = saved[name]
            setattr(doorsip, name.split(".")[1], saved[name])


def test_rtp_port_must_not_collide_with_sip_port():
    e = _error(_with("rtp.port", 5060))
    assert e.field == "rtp.port" and "sip.local_port 5060" in str(e)
    assert _error(_with("rtp.port", 5059)).field == "rtp.port"  # RTCP on 5060
    assert validate(_with("rtp.port", 5061))["rtp"]["port"] == 5061


def test_load_deeply_nested_json_is_a_config_error():
    e = _load_text('{"name": ' + "[" * 5000 + "]" * 5000 + "}")
    assert "nested too deeply" in str(e), str(e)
