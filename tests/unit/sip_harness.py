# Paired-endpoint harness for the sans-IO SIP stack: endpoints (UserAgents, a test
# registrar, an auth gate) wired through an in-memory network with a controllable clock
# and seeded, deterministic loss, duplication and reordering. Runs on both interpreters.
from doorsip.compat import ticks_add, ticks_diff
from doorsip.sip.auth import check_authorization, make_challenge, new_nonce
from doorsip.sip.errors import SIPError
from doorsip.sip.message import build_response, parse
from doorsip.sip.useragent import UserAgent
from doorsip.sip.uri import new_tag, parse_name_addr

# A door (5060) calling a flat (5062) on 127.0.0.1: addresses and SDP bodies.
DOOR = ("127.0.0.1", 5060)
FLAT = ("127.0.0.1", 5062)
FLAT_URI = "sip:flat@127.0.0.1:5062"
OFFER = b"v=0\r\no=door 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
ANSWER = b"v=0\r\no=flat 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0\r\n"
# The heap tests' offer (tests/mpy): PCMU, PCMA and telephone-event.
OFFER_DTMF = (b"v=0\r\no=door 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
              b"m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n")


class Rng:
    """xorshift32: the same sequence on both interpreters for a given seed."""

    def __init__(self, seed):
        self.state = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1

    def next(self):
        x = self.state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.state = x
        return x

    def chance(self, percent):
        return self.next() % 10000 < int(percent * 100)

    def below(self, n):
        return self.next() % n if n > 0 else 0


class Network:
    """Datagrams between endpoints (objects with receive/datagrams/next_deadline_ms/on_timer),
    each reachable at a (host, port) text address. loss/dup/reorder are percentages."""

    def __init__(self, seed=1, loss=0, dup=0, reorder=0, delay_ms=10, start_ms=1000):
        self.rng = Rng(seed)
        self.loss = loss
        self.dup = dup
        self.reorder = reorder
        self.delay_ms = delay_ms
        self.now = start_ms
        self.endpoints = {}
        self.flight = []        # [deliver_at, seq, data, src, dst]
        self.seq = 0
        self.log = []           # (t, src, dst, first line) of every datagram sent
        self.delivered = 0
        self.lost = 0
        self.unroutable = 0
        self.filters = []       # callables (data, src, dst) -> True to drop

    def add(self, addr, endpoint):
        self.endpoints[addr] = endpoint
        return endpoint

    def ua(self, user, host="127.0.0.1", port=5060, **kw):
        ua = UserAgent(user, kw.pop("domain", host), host, port, now_ms=self.now, **kw)
        self.add((host, port), ua)
        return ua

    def _collect(self):
        for addr in list(self.endpoints):
            for data, dest in self.endpoints[addr].datagrams():
                self.send(data, addr, dest)

    def send(self, data, src, dst):
        line = data[:data.find(b"\r\n")] if b"\r\n" in data else data[:40]
        self.log.append((self.now, src, dst, line))
        for f in self.filters:
            if f(data, src, dst):
                self.lost += 1
                return
        copies = 1
        if self.dup and self.rng.chance(self.dup):
            copies = 2
        for _ in range(copies):
            if self.loss and self.rng.chance(self.loss):
                self.lost += 1
                continue
            delay = self.delay_ms
            if self.reorder and self.rng.chance(self.reorder):
                delay += self.rng.below(8 * self.delay_ms + 1)
            self.seq += 1
            self.flight.append([ticks_add(self.now, delay), self.seq, data, src, (dst[0], int(dst[1]))])

    def _next_time(self):
        best = None
        for item in self.flight:
            if best is None or ticks_diff(item[0], best) < 0:
                best = item[0]
        for ep in self.endpoints.values():
            t = ep.next_deadline_ms()
            if t is not None and (best is None or ticks_diff(t, best) < 0):
                best = t
        return best

    def step(self, limit):
        """Advance to the next delivery or timer (not past limit). False when idle."""
        self._collect()
        t = self._next_time()
        if t is None or ticks_diff(t, limit) > 0:
            return False
        if ticks_diff(t, self.now) > 0:
            self.now = t
        now = self.now
        due = [item for item in self.flight if ticks_diff(item[0], now) <= 0]
        if due:
            due.sort(key=lambda item: (ticks_diff(item[0], now), item[1]))
            for item in due:
                self.flight.remove(item)
            for item in due:
                ep = self.endpoints.get(item[4])
                if ep is None:
                    self.unroutable += 1
                    continue
                self.delivered += 1
                ep.receive(item[2], item[3], now)
        for ep in self.endpoints.values():
            d = ep.next_deadline_ms()
            if d is not None and ticks_diff(now, d) >= 0:
                ep.on_timer(now)
        self._collect()
        return True

    def run(self, ms):
        """Run for ms of simulated time."""
        limit = ticks_add(self.now, ms)
        steps = 0
        while self.step(limit):
            steps += 1
            if steps > 200000:
                raise AssertionError("network did not settle")
        self.now = limit

    def run_until(self, cond, ms=60000):
        """Run until cond() is true (returns True) or ms elapse (returns False)."""
        limit = ticks_add(self.now, ms)
        steps = 0
        while not cond():
            if not self.step(limit):
                self.now = limit
                return cond()
            steps += 1
            if steps > 200000:
                raise AssertionError("network did not settle")
        return True

    def sent(self, word):
        """First lines of datagrams sent so far that contain word (bytes)."""
        return [entry for entry in self.log if word in entry[3]]


def events(ua):
    out = []
    while True:
        e = ua.next_event()
        if e is None:
            return out
        out.append(e)


class EventLog:
    """Collects every event of a UA (call .pump() after network steps)."""

    def __init__(self, ua):
        self.ua = ua
        self.all = []

    def pump(self):
        self.all.extend(events(self.ua))
        return self.all

    def kinds(self):
        self.pump()
        return [e.kind for e in self.all]

    def first(self, kind):
        self.pump()
        for e in self.all:
            if e.kind == kind:
                return e
        return None

    def has(self, kind):
        return self.first(kind) is not None


def pair(flat_options=None, **kw):
    """A Network (kw: its options) with UAs "door" on 5060 and "flat" on 5062
    (flat_options: the flat UA's own keywords): (net, door, flat, door's EventLog,
    flat's EventLog)."""
    net = Network(**kw)
    door = net.ua("door", port=5060)
    flat = net.ua("flat", port=5062, **(flat_options or {}))
    return net, door, flat, EventLog(door), EventLog(flat)


def ring(net, door, flat, lf, offer=OFFER, limit_ms=2000):
    """door calls FLAT_URI with offer; flat rings (180) once the call is in.
    Returns (door's call, flat's call)."""
    call = door.invite(FLAT_URI, offer, net.now)
    assert net.run_until(lambda: lf.has("incoming_call"), limit_ms)
    inc = lf.first("incoming_call").call
    flat.answer(inc, 180, now_ms=net.now)
    return call, inc


class Stateless:
    """Base of the test servers below: sans-IO endpoint answering requests itself."""

    def __init__(self):
        self.out = []
        self.requests = []

    def datagrams(self):
        out = self.out
        self.out = []
        return out

    def next_deadline_ms(self):
        return None

    def on_timer(self, now_ms):
        pass

    def reply(self, msg, source, status, headers=(), reason=None, to_tag=None):
        self.out.append((build_response(msg, status, reason, headers, b"", to_tag), source))


def challenge_unless_authorized(server, msg, proxy):
    """Digest check of a test server (server: .users, .realm, .nonces): None when msg
    carries valid credentials for its method, else (401 or, for a proxy, 407, [the
    challenge header with a new nonce]) to answer with."""
    value = msg.header("Proxy-Authorization" if proxy else "Authorization")
    if value and check_authorization(value, msg.method, server.users, server.realm,
                                     lambda n: n in server.nonces) is not None:
        return None
    nonce = new_nonce()
    server.nonces.append(nonce)
    header = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
    return (407 if proxy else 401), [(header, make_challenge(server.realm, nonce))]


class Registrar(Stateless):
    """A registrar with digest auth (401), Min-Expires (423) and a maximum expiry."""

    def __init__(self, realm="doorsip.test", users=None, min_expires=0, max_expires=3600,
                 challenge=True, status=None, proxy_auth=False, expires_header=False):
        Stateless.__init__(self)
        self.expires_header = expires_header   # grant via an Expires header, not Contact
        self.proxy_auth = proxy_auth   # challenge with 407, as a proxy in front would
        self.realm = realm
        self.users = users or {}
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.challenge = challenge
        self.status = status       # force this final status
        self.nonces = []
        self.bindings = {}

    def receive(self, data, source, now_ms):
        try:
            msg = parse(data)
        except SIPError:
            return
        if msg.method != "REGISTER":
            return
        self.requests.append(msg)
        if self.status:
            self.reply(msg, source, self.status, to_tag=new_tag())
            return
        if self.challenge:
            refusal = challenge_unless_authorized(self, msg, self.proxy_auth)
            if refusal:
                self.reply(msg, source, refusal[0], refusal[1], to_tag=new_tag())
                return
        contact = msg.header("Contact")
        expires = msg.header("Expires")
        expires = int(expires) if expires is not None else 3600
        na = parse_name_addr(contact)
        if "expires" in na.params:
            expires = int(na.params["expires"])
        if expires and expires < self.min_expires:
            self.reply(msg, source, 423, [("Min-Expires", str(self.min_expires))], to_tag=new_tag())
            return
        if expires > self.max_expires:
            expires = self.max_expires
        if expires == 0:
            self.bindings.pop(msg.from_addr.uri, None)
            self.reply(msg, source, 200, to_tag=new_tag())
            return
        self.bindings[msg.from_addr.uri] = na.uri
        if self.expires_header:
            headers = [("Contact", "<%s>" % na.uri), ("Expires", str(expires))]
        else:
            headers = [("Contact", "<%s>;expires=%d" % (na.uri, expires))]
        self.reply(msg, source, 200, headers, to_tag=new_tag())


class AuthGate:
    """Wraps an endpoint: INVITEs without valid credentials get a 401 or 407 challenge
    (like a PBX in front of the phone); everything else passes through."""

    def __init__(self, inner, users, realm="doorsip.test", proxy=True):
        self.inner = inner
        self.users = users
        self.realm = realm
        self.proxy = proxy
        self.out = []
        self.nonces = []
        self.challenged = 0

    def datagrams(self):
        out = self.out + self.inner.datagrams()
        self.out = []
        return out

    def next_deadline_ms(self):
        return self.inner.next_deadline_ms()

    def on_timer(self, now_ms):
        self.inner.on_timer(now_ms)

    def receive(self, data, source, now_ms):
        try:
            msg = parse(data)
        except SIPError:
            self.inner.receive(data, source, now_ms)
            return
        if msg.method == "ACK" and msg.to_tag and msg.to_tag.startswith("gate"):
            return  # ACK of our challenge (17.1.1.3)
        if msg.method == "INVITE" and msg.to_tag is None:
            refusal = challenge_unless_authorized(self, msg, self.proxy)
            if refusal:
                self.challenged += 1
                self.out.append((build_response(msg, refusal[0], None, refusal[1], b"", "gate" + new_tag()),
                                 source))
                return
        self.inner.receive(data, source, now_ms)
