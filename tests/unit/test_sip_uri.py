# Unit tests of doorsip.sip.uri: URIs, name-addr/addr-spec, Via values, identifiers.
# They run under pytest and under the MicroPython runner alike.
from support import raises

from doorsip.sip import SIPError, new_branch, new_call_id, new_tag, parse_name_addr, parse_uri, parse_via, unescape


def test_full_sip_uri():
    u = parse_uri("sip:alice:secret@Example.COM:5070;transport=UDP;lr;maddr=239.255.255.1?subject=hi&priority=urgent")
    assert u.scheme == "sip" and u.user == "alice" and u.password == "secret"
    assert u.host == "Example.COM" and u.port == 5070
    assert u.params == {"transport": "UDP", "lr": None, "maddr": "239.255.255.1"}
    assert u.headers == {"subject": "hi", "priority": "urgent"}
    again = parse_uri(str(u))
    assert (again.user, again.password, again.host, again.port) == ("alice", "secret", "Example.COM", 5070)
    assert again.params == u.params and again.headers == u.headers
    assert u.hostport() == "Example.COM:5070"


def test_minimal_and_sips_uris():
    u = parse_uri("sips:example.org")
    assert u.scheme == "sips" and u.user is None and u.host == "example.org" and u.port is None
    assert str(u) == "sips:example.org" and u.hostport() == "example.org"
    assert parse_uri("SIP:bob@192.0.2.4").scheme == "sip"
    assert parse_uri("  sip:bob@h  ").host == "h"


def test_ipv6_host():
    u = parse_uri("sip:bob@[2001:db8::10]:5062;transport=tcp")
    assert u.host == "2001:db8::10" and u.port == 5062
    assert str(u) == "sip:bob@[2001:db8::10]:5062;transport=tcp"
    assert parse_uri("sip:[::1]").host == "::1"


def test_user_with_reserved_characters_and_escapes():
    # RFC 4475 intmeth / esc01: ';', '?', ':' and escapes inside the user part.
    u = parse_uri("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com")
    assert u.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert u.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert u.host == "example.com" and u.params == {} and u.headers == {}
    u = parse_uri("sip:sips%3Auser%40example.com@example.net")
    assert u.user == "sips%3Auser%40example.com" and unescape(u.user) == "sips:user@example.com"
    u = parse_uri("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert unescape(u.user) == "caller"
    assert "%6c%72" in u.params and u.params["n%61me"] == "v%61lue%25%34%31"
    assert unescape("v%61lue%25%34%31") == "value%41"


def test_unescape_edge_cases():
    assert unescape("plain") == "plain"
    assert unescape("100%") == "100%"
    assert unescape("%zz%4") == "%zz%4"
    assert unescape("null-%00-null") == "null-\x00-null"
    assert unescape("%c3%a9") == "\u00e9"
    assert unescape("%ff") == "?"  # not UTF-8: replaced, never raises


def test_other_schemes_are_opaque():
    for text in ("tel:+1-201-555-0123", "nobodyKnowsThisScheme:totallyopaquecontent", "soap.beep://192.0.2.103:3002",
                 "isbn:2983792873", "http://www.example.com", "mailto:a@example.com"):
        u = parse_uri(text)
        assert u.opaque is not None and str(u).lower() == text.lower(), text
        assert u.host is None
    assert parse_uri("TEL:123").scheme == "tel"


def test_bad_uris():
    for text in ("", "sip", ":nothing", "sip:", "sip:user@", "sip:@host", "sip:host:port", "sip:host:99999",
                 "sip:ho st", "sip:host;lr ;x", "1sip:host", "si p:host", "sip:[::1", "sip:[::1]x",
                 "sip:host?noequals", "sip:<host>", "sip:host;;x", "sip:host;=x", "sip:host;a="):
        exc = raises(SIPError, parse_uri, text)
        assert exc.status == 400, text


def test_name_addr_forms():
    a = parse_name_addr('"Front door" <sip:door100@pbx.example.org>;tag=9a8b;expires=60')
    assert a.display == "Front door" and a.uri == "sip:door100@pbx.example.org"
    assert a.params == {"tag": "9a8b", "expires": "60"} and a.tag == "9a8b"
    b = parse_name_addr("caller<sip:caller@example.com>;tag=323")  # RFC 4475 lwsdisp
    assert b.display == "caller" and b.tag == "323"
    c = parse_name_addr("Joe   Q.  Public <sip:j@h>")
    assert c.display == "Joe   Q.  Public" and c.params == {}
    d = parse_name_addr("<sip:+19725552222@gw1.example.net;unknownparam>")  # cparam02
    assert d.uri == "sip:+19725552222@gw1.example.net;unknownparam" and d.params == {}
    assert parse_name_addr("*").uri == "*"


def test_addr_spec_parameters_belong_to_the_header():
    a = parse_name_addr("sip:+19725552222@gw1.example.net;unknownparam")  # cparam01
    assert a.uri == "sip:+19725552222@gw1.example.net" and a.params == {"unknownparam": None}
    b = parse_name_addr("sip:caller@example.net;tag=134161461246")
    assert b.uri == "sip:caller@example.net" and b.tag == "134161461246" and b.display == ""


def test_quoted_display_names_and_params():
    a = parse_name_addr('"J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8')
    assert a.display == 'J Rosenberg \\"' and a.tag == "98asjd8"
    b = parse_name_addr('"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:a@example.com>')
    assert b.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    c = parse_name_addr('<sip:a@h>;p="quoted;value";tag=x')
    assert c.params["p"] == '"quoted;value"' and c.tag == "x"
    d = parse_name_addr('"Doe, John" <sip:j@h> ; q = 0.5')
    assert d.display == "Doe, John" and d.params == {"q": "0.5"}


def test_name_addr_round_trip():
    a = parse_name_addr('"Say \\"hi\\"" <sip:a@h;lr>;tag=1;x')
    again = parse_name_addr(str(a))
    assert again.display == 'Say "hi"' and again.uri == "sip:a@h;lr" and again.params == {"tag": "1", "x": None}


def test_bad_name_addrs():
    for text in ('"Mr. J. User <sip:j.user@example.com>',  # quotbal
                 "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",  # baddn
                 "< sip:t.watson@example.org >",  # badaspec
                 "sip:user@example.com?Route=%3Csip:sip.example.com%3E",  # regbadct
                 "<sip:a@h", "", "   ", '"x" sip:a@h', "<sip:a@h> junk", "<sip:a@h>;;", "<sip:a@h>;tag=",
                 "<nocolon>", "<sip:a@h>;t ag=1"):
        exc = raises(SIPError, parse_name_addr, text)
        assert exc.status == 400, text


def test_via_plain():
    v = parse_via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport;received=192.0.2.9")
    assert v.transport == "UDP" and v.host == "192.0.2.1" and v.port == 5060
    assert v.branch == "z9hG4bK776asdhds"
    assert v.params == {"branch": "z9hG4bK776asdhds", "rport": None, "received": "192.0.2.9"}
    again = parse_via(str(v))
    assert again.params == v.params and again.host == v.host and again.port == v.port
    assert str(v).startswith("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds")


def test_via_with_whitespace_everywhere():
    # RFC 4475 wsinv: SWS around '/', ':', ';' and '=' and line folding leftovers.
    v = parse_via("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw")
    assert v.transport == "UDP" and v.host == "192.0.2.2" and v.port is None and v.branch == "390skdjuw"
    v = parse_via("SIP  /    2.0   / udp  192.168.255.111   ; branch=\r\n z9hG4bK30239")
    assert v.transport == "UDP" and v.branch == "z9hG4bK30239"
    v = parse_via("SIP/2.0/TCP spindle.example.com : 5061 ;BRANCH = z9hG4bK9ikj8")
    assert v.port == 5061 and v.params["branch"] == "z9hG4bK9ikj8"


def test_via_ipv6_and_transports():
    v = parse_via("SIP/2.0/UDP [2001:db8::9]:5062;received=2001:db8::1;branch=z9hG4bKx")
    assert v.host == "2001:db8::9" and v.port == 5062 and v.params["received"] == "2001:db8::1"
    assert str(v).startswith("SIP/2.0/UDP [2001:db8::9]:5062")
    for transport in ("TCP", "TLS", "SCTP", "UNKNOWN", "WS"):
        assert parse_via("SIP/2.0/%s t.example.com;branch=z9hG4bKa" % transport).transport == transport


def test_bad_vias():
    for text in ("", "SIP/2.0/UDP", "SIP/2.0/UDP ", "SIP/2.0 UDP h", "SIP/3.0/UDP h", "HTTP/2.0/UDP h",
                 "SIP/2.0/UDP 192.0.2.15;;,;,,", "SIP/2.0/UDP h:port", "SIP/2.0/UDP h:70000",
                 "SIP/2.0/UDP h;branch=", "SIP/2.0/UDP h;=x", "SIP/2.0/U(P h", "SIP/2.0/UDP h h2",
                 "SIP/2.0/UDP [::1"):
        exc = raises(SIPError, parse_via, text)
        assert exc.status == 400, text


def test_identifiers():
    tags = [new_tag() for _ in range(20)]
    assert len(set(tags)) == 20
    for tag in tags:
        assert len(tag) >= 8
        for ch in tag:
            assert ch in "0123456789abcdef", tag
    branch = new_branch()
    assert branch.startswith("z9hG4bK") and len(branch) > 7 + 8
    assert new_branch() != branch
    call_id = new_call_id("192.0.2.1")
    assert call_id.endswith("@192.0.2.1") and len(call_id) > 20
    assert new_call_id("h") != new_call_id("h")
