# Property tests of the configuration validator and the strict JSON checker
# (hypothesis), and a cross-interpreter check: the same files give the same verdict
# (valid, or the same field / the same line and column) on CPython and MicroPython.
import json
import os
import sys

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st, HealthCheck  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit"))
from test_config import EXAMPLE  # noqa: E402
from tooling import run_micropython, TESTS, FIRMWARE  # noqa: E402

from doorsip import jsonstrict  # noqa: E402
from doorsip.config import validate, ConfigError, parse  # noqa: E402

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10 ** 6, 10 ** 6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12) | st.sampled_from(["sip:a@b", "PCMU", "door", "indoor", "1234", "rfc4733"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["role", "sip", "user", "expires", "call", "buttons", "bell", "doors", "door",
                         "code", "pulse_ms", "rtp", "codecs", "x", "_c"]) | st.text(max_size=6),
        children, max_size=4),
    max_leaves=20)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))


def _set(cfg, path, new):
    cfg = json.loads(json.dumps(cfg))
    if not path:
        return new
    node = cfg
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = new
    return cfg


EXAMPLE_PATHS = list(_paths(EXAMPLE))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_validate_any_value_config_error_or_valid(value):
    try:
        out = validate(value)
    except ConfigError as exc:
        assert str(exc)
        return
    assert validate(out) == out


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(EXAMPLE_PATHS), json_values)
def test_one_field_replaced_errors_name_that_field(path, new):
    cfg = _set(EXAMPLE, path, new)
    try:
        out = validate(cfg)
    except ConfigError as exc:
        dotted = ".".join(path)
        assert exc.field is None or exc.field.startswith(dotted) or not path, (exc.field, dotted)
        return
    assert validate(out) == out


def _mutations():
    text = json.dumps(EXAMPLE, indent=1)
    chars = st.sampled_from(list(',:{}[]" 0123456789-.eE+truefalsn\\\n\tx'))
    pos = st.integers(0, len(text))

    @st.composite
    def mutate(draw):
        t = text
        for _ in range(draw(st.integers(1, 3))):
            i = draw(pos) % (len(t) + 1)
            kind = draw(st.integers(0, 2))
            if kind == 0:
                t = t[:i] + draw(chars) + t[i:]
            elif kind == 1:
                t = t[:i] + t[i + 1:]
            else:
                t = t[:i] + draw(chars) + t[i + 1:]
        return t
    return mutate()


def _cpython_verdict(text):
    try:
        json.loads(text)
        return None
    except ValueError as exc:
        return exc.pos


@settings(max_examples=600, deadline=None)
@given(_mutations())
def test_strict_checker_matches_cpython_json(text):
    if "NaN" in text or "Infinity" in text:
        return  # CPython's json extension; RFC 8259 has no such numbers
    found = jsonstrict.find_error(text)
    expected = _cpython_verdict(text)
    if expected is None:
        assert found is None, text
    else:
        assert found is not None and found[0] == expected, (text, found, expected)


def _verdict(text):
    try:
        cfg = parse(text, "f")
        validate(cfg)
        return "ok"
    except ConfigError as exc:
        if exc.field:
            return "field " + exc.field
        return exc.message.split(":", 1)[1].split(":")[0].strip()  # "invalid JSON at line L column C"


def test_same_verdict_on_micropython(tmp_path):
    import random
    rng = random.Random(7)
    base = json.dumps(EXAMPLE, indent=1)
    texts = [base]
    for _ in range(120):
        t = base
        for _ in range(rng.randint(1, 2)):
            i = rng.randrange(len(t))
            t = t[:i] + rng.choice(',:{}[]"0-.ex \n') + t[i + rng.randint(0, 1):]
        if "NaN" not in t and "Infinity" not in t:
            texts.append(t)
    for i, t in enumerate(texts):
        (tmp_path / ("c%03d.json" % i)).write_text(t)
    script = tmp_path / "verdicts.py"
    script.write_text(
        "import sys\n"
        "from doorsip.config import load, ConfigError\n"
        "for i in range(%d):\n"
        "    p = '%s/c%%03d.json' %% i\n"
        "    try:\n"
        "        load(p)\n"
        "        print('ok')\n"
        "    except ConfigError as e:\n"
        "        print('field ' + e.field if e.field else e.message.split(':', 1)[1].split(':')[0].strip())\n"
        % (len(texts), tmp_path))
    result = run_micropython(str(script), heap="256K", path=(FIRMWARE, TESTS), timeout=60)
    assert result.returncode == 0, result.stderr + result.stdout
    mpy = result.stdout.splitlines()
    cpy = [_verdict(t) for t in texts]
    assert len(mpy) == len(cpy)
    mismatches = [(texts[i], cpy[i], mpy[i]) for i in range(len(cpy)) if cpy[i] != mpy[i]]
    assert not mismatches, mismatches[:3]
    assert cpy.count("ok") >= 1 and len(set(cpy)) > 5
