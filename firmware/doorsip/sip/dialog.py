"""SIP dialogs, RFC 3261 section 12, sans-IO.

Dialog.uac(from_header, target, cseq, response, local_contact) -> Dialog   (12.1.2: 2xx or 1xx with a To tag)
Dialog.uas(request, local_tag, local_contact) -> Dialog  (12.1.1)
dialog.key ("call_id\nlocal_tag\nremote_tag"); request_key(msg) and response_key(msg) give
the key an incoming message would have.
dialog.confirm(response) (UAC: 2xx on an early dialog, recomputes the route set),
dialog.refresh_target(msg) (Contact of a target refresh), dialog.check_remote_cseq(msg)
-> None or the status to refuse with (500, 12.2.2),
dialog.request(method, local_host, local_port, headers=(), body=b"") -> (bytes, dest, branch, cseq),
dialog.ack(cseq, local_host, local_port, body=b"", headers=()) -> (bytes, dest)  (2xx ACK, new branch)
dest is (host str, port int); a host name is left for the runtime to resolve.
"""
from doorsip.sip.errors import SIPError
from doorsip.sip.message import build_request
from doorsip.sip.uri import new_branch, parse_name_addr, parse_uri

# A dialog's key (Dialog.key): "%s\n%s\n%s" % (call_id, local_tag, remote_tag or "").


def request_key(msg):
    """Key of the dialog an incoming request belongs to (To tag is ours)."""
    return "%s\n%s\n%s" % (msg.call_id, msg.to_tag, msg.from_tag or "")


def response_key(msg):
    """Key of the dialog a response to our request belongs to (From tag is ours)."""
    return "%s\n%s\n%s" % (msg.call_id, msg.from_tag, msg.to_tag or "")


def request_headers(method, cseq, local_host, local_port, branch, route_set, local_header,
                    remote_header, call_id):
    """The header list every request we send starts with (8.1.1, 12.2.1.1): Via (with
    rport, RFC 3581), Max-Forwards, the Route values, From, To, Call-ID, CSeq.
    useragent.py builds its out-of-dialog requests with it too."""
    # Max-Forwards from a local: a pair of literals would be a constant tuple, kept for
    # good with str objects of its own.
    hops = "70"
    headers = [("Via", "SIP/2.0/UDP %s:%d;branch=%s;rport" % (local_host, local_port, branch)),
               ("Max-Forwards", hops)]
    for route in route_set:
        headers.append(("Route", route))
    headers.append(("From", local_header))
    headers.append(("To", remote_header))
    headers.append(("Call-ID", call_id))
    headers.append(("CSeq", "%d %s" % (cseq, method)))
    return headers


def uri_dest(uri):
    """(host, port) a request for this URI goes to (no DNS SRV: port 5060 by default)."""
    parsed = parse_uri(uri)
    scheme = parsed.scheme
    if (scheme != "sip" and scheme != "sips") or not parsed.host:
        raise SIPError(400, "Bad Request (not a SIP URI)")
    return (parsed.params.get("maddr") or parsed.host, parsed.port or 5060)


class Dialog:
    """State of one dialog (12): ids, CSeqs, remote target, route set."""

    def __init__(self, call_id, local_tag, remote_tag, local_header, remote_header,
                 remote_target, route_set, local_seq, remote_seq, local_contact, early):
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.local_header = local_header     # From value of our requests (with our tag)
        self.remote_header = remote_header   # To value of our requests (with their tag)
        self.remote_target = remote_target
        self.route_set = route_set
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.local_contact = local_contact
        self.early = early
        self.ack_data = None     # the ACK we sent for the 2xx, resent on a retransmitted 2xx
        self.ack_cseq = None
        self.ack_dest = None
        self.key = "%s\n%s\n%s" % (call_id, local_tag, remote_tag or "")

    @classmethod
    def uac(cls, from_header, target, cseq, response, local_contact):
        """From the From value and Request-URI of our INVITE, its CSeq and the response."""
        # 12.1.2: route set = Record-Route of the response, reversed.
        routes = response.headers("Record-Route")
        routes.reverse()
        d = cls(response.call_id, parse_name_addr(from_header).params.get("tag"),
                response.to_tag, from_header, response.header("To"), target, routes, cseq,
                None, local_contact, response.status < 200)
        d.refresh_target(response)   # the Contact's URI, if any, else the Request-URI
        return d

    @classmethod
    def uas(cls, request, local_tag, local_contact):
        # 12.1.1: route set = Record-Route of the request, in order.
        to = request.header("To")
        if request.to_tag is None:
            to = to + ";tag=" + local_tag
        d = cls(request.call_id, local_tag, request.from_tag, to, request.header("From"), "",
                request.headers("Record-Route"), None, request.cseq[0], local_contact, False)
        d.refresh_target(request)   # the Contact's URI (parsed: may raise SIPError)
        return d

    def confirm(self, response):
        """A 2xx arrived for this (possibly early) dialog: 13.2.2.4, 12.2.1.2."""
        if self.early:
            routes = response.headers("Record-Route")
            routes.reverse()
            self.route_set = routes
            self.early = False
        self.remote_header = response.header("To")
        self.refresh_target(response)

    def refresh_target(self, msg):
        contacts = msg.headers("Contact")
        if contacts:
            uri = parse_name_addr(contacts[0]).uri
            if uri:
                self.remote_target = uri

    def check_remote_cseq(self, msg):
        """12.2.2: a request with a lower CSeq than the last one is refused with 500."""
        num = msg.cseq[0]
        method = msg.method
        if method == "ACK" or method == "CANCEL":
            return None
        if self.remote_seq is not None and num <= self.remote_seq:
            return 500
        self.remote_seq = num
        return None

    def _headers(self, method, cseq, local_host, local_port, branch, extra):
        # 12.2.1.1: loose routing when the first route has ;lr, else strict routing
        # (the first route becomes the Request-URI, the remote target the last route).
        uri = hop = self.remote_target
        routes = self.route_set
        if routes:
            hop = parse_name_addr(routes[0]).uri
            if "lr" not in parse_uri(hop).params:
                uri = hop
                routes = routes[1:] + ["<%s>" % self.remote_target]
        dest = uri_dest(hop)
        headers = request_headers(method, cseq, local_host, local_port, branch, routes,
                                  self.local_header, self.remote_header, self.call_id)
        # Target refresh requests (12.2) carry our Contact. Compared one by one: a
        # constant tuple of strings would stay in the heap as objects.
        if method == "INVITE" or method == "UPDATE" or method == "SUBSCRIBE" or \
                method == "NOTIFY" or method == "REFER":
            headers.append(("Contact", self.local_contact))
        headers.extend(extra)
        return uri, headers, dest

    def request(self, method, local_host, local_port, headers=(), body=b""):
        """Build an in-dialog request (not ACK/CANCEL): the local CSeq goes up by one."""
        if self.local_seq is None:
            # 12.2.1.1: any value below 2**31; random so a restarted UA does not collide.
            from doorsip.compat import random_bytes   # here: one module global fewer
            b = random_bytes(2)
            self.local_seq = (b[0] << 8 | b[1]) + 1
        self.local_seq += 1
        branch = new_branch()
        uri, hdrs, dest = self._headers(method, self.local_seq, local_host, local_port, branch, headers)
        return build_request(method, uri, hdrs, body), dest, branch, self.local_seq

    def ack(self, cseq, local_host, local_port, body=b"", headers=()):
        """The ACK for a 2xx (13.2.2.4): its own branch, the INVITE's CSeq number."""
        uri, hdrs, dest = self._headers("ACK", cseq, local_host, local_port, new_branch(), headers)
        self.ack_data = build_request("ACK", uri, hdrs, body)
        self.ack_cseq = cseq
        self.ack_dest = dest
        return self.ack_data, dest
