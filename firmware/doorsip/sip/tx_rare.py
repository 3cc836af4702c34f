"""Rarely taken paths of transaction.py, imported on first use only: the ACK of a
non-2xx final response (17.1.1.3), RFC 2543 request matching keys (17.2.3) and the
texts of the errors only a bug can cause (an illegal transition, bug(k))."""
from doorsip.sip.message import build_request, parse

def build_ack(request, response):
    """The ACK (bytes) of an INVITE client transaction's non-2xx final response."""
    # 17.1.1.3: same Request-URI, Call-ID, From, CSeq number and top Via as the
    # INVITE, To from the response, the INVITE's Route headers.
    req = parse(request)
    headers = [("Via", req.headers("Via")[0])]
    for route in req.headers("Route"):
        headers.append(("Route", route))
    headers.append(("Max-Forwards", "70"))
    headers.append(("From", req.header("From")))
    headers.append(("To", response.header("To")))
    headers.append(("Call-ID", req.call_id))
    headers.append(("CSeq", "%d ACK" % req.cseq[0]))
    return build_request("ACK", req.uri, headers)


def key_2543(msg, method):
    # RFC 2543 fallback (17.2.3): Request-URI, From tag, Call-ID, CSeq number, top Via.
    # The To tag is checked separately for an ACK (it carries our tag).
    return "2543\n%s\n%s\n%s\n%d\n%s\n%s" % (
        msg.uri, msg.from_tag, msg.call_id, msg.cseq[0], msg.headers("Via")[0], method)


def illegal(tx, event):
    # The names split out of one string each: constant tuples of strings would cost a
    # string object per name for as long as this module stays loaded.
    return "illegal input %d in state %s of %s transaction" % (
        event, " calling trying proceeding completed confirmed accepted terminated".split(" ")[
            tx.state], "ICT NICT IST NIST".split(" ")[tx.kind])


def bug(k):
    """Text k of a TransactionError only a bug can cause (one string: no str object
    per text while this module is loaded)."""
    from doorsip.compat import text_line
    return text_line("respond() on a client transaction\nbranch already in use\n"
                     "request already has a transaction", k)
