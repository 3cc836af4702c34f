# A strict JSON (RFC 8259) syntax check that reports where the text goes wrong.
# MicroPython's json.loads accepts trailing commas, missing colons and leading
# zeros and never says where an error is; config.load() runs this first on
# MicroPython so one file is valid or invalid alike on both interpreters, and the
# error names a line and column. Loaded only by config.load(), then dropped.
#
# Written as few functions with few distinct names: every name and every short
# string literal here would be interned for good when the module loads (strings
# inside constant tuples and underscore const()s are not).

from doorsip.compat import const

# Inlined by MicroPython's compiler (see board.py): no global, no interned name.
_WS = const(" \t\r\n")
_DIGITS = const("0123456789")
_ESCAPES = const('"\\/bfnrt')  # and "u", handled on its own
_HEX = const("0123456789abcdefABCDEF")


def find_error(text):
    """None if text is one valid JSON value, else (offset, message); errors are
    reported at the offsets CPython's json gives (config.parse turns them into a
    line and column)."""
    try:
        pos = _skip(text, _value(text, _skip(text, 0)))
        if pos != len(text):
            return pos, "extra data after the JSON value"
        return None
    except ValueError as exc:
        return exc.args[0], exc.args[1]


def _skip(text, pos):
    n = len(text)
    while pos < n and text[pos] in _WS:
        pos += 1
    return pos


def _value(text, pos):
    """The offset just after the JSON value at pos; ValueError(offset, message)."""
    n = len(text)
    c = text[pos] if pos < n else ""
    if c in ("[", "{"):
        # RFC 8259 sections 4 and 5: objects (string keys and ":") and arrays.
        close = chr(ord(c) + 2)  # "]" or "}"
        pos = _skip(text, pos + 1)
        if pos < n and text[pos] == close:
            return pos + 1
        while True:
            if c != "[":
                if pos >= n or text[pos] != '"':
                    raise ValueError(pos, "expecting a property name in double quotes")
                pos = _skip(text, _value(text, pos))
                if pos >= n or text[pos] != ":":
                    raise ValueError(pos, "expecting ':' delimiter")
                pos = _skip(text, pos + 1)
            pos = _skip(text, _value(text, pos))
            if pos < n and text[pos] == close:
                return pos + 1
            if pos >= n or text[pos] != ",":
                raise ValueError(pos, "expecting ',' delimiter")
            pos = _skip(text, pos + 1)
    if c == '"':
        # RFC 8259 section 7.
        start = pos
        pos += 1
        while pos < n:
            c = text[pos]
            if c == '"':
                return pos + 1
            if c == "\\":
                c = text[pos + 1] if pos + 1 < n else ""
                if c in ("u",):
                    for k in range(pos + 2, pos + 6):
                        if k >= n or text[k] not in _HEX:
                            # at the u, as CPython
                            raise ValueError(pos + 1, "invalid \\uXXXX escape")
                    pos += 6
                elif c and c in _ESCAPES:
                    pos += 2
                else:
                    raise ValueError(pos, "invalid \\escape")
            elif ord(c) < 0x20:
                raise ValueError(pos, "invalid control character in string")
            else:
                pos += 1
        raise ValueError(start, "unterminated string")
    if c == "-" or (c and c in _DIGITS):
        # RFC 8259 section 6: -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
        start = pos
        if c == "-":
            pos += 1
        if pos < n and text[pos] == "0":
            pos += 1
        elif pos < n and text[pos] in _DIGITS:
            while pos < n and text[pos] in _DIGITS:
                pos += 1
        else:
            raise ValueError(start, "expecting a value")
        # Like CPython's json, a fraction or exponent without digits is not part of
        # the number: the error is then reported at the "." or "e" that follows it.
        if pos + 1 < n and text[pos] == "." and text[pos + 1] in _DIGITS:
            pos += 1
            while pos < n and text[pos] in _DIGITS:
                pos += 1
        if pos < n and text[pos] in ("e", "E"):
            k = pos + 1
            if k < n and text[k] in ("+", "-"):
                k += 1
            if k < n and text[k] in _DIGITS:
                pos = k
                while pos < n and text[pos] in _DIGITS:
                    pos += 1
        return pos
    for word in ("true", "false", "null"):
        if text.startswith(word, pos):
            return pos + len(word)
    raise ValueError(pos, "expecting a value")
