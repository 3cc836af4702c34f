# A strict JSON (RFC 8259) syntax check that reports where the text goes wrong.
# MicroPython's json.loads accepts trailing commas, missing colons and leading
# zeros and never says where an error is; config.load() runs this first on
# MicroPython so one file is valid or invalid alike on both interpreters, and the
# error names a line and column. Loaded only by config.load(), then dropped.

from doorsip.compat import const

# Inlined by MicroPython's compiler (see board.py): no global, no interned name.
_WS = const(" \t\r\n")
_DIGITS = const("0123456789")
_ESCAPES = const('"\\/bfnrtu')
_HEX = const("0123456789abcdefABCDEF")


def find_error(text):
    """None if text is one valid JSON value, else (offset, message)."""
    try:
        pos = _value(text, _skip(text, 0))
        pos = _skip(text, pos)
        if pos != len(text):
            return pos, "extra data after the JSON value"
        return None
    except ValueError as exc:
        return exc.args[0], exc.args[1]


def line_col(text, offset):
    """1-based (line, column) of a character offset, as CPython's json reports them."""
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1


def _skip(text, pos):
    n = len(text)
    while pos < n and text[pos] in _WS:
        pos += 1
    return pos


def _fail(pos, message):
    raise ValueError(pos, message)


def _value(text, pos):
    if pos >= len(text):
        _fail(pos, "expecting a value")
    c = text[pos]
    if c == "{":
        return _object(text, pos + 1)
    if c == "[":
        return _array(text, pos + 1)
    if c == '"':
        return _string(text, pos + 1)
    if c == "-" or c in _DIGITS:
        return _number(text, pos)
    for word in ("true", "false", "null"):
        if text.startswith(word, pos):
            return pos + len(word)
    _fail(pos, "expecting a value")


def _object(text, pos):
    pos = _skip(text, pos)
    if pos < len(text) and text[pos] == "}":
        return pos + 1
    while True:
        if pos >= len(text) or text[pos] != '"':
            _fail(pos, "expecting a property name in double quotes")
        pos = _skip(text, _string(text, pos + 1))
        if pos >= len(text) or text[pos] != ":":
            _fail(pos, "expecting ':' delimiter")
        pos = _skip(text, _value(text, _skip(text, pos + 1)))
        if pos < len(text) and text[pos] == "}":
            return pos + 1
        if pos >= len(text) or text[pos] != ",":
            _fail(pos, "expecting ',' delimiter")
        pos = _skip(text, pos + 1)


def _array(text, pos):
    pos = _skip(text, pos)
    if pos < len(text) and text[pos] == "]":
        return pos + 1
    while True:
        pos = _skip(text, _value(text, pos))
        if pos < len(text) and text[pos] == "]":
            return pos + 1
        if pos >= len(text) or text[pos] != ",":
            _fail(pos, "expecting ',' delimiter")
        pos = _skip(text, pos + 1)


def _string(text, pos):
    # pos is just after the opening quote; RFC 8259 section 7.
    start = pos - 1
    n = len(text)
    while pos < n:
        c = text[pos]
        if c == '"':
            return pos + 1
        if c == "\\":
            if pos + 1 >= n or text[pos + 1] not in _ESCAPES:
                _fail(pos, "invalid \\escape")
            if text[pos + 1] == "u":
                for k in range(pos + 2, pos + 6):
                    if k >= n or text[k] not in _HEX:
                        _fail(pos + 1, "invalid \\uXXXX escape")  # at the u, as CPython
                pos += 6
            else:
                pos += 2
        elif ord(c) < 0x20:
            _fail(pos, "invalid control character in string")
        else:
            pos += 1
    _fail(start, "unterminated string")


def _number(text, pos):
    # RFC 8259 section 6: -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
    start = pos
    n = len(text)
    if text[pos] == "-":
        pos += 1
    if pos < n and text[pos] == "0":
        pos += 1
    elif pos < n and text[pos] in _DIGITS:
        while pos < n and text[pos] in _DIGITS:
            pos += 1
    else:
        _fail(start, "expecting a value")
    # Like CPython's json, a fraction or exponent without digits is not part of
    # the number: the error is then reported at the "." or "e" that follows it.
    if pos + 1 < n and text[pos] == "." and text[pos + 1] in _DIGITS:
        pos += 1
        while pos < n and text[pos] in _DIGITS:
            pos += 1
    if pos < n and text[pos] in "eE":
        k = pos + 1
        if k < n and text[k] in "+-":
            k += 1
        if k < n and text[k] in _DIGITS:
            pos = k
            while pos < n and text[pos] in _DIGITS:
                pos += 1
    return pos
