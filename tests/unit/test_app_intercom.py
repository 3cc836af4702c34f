# The intercom policy, driven through its on_* inputs with a recording phone and
# hardware (the policy is sans-IO; the end-to-end tests run it over the real UA).
from doorsip.app.intercom import Intercom, uri_key
from doorsip.events import MemorySink

A = "sip:flat200@pbx.example.org"
B = "sip:flat201@pbx.example.org"


class Phone:
    def __init__(self):
        self.log = []
        self.n = 0
        self.fail_dial = False

    def call(self, target):
        if self.fail_dial:
            return None
        self.n += 1
        self.log.append(("call", target, self.n))
        return self.n

    def __getattr__(self, name):
        def record(*args):
            self.log.append((name,) + args)
        return record


class Hw:
    def __init__(self):
        self.leds = []
        self.pulses = []

    def led(self, pattern):
        self.leds.append(pattern)

    def pulse(self, relay, ms):
        self.pulses.append((relay, ms))


def _station(extra=None, role="door"):
    config = {
        "role": role,
        "sip": {"registrar": None},
        "buttons": {"bell": {"call": [A, B], "mode": "sequential", "ring_timeout_s": 20}},
        "doors": {"door": {"code": "1234", "pulse_ms": 3000, "max_wrong": 2, "lockout_s": 60}},
        "incoming": {"allow": [A], "auto_answer": True},
        "call": {"max_duration_s": 120},
    }
    if extra:
        for key in extra:
            config[key] = extra[key]
    phone, hw, events = Phone(), Hw(), MemorySink()
    station = Intercom(config, phone, hw, events, 0)
    station.start(0)
    return station, phone, hw, events


def _names(events):
    return [e["event"] for e in events.recent]


def _last(events, name):
    found = [e for e in events.recent if e["event"] == name]
    return found[-1] if found else None


def _calls(phone):
    return [entry for entry in phone.log if entry[0] == "call"]


def test_uri_key_normalises_party():
    assert uri_key('"Flat" <sip:flat200@PBX.example.org:5060;transport=udp>;tag=1') == \
        "flat200@pbx.example.org"
    assert uri_key("sip:flat200@pbx.example.org") == "flat200@pbx.example.org"


def test_sequential_moves_on_after_busy_then_answer_and_code_opens():
    station, phone, hw, events = _station()
    station.on_button("bell", 0)
    assert _calls(phone) == [("call", A, 1)]
    station.on_call_failed(1, 486, 100)
    assert _calls(phone)[-1] == ("call", B, 2)
    station.on_answered(2, 200)
    assert "answered" in _names(events)
    for i, d in enumerate("1234"):
        station.on_dtmf(2, d, "rfc4733", 300 + i)
    assert hw.pulses == [("door", 3000)]
    opened = [e for e in events.recent if e["event"] == "door_opened"][0]
    assert opened["caller"] == B and opened["method"] == "rfc4733"


def test_sequential_ring_timeout_cancels_and_calls_next():
    station, phone, hw, events = _station()
    station.on_button("bell", 0)
    station.poll(19999)
    assert ("cancel", 1) not in phone.log
    station.poll(20000)
    assert ("cancel", 1) in phone.log and _calls(phone)[-1][1] == B
    station.poll(40000)
    assert ("cancel", 2) in phone.log
    assert events.recent[-1]["event"] == "call_ended"
    assert events.recent[-1]["reason"] == "no_answer"
    assert station.state_name() == "idle"


def test_parallel_first_answer_wins_others_cancelled():
    station, phone, hw, events = _station(
        {"buttons": {"bell": {"call": [A, B], "mode": "parallel", "ring_timeout_s": 20}}})
    station.on_button("bell", 0)
    assert [c[1] for c in _calls(phone)] == [A, B]
    station.on_answered(2, 500)
    assert ("cancel", 1) in phone.log
    # the loser answering anyway (200 crossed the CANCEL) is hung up
    station.on_answered(1, 600)
    assert ("hangup", 1) in phone.log
    assert station.state_name() == "in_call" and station.call == 2


def test_second_press_while_calling_is_ignored():
    station, phone, hw, events = _station()
    station.on_button("bell", 0)
    station.on_button("bell", 10)
    assert len(_calls(phone)) == 1


def test_max_call_length_hangs_up():
    station, phone, hw, events = _station({"call": {"max_duration_s": 5}})
    station.on_button("bell", 0)
    station.on_answered(1, 100)
    station.poll(5099)
    assert ("hangup", 1) not in phone.log
    station.poll(5100)
    assert ("hangup", 1) in phone.log
    station.on_call_ended(1, "local_hangup", {"packets_sent": 3}, 5200)
    ended = _last(events, "call_ended")
    assert ended["reason"] == "local_hangup" and ended["packets_sent"] == 3
    assert ended["duration_ms"] == 5100


def test_hangup_after_open():
    station, phone, hw, events = _station({"call": {"max_duration_s": 120, "hangup_after_open_s": 2}})
    station.on_button("bell", 0)
    station.on_answered(1, 0)
    for d in "1234":
        station.on_dtmf(1, d, "info", 100)
    station.poll(2099)
    assert ("hangup", 1) not in phone.log
    station.poll(2100)
    assert ("hangup", 1) in phone.log


def test_wrong_codes_lock_out_and_relay_never_fires():
    station, phone, hw, events = _station()
    station.on_button("bell", 0)
    station.on_answered(1, 0)
    for d in "99#88#1234":
        station.on_dtmf(1, d, "inband", 100)
    assert hw.pulses == []
    names = _names(events)
    assert names.count("code_rejected") == 2 and "locked_out" in names


def test_incoming_allowlist_auto_answer_and_403():
    station, phone, hw, events = _station()
    station.on_incoming(7, "<sip:flat200@pbx.example.org>;tag=x", 0)
    assert ("answer", 7) in phone.log
    station.on_call_ended(7, "remote_hangup", None, 100)
    station.on_incoming(8, "<sip:stranger@evil.example>;tag=y", 200)
    assert ("reject", 8, 403) in phone.log


def test_incoming_while_busy_is_486():
    station, phone, hw, events = _station()
    station.on_button("bell", 0)
    station.on_incoming(9, "<sip:flat200@pbx.example.org>", 10)
    assert ("reject", 9, 486) in phone.log


def test_registrar_down_uses_fallback():
    station, phone, hw, events = _station({
        "sip": {"registrar": "pbx.example.org"},
        "buttons": {"bell": {"call": [A], "fallback": ["sip:flat200@192.0.2.20:5062"],
                             "mode": "sequential", "ring_timeout_s": 20}}})
    assert ("register",) in phone.log
    station.on_registration_failed(0, True)
    station.on_button("bell", 10)
    assert _calls(phone)[-1][1] == "sip:flat200@192.0.2.20:5062"
    assert "fallback" in _names(events)
    # retried with back-off
    station.poll(2000)
    assert phone.log.count(("register",)) == 2


def test_registered_uses_primary_and_keeps_alive():
    station, phone, hw, events = _station({"sip": {"registrar": "pbx.example.org"}})
    station.on_registered(0)
    station.on_button("bell", 10)
    assert _calls(phone)[-1][1] == A
    station.poll(25000)
    assert ("keepalive",) in phone.log


def test_indoor_rings_auto_answers_and_sends_code():
    station, phone, hw, events = _station(
        {"indoor": {"door_code": "1234", "dtmf_method": "info", "auto_answer_s": 2}},
        role="indoor")
    station.on_incoming(3, "<sip:door@127.0.0.1>", 0)
    assert ("ring", 3) in phone.log and "ringing" in hw.leds
    station.poll(1999)
    assert ("answer", 3) not in phone.log
    station.poll(2000)
    assert ("answer", 3) in phone.log
    station.on_button("open", 2500)
    assert ("send_digits", 3, "1234", "info") in phone.log


def test_indoor_answer_button_and_hangup_declines():
    station, phone, hw, events = _station({"indoor": {"door_code": "1"}}, role="indoor")
    station.on_incoming(3, "<sip:door@127.0.0.1>", 0)
    station.on_button("answer", 100)
    assert ("answer", 3) in phone.log
    station.on_call_ended(3, "remote_hangup", None, 200)
    station.on_incoming(4, "<sip:door@127.0.0.1>", 300)
    station.on_button("hangup", 400)
    assert ("reject", 4, 603) in phone.log
