# The RFC 4475 torture corpus (../shared/sip-torture relative to the repository root) through
# doorsip.sip.parse, on both interpreters: every valid message accepted, every invalid one
# rejected with a status its index names (or repaired where the index allows), nothing else
# ever escaping. Under CI=true a missing corpus is a failure, elsewhere a skip.
import json
import os

from support import skip

from doorsip.compat import hash_hex
from doorsip.sip import SIPError, parse, parse_name_addr, parse_uri, unescape


def _corpus_dir():
    path = os.getenv("SIP_TORTURE_DIR") if hasattr(os, "getenv") else None
    if path:
        return path
    # This file is <root>/tests/unit/test_sip_torture.py; the corpus is <root>/../shared/.
    parts = __file__.replace("\\", "/").split("/")
    root = "/".join(parts[:-3]) or "."
    return root + "/../shared/sip-torture"


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


_INDEX = None


def _index():
    global _INDEX
    if _INDEX is None:
        folder = _corpus_dir()
        if not _exists(folder + "/index.json"):
            ci = os.getenv("CI", "") if hasattr(os, "getenv") else ""
            message = "RFC 4475 corpus not found at " + folder
            if ci.lower() in ("1", "true", "yes"):
                raise AssertionError(message)
            skip(message)
        with open(folder + "/index.json") as f:
            _INDEX = json.load(f)
    return _INDEX


def _read(name):
    _index()  # skips (or fails under CI) when the corpus is missing
    with open(_corpus_dir() + "/" + name, "rb") as f:
        return f.read()


def _entry(name):
    for entry in _index()["messages"]:
        if entry["name"] == name:
            return entry
    raise AssertionError("no corpus entry " + name)


def _outcome(data):
    """The parse contract: a Message, or SIPError with a 4xx/5xx status; nothing else."""
    try:
        return parse(data)
    except SIPError as exc:
        assert 400 <= exc.status <= 599, exc.status
        return exc


def test_corpus_is_complete_and_intact():
    index = _index()
    assert index["count"] == 49 and len(index["messages"]) == 49
    assert len([e for e in index["messages"] if e["valid"]]) == index["valid_count"] == 27
    for entry in index["messages"]:
        data = _read(entry["file"])
        assert len(data) == entry["bytes"], entry["name"]
        assert hash_hex("sha256", data) == entry["sha256"], entry["name"]


def test_valid_messages_accepted():
    for entry in _index()["messages"]:
        if not entry["valid"]:
            continue
        result = _outcome(_read(entry["file"]))
        if isinstance(result, SIPError):
            # badbranch: the RFC lets an element reject a bare magic-cookie branch with 400.
            allowed = entry["ua_acceptable_responses"]
            assert allowed != "drop" and result.status in allowed, (entry["name"], str(result))
            continue
        if entry["message"] == "request":
            assert result.method == entry["method"], entry["name"]
            assert result.status is None
        else:
            assert result.status == int(entry["status_code"]) and result.method is None, entry["name"]
        # Reading what every layer reads must not fail either.
        assert result.call_id and result.cseq[1]
        assert result.via.host and result.header("via") == result.headers("via")[0]
        result.from_tag
        result.to_tag
        result.branch
        result.items()


def test_invalid_messages_rejected_or_repaired():
    repaired = []
    for entry in _index()["messages"]:
        if entry["valid"]:
            continue
        result = _outcome(_read(entry["file"]))
        allowed = entry["ua_acceptable_responses"]
        if isinstance(result, SIPError):
            if allowed != "drop":  # invalid responses are dropped: any rejection does
                assert result.status in allowed, (entry["name"], str(result), allowed)
        else:
            assert entry["liberal_accept_allowed"], (entry["name"], "accepted but must be rejected")
            repaired.append(entry["name"])
    # The ones this parser repairs, so a change in strictness shows up here.
    repaired.sort()
    assert repaired == ["baddate", "escruri", "regbadct"], repaired


def test_expected_statuses():
    expected = {"badvers": 505, "clerr": 400, "ncl": 400, "scalar02": 400, "mismatch01": 400,
                "mismatch02": 400, "insuf": 400, "multi01": 400, "mcl01": 400, "badinv01": 400,
                "quotbal": 400, "baddn": 400, "ltgtruri": 400, "lwsruri": 400, "lwsstart": 400,
                "trws": 400, "badaspec": 400, "scalarlg": 400, "bigcode": 400}
    for name in expected:
        result = _outcome(_read(_entry(name)["file"]))
        assert isinstance(result, SIPError) and result.status == expected[name], (name, result)


def test_wsinv_details():
    m = parse(_read("wsinv.dat"))
    assert m.uri == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    assert m.to_tag == "1918181833n" and m.from_tag == "98asjd8"
    assert m.from_addr.display == 'J Rosenberg \\"'
    assert m.cseq == (9, "INVITE") and m.header("max-forwards") == "0068"
    assert len(m.headers("via")) == 3
    assert m.via.host == "192.0.2.2" and m.branch == "390skdjuw"
    assert m.header("subject") == ""
    assert m.header("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert " ".join(m.header("newfangledheader").split()) == "newfangled value continued newfangled value"
    contact = parse_name_addr(m.header("m"))
    assert contact.display == 'Quoted string ""' and contact.params["newparam"] == "newvalue"
    assert contact.params["q"] == "0.33" and "secondparam" in contact.params
    assert len(m.body) == 150 and m.body.startswith(b"v=0\r\n")


def test_escapes_and_unusual_tokens():
    m = parse(_read("esc01.dat"))
    assert unescape(parse_uri(m.uri).user) == "sips:user@example.com"
    assert unescape(parse_uri(m.to_addr.uri).user) == "user"
    contact = parse_uri(parse_name_addr(m.header("contact")).uri)
    assert unescape(contact.user) == "caller"
    m = parse(_read("esc02.dat"))
    assert m.method == "RE%47IST%45R" and m.cseq[1] == "RE%47IST%45R"
    assert len(m.headers("contact")) == 2  # C%6Fntact is another, unknown header
    assert m.header("c%6fntact") == "<sip:alias2@host2.example.com>"
    assert m.from_addr.display == "%Z%45"
    m = parse(_read("escnull.dat"))
    contacts = m.headers("contact")
    assert len(contacts) == 2 and unescape(parse_uri(parse_name_addr(contacts[1]).uri).user) == "\x00\x00"
    m = parse(_read("intmeth.dat"))
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.from_addr.display == "token1~` token2'+_ token3*%!.-"
    assert m.to_addr.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.from_tag == "_token~1'+`*%!-."
    assert parse_uri(m.uri).password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    m = parse(_read("lwsdisp.dat"))
    assert m.from_addr.display == "caller" and m.from_tag == "323"


def test_framing_cases():
    m = parse(_read("dblreq.dat"))
    assert m.method == "REGISTER" and m.body == b""
    data = _read("inv2543.dat")
    m = parse(data)
    assert m.header("content-length") is None and m.body.startswith(b"v=0") and data.endswith(m.body)
    m = parse(_read("mpart01.dat"))
    assert len(m.body) == int(m.header("content-length")) and b"\x00" in m.body
    m = parse(_read("longreq.dat"))
    assert len(m.call_id) > 100 and len(m.headers("via")) == 34
    assert m.via.host == "sip33.example.com" and m.via.transport == "TCP"
    assert m.to_addr.display.startswith("I have a user name of extreme")
    assert parse_uri(m.to_addr.uri).port == 6000


def test_lists_and_uri_parameters():
    m = parse(_read("transports.dat"))
    assert [v.split()[0].split("/")[-1] for v in m.headers("via")] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    assert m.call_id == "transports.kijh4akdnaqjkwendsasfdj"
    m = parse(_read("semiuri.dat"))
    assert parse_uri(m.uri).user == "user;par=u%40example.net"
    assert len(m.headers("accept")) == 6
    m = parse(_read("cparam01.dat"))
    contact = parse_name_addr(m.header("contact"))
    assert contact.params == {"unknownparam": None} and parse_uri(contact.uri).params == {}
    m = parse(_read("cparam02.dat"))
    contact = parse_name_addr(m.header("contact"))
    assert contact.params == {} and parse_uri(contact.uri).params == {"unknownparam": None}
    m = parse(_read("regescrt.dat"))
    uri = parse_uri(parse_name_addr(m.header("contact")).uri)
    assert uri.headers == {"Route": "%3Csip:sip.example.com%3E"}


def test_responses():
    m = parse(_read("unreason.dat"))
    assert m.status == 200 and m.reason.startswith("= 2**3 * 5**2 ") and len(m.reason) > 20
    m = parse(_read("noreason.dat"))
    assert m.status == 100 and m.reason == ""
    m = parse(_read("bcast.dat"))
    assert m.status == 200 and len(m.headers("via")) == 2


def test_truncations_and_extra_file_never_crash():
    # Every corpus message cut at many points, plus the archive's stray test.dat.
    for entry in _index()["messages"]:
        data = _read(entry["file"])
        step = 1 + len(data) // 23
        for cut in range(0, len(data), step):
            _outcome(data[:cut])
            _outcome(data[cut:])
    if _exists(_corpus_dir() + "/extra/test.dat"):
        _outcome(_read("extra/test.dat"))
