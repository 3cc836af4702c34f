"""SIPError: a malformed or unacceptable message, carrying the status to answer with.

Code heap: the error texts of uri.py, message.py and sdp.py are the lines of one string here
(text(k), k from 0; each module names its lines with _E_* const()s, which cost nothing), not
~80 string constants of their own (a heap object of 48-100 bytes each on MicroPython)."""


from doorsip.compat import text_line


class SIPError(Exception):
    """.status is the SIP status code to answer with (400 unless another fits), .reason its text."""

    def __init__(self, status=400, reason="Bad Request"):
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self):
        return "%d %s" % (self.status, self.reason)


# Line k is text(k). Errors only: the lookup walks the lines. Keep the order: the _E_*
# const()s of uri.py (0-23), message.py (24-52) and sdp.py (53-74) count on it; the pairs
# "URI ..."/"Via sent-by ..." are adjacent (uri._parse_hostport adds 0 or 1).
_TEXT = (
    # uri.py: what a 400 names, "Bad Request (<what>)"
    "parameter list\nparameter value\nquoted parameter\nparameter\n"
    "quoted string (unbalanced quote)\nURI IPv6 reference\nVia sent-by IPv6 reference\n"
    "URI host\nVia sent-by host\nURI port\nVia sent-by port\nURI scheme\nURI characters\nURI\n"
    "URI user\nURI header\naddress\naddress (display name without <URI>)\ndisplay name\n"
    "address (no closing >)\naddress (URI needs <> here)\nVia\nVia protocol\nVia transport\n"
    # message.py: 400s (24-45), whole reasons (46-50), ValueErrors (51-52)
    "empty list element\nno header section\nstray CR or LF\nrequest line\nSIP version\n"
    "status code\nmethod\nRequest-URI\nheader line without colon\nheader name\nmissing Via\n"
    "missing From\nmissing To\nmissing Call-ID\nmissing CSeq\nrepeated single-valued header\n"
    "Content-Length\nbody shorter than Content-Length\nCSeq\nCSeq number\n"
    "CSeq method differs from request method\nempty Call-ID\nMessage Too Large\n"
    "Message Too Large (too many header lines or list elements)\nVersion Not Supported\n"
    "Bad Request (malformed)\nService Unavailable (out of memory)\nbad method or Request-URI\n"
    "line break in \n"
    # sdp.py: SdpError reasons (53-70), ValueErrors (71-74)
    "SDP too large\nbad SDP line\nno v=0\ntoo many m=\nbad m= port\nbad m=\nbad m= payload type\n"
    "bad c=\nc= not IN IP4/IP6\nbad c= address\nempty SDP\nout of memory\nSDP not UTF-8\n"
    "no common audio codec\nno c= for audio\nno audio in answer\naudio refused\n"
    "answer picked no codec we offered\nunsupported codec \nbad SDP address\nbad direction \n"
    "telephone-event needs a dynamic PT\n"
)


def text(k):
    """Line k (from 0) of _TEXT."""
    return text_line(_TEXT, k)


def bad_request(what):
    """SIPError(400) whose reason names what was malformed (line what of _TEXT)."""
    return SIPError(400, "Bad Request (" + text(what) + ")")
