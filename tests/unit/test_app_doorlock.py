# Door codes: the digits of a call end with the code -> open; '#', '*' or 3 s of
# silence end a wrong attempt; max_wrong wrong attempts lock the door out.
from doorsip.app.doorlock import CodeEntry, Door, codes_match

# CodeEntry's verdicts (module-private const()s in doorlock.py and intercom.py)
OPENED, REJECTED, LOCKED_OUT, IGNORED = 1, 2, 3, 4


def _entry(max_wrong=3, lockout_s=60):
    door = Door("door", "1234", 3000, max_wrong, lockout_s)
    return CodeEntry([door]), door


def _feed(entry, digits, now):
    verdict = None
    for d in digits:
        verdict = entry.feed(d, now)
        now += 200
    return verdict, now


def test_codes_match_only_on_the_tail():
    assert codes_match("1234", "1234")
    assert codes_match("991234", "1234")
    assert not codes_match("12345", "1234")
    assert not codes_match("123", "1234")
    assert not codes_match("1234", "")


def test_right_code_opens_without_hash():
    entry, door = _entry()
    verdict, _ = _feed(entry, "1234", 1000)
    assert verdict == OPENED and entry.opened is door


def test_retyped_code_after_a_mistake_opens():
    entry, door = _entry()
    verdict, _ = _feed(entry, "5551234", 1000)
    assert verdict == OPENED


def test_hash_ends_a_wrong_attempt():
    entry, door = _entry()
    verdict, _ = _feed(entry, "999#", 1000)
    assert verdict == REJECTED and door.wrong == 1


def test_lone_hash_is_not_an_attempt():
    entry, door = _entry()
    assert entry.feed("#", 0) is None and door.wrong == 0


def test_silence_ends_an_attempt_after_3_s():
    entry, door = _entry()
    verdict, now = _feed(entry, "99", 1000)
    assert verdict is None
    assert entry.poll(now + 2000) is None
    assert entry.deadline_ms() is not None
    assert entry.poll(now + 3000) == REJECTED
    assert door.wrong == 1 and entry.digits == ""


def test_lockout_after_max_wrong_then_expiry():
    entry, door = _entry(max_wrong=2, lockout_s=60)
    now = 1000
    assert _feed(entry, "1#", now)[0] == REJECTED
    verdict, now = _feed(entry, "2#", now)
    assert verdict == LOCKED_OUT and entry.locked_now == [door]
    # locked: even the right code is ignored
    assert _feed(entry, "1234", now)[0] == IGNORED
    assert door.locked(now + 59000)
    # after the lockout the right code opens again and the count restarts
    verdict, _ = _feed(entry, "1234", now + 61000)
    assert verdict == OPENED and door.wrong == 0


def test_two_doors_each_with_its_code():
    front = Door("front", "11", 1000, 3, 60)
    garage = Door("garage", "22", 1000, 3, 60)
    entry = CodeEntry([front, garage])
    assert _feed(entry, "22", 0)[0] == OPENED and entry.opened is garage
    assert _feed(entry, "11", 0)[0] == OPENED and entry.opened is front


def test_digit_buffer_is_bounded():
    entry, door = _entry()
    _feed(entry, "9" * 500, 0)
    assert len(entry.digits) <= 32
