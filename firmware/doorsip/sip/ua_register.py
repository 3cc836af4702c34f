"""The user agent's registration client (RFC 3261 10.2) and what else a station with a
registrar runs while it lives: OPTIONS keepalives and the digest retry of a challenged
INVITE (so such a station never needs ua_rare.py). Imported on first use only: a
station without a registrar keeps it loaded only while its UserAgent is built.
Functions take the UserAgent:
setup(ua, ...)                      UserAgent(...): the constructor's work, at boot
from_config(cls, sip, local_host, now_ms=0, **extra)   UserAgent.from_config
start(ua, now_ms, expires, active)  register() / unregister()
refresh(ua, now_ms)                 the refresh or retry timer expired
response(ua, tx, msg, now_ms)       a response to a REGISTER (msg None: timer F)
other_response(ua, tx, msg)         a response to a REGISTER or an OPTIONS
options(ua, target, now_ms)         ua.options()
auth_retry(ua, call, msg, now_ms)   a 401/407 to our INVITE: True when sent again
"""
from doorsip.compat import const, forget, ticks_add
from doorsip.sip.errors import SIPError
from doorsip.sip.transaction import COMPLETED, TransactionLayer
from doorsip.sip.uri import new_call_id, new_tag, parse_name_addr


_MAX_AUTH_TRIES = const(2)      # credentials tried per REGISTER before giving up
_REG_RETRY_MIN = const(30000)   # ms before retrying a failed registration, doubling...
_REG_RETRY_MAX = const(300000)  # ...up to 5 minutes


def start(ua, now_ms, expires, active):
    """register(expires) when active, else unregister (REGISTER with expires 0)."""
    if ua.registrar is None:
        from doorsip.sip.useragent import UAError
        raise UAError("no registrar configured")
    if not hasattr(ua, "_reg_tag"):
        # 10.2: one Call-ID and From tag for every REGISTER to the registrar.
        ua._reg_call_id = new_call_id(ua.local_host)
        ua._reg_tag = new_tag()
        ua._reg_cseq = 0
        ua._reg_tx = None
        ua._reg_retry = _REG_RETRY_MIN   # doubles after each failure
    if active:
        if expires is not None:
            ua.expires = expires
        expires = ua._reg_expires = ua.expires
    else:
        ua._reg_deadline = None
    ua._reg_active = active
    ua._reg_auth_tries = 0
    tx = ua._reg_tx
    if tx is not None and not tx.terminated():
        ua.layer._remove(tx)
    _send(ua, expires, (), now_ms)


def refresh(ua, now_ms):
    ua._reg_deadline = None
    tx = ua._reg_tx
    # Not while a REGISTER still waits for its final response (Completed only lingers).
    if ua._reg_active and not (tx is not None and tx.state < COMPLETED):
        auth = ()
        if ua.digest is not None:
            from doorsip.sip import auth as digest   # for this request only
            try:
                if ua.registered:
                    # A refresh: credentials from the last challenge, saving the 401
                    # round trip (RFC 7616 3.4); a stale nonce just gets a 401.
                    pre = digest.preauthorize(ua.digest, "REGISTER", "sip:" + ua.domain)
                    if pre:
                        auth = (pre,)
                else:
                    # A retry after a failure: the credentials get one more chance
                    # (fresh nonce, 30 s or more later: not a loop).
                    digest.reset(ua.digest)
            finally:
                forget(digest.__name__)
        _send(ua, ua._reg_expires, auth, now_ms)


def _send(ua, expires, auth, now_ms):
    # 10.2: same Call-ID, CSeq + 1, new branch for every REGISTER, retries included.
    ua._reg_cseq += 1
    extra = [("Expires", str(expires))]
    extra.extend(auth)
    data, branch, dest, _ = ua._out_of_dialog(
        "REGISTER", "sip:" + ua.domain, "<%s>" % ua.aor, ua._reg_call_id, ua._reg_tag,
        ua._reg_cseq, extra, b"", None, ua.proxy or ua.registrar)
    ua._reg_sent_expires = expires
    ua._reg_tx = ua._client("REGISTER", data, branch, dest, "register", now_ms)


def _granted(ua, msg):
    # 10.2.4: our binding's expires parameter, else the Expires header, else ours.
    contact = ua.contact_uri
    for value in msg.headers("Contact"):
        try:
            na = parse_name_addr(value)
        except SIPError:
            continue
        if na.uri == contact or na.uri.startswith(contact + ";"):
            exp = na.params.get("expires")
            if exp and exp.isdigit():
                return int(exp)
    exp = msg.header("Expires")
    if exp and exp.strip().isdigit():
        return int(exp.strip())
    return ua._reg_sent_expires


def response(ua, tx, msg, now_ms):
    if tx is not ua._reg_tx:   # an earlier REGISTER (the last one counts)
        return
    sent = ua._reg_sent_expires
    if msg is None:   # timer F
        if sent == 0:
            ua._event("unregistered", status=408)
        else:
            _failed(ua, 408, "Request Timeout", now_ms)
        return
    status = msg.status
    if status < 200:
        return
    auth = None
    client = ua.digest
    challenged = status == 401 or status == 407
    # auth.py is imported for this response only (then forgotten): to answer a challenge,
    # or for a success to clear its failure memory when there is any (auth.py's client
    # list: [2] realms -> per-realm list, [3] challenges answered, [4] stale retries).
    if client is not None and (ua._reg_auth_tries < _MAX_AUTH_TRIES if challenged else any(
            state[3] or state[4] for state in client[2].values())):
        from doorsip.sip import auth as digest
        try:
            if challenged:
                auth = digest.authorize_all(client, msg, "REGISTER", "sip:" + ua.domain)
            else:
                digest.note_response(client, msg)
        finally:
            forget(digest.__name__)
    if status < 300:
        ua._reg_auth_tries = 0
        ua._reg_retry = _REG_RETRY_MIN
        if sent == 0:
            ua.registered = False
            ua._event("unregistered", status=status)
            return
        granted = _granted(ua, msg)
        if granted <= 0:
            _failed(ua, status, "registrar granted no binding", now_ms)
            return
        ua.registered = True
        ua._event("registered", status=status, expires=granted)
        # Refresh early enough for a full timer F of retransmissions before expiry.
        margin = granted // 2
        if margin > 32:
            margin = 32
        ua._reg_deadline = ticks_add(now_ms, (granted - margin) * 1000)
        return
    if auth:
        ua._reg_auth_tries += 1
        _send(ua, sent, auth, now_ms)
        return
    if status == 423 and sent:
        # 10.2.8: retry with the registrar's Min-Expires, if it is larger.
        value = msg.header("Min-Expires")
        if value and value.strip().isdigit() and int(value.strip()) > sent:
            ua._reg_expires = int(value.strip())
            _send(ua, ua._reg_expires, (), now_ms)
            return
    _failed(ua, status, msg.reason, now_ms)


def _failed(ua, status, reason, now_ms):
    was = ua._reg_sent_expires
    ua.registered = False
    ua._reg_auth_tries = 0
    ua._event("registration_failed", status=status, reason=reason)
    if ua._reg_active and was:
        ua._reg_deadline = ticks_add(now_ms, ua._reg_retry)
        ua._reg_retry = min(ua._reg_retry * 2, _REG_RETRY_MAX)


# ---------------------------------------------------------------- keepalive, INVITE digest
def other_response(ua, tx, msg):
    """A response for a REGISTER or OPTIONS client transaction."""
    owner = tx.owner
    if owner == "register":
        response(ua, tx, msg, ua.now)
    elif owner == "options":
        if msg.status >= 200:
            ua._event("options_response", status=msg.status, reason=msg.reason,
                      call_id=msg.call_id)


def options(ua, target, now_ms):
    from doorsip.sip.useragent import ACCEPT
    call_id = new_call_id(ua.local_host)
    data, branch, dest, _ = ua._out_of_dialog("OPTIONS", target, "<%s>" % target,
                                              call_id, new_tag(), 1, [("Accept", ACCEPT)], b"",
                                              None, None)
    ua._client("OPTIONS", data, branch, dest, "options", now_ms)
    return call_id


def auth_retry(ua, call, msg, now_ms):
    """A 401/407 to our INVITE: True when it was sent again with credentials."""
    if call.cancel_wanted or call.auth_tries >= 2:   # credentials tried per call
        return False
    from doorsip.sip import auth as digest   # for this challenge only
    try:
        auth = digest.authorize_all(ua.digest, msg, "INVITE", call.target, call.local_sdp)
    finally:
        forget(digest.__name__)
    if not auth:
        return False
    call.auth_tries += 1
    ua._send_invite(call, auth, now_ms)
    return True


# ---------------------------------------------------------------- boot
# UserAgent.__init__ and UserAgent.from_config run once, at boot, so their code lives
# here rather than in the resident useragent.py: setup() forgets this module again
# when no registrar will load it anyway (compat.forget), and its heap comes back.
def _hostport(value):
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        return (value[0], int(value[1]))
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and "]" not in port:
        return (host, int(port))
    return (value, 5060)


def setup(ua, user, domain, local_host, local_port=5060, auth_user=None, password=None,
          display_name=None, registrar=None, proxy=None, expires=300, user_agent="doorsip",
          t1=500, t2=4000, t4=5000, max_transactions=24, max_calls=4, now_ms=0,
          ring_limit_s=180):
    """UserAgent(...) (the signature useragent.py documents)."""
    ua.user = user
    ua.ring_limit_s = ring_limit_s
    # reinvite_answerer(call, offer_body) -> (status, answer_body): how an incoming
    # re-INVITE is answered (e.g. with sdp.answer for hold); None: 200 with our SDP.
    ua.reinvite_answerer = None
    ua.domain = domain
    ua.local_host = local_host
    ua.local_port = local_port
    ua.display_name = display_name
    ua.registrar = _hostport(registrar)
    ua.proxy = _hostport(proxy)
    ua.expires = expires
    ua.user_agent = user_agent
    ua.max_calls = max_calls
    ua.now = now_ms
    ua.layer = TransactionLayer(ua, t1, t2, t4, max_transactions)
    ua._events = []
    ua._calls = {}
    ua._dialogs = {}
    ua._next_id = 1
    # Digest credentials and nonce state as plain data (auth.py's client list):
    # sip/auth.py is imported only to answer a challenge, then forgotten again.
    ua.digest = None if password is None else [auth_user or user, password, {}, None]
    ua.aor = "sip:%s@%s" % (user, domain)
    ua.contact_uri = "sip:%s@%s:%d" % (user, local_host, local_port)
    ua.contact = "<%s>" % ua.contact_uri
    ua.stats = {"received": 0, "garbage": 0, "dropped": 0, "stray": 0, "errors": 0,
                "events_dropped": 0}
    ua.last_error = None
    # registration (10.2): the rest of its state is set up by start()
    ua.registered = False
    ua._reg_deadline = None     # refresh or retry
    if ua.registrar is None:
        forget(__name__)   # this module


def from_config(cls, sip, local_host, now_ms=0, **extra):
    """UserAgent.from_config: from config.py's validated "sip" section."""
    registrar = sip.get("registrar")
    domain = sip.get("domain") or (_hostport(registrar)[0] if registrar else local_host)
    return cls(sip["user"], domain, local_host, sip.get("local_port", 5060),
               sip.get("auth_user"), sip.get("password") or None, sip.get("display_name"),
               registrar, sip.get("proxy"), sip.get("expires", 300), now_ms=now_ms, **extra)
