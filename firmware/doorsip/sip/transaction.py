"""SIP transactions, RFC 3261 section 17 (+ the RFC 6026 Accepted state), sans-IO.

TransactionLayer(tu, t1=500, t2=4000, t4=5000, max_transactions=24)
  .client(method, data, branch, dest, now_ms) -> ClientTransaction   (sends data)
  .server(msg, dest, now_ms) -> ServerTransaction                   (new request; dest:
                                                                    where responses go)
  .match_response(msg) -> ClientTransaction or None                  (17.1.3)
  .match_request(msg) -> ServerTransaction or None                   (17.2.3, + RFC 2543)
  .match_cancel(msg) -> the INVITE ServerTransaction a CANCEL names, or None
  .response(tx, msg, now_ms)  feed a matched response; .request(tx, msg, now_ms) a
  retransmitted request or ACK; tx.respond(data, status, now_ms) sends a TU response;
  tx.ack_received(now_ms) stops the 2xx retransmission of an INVITE server transaction.
  .next_deadline_ms() / .on_timer(now_ms); .out is the list of (bytes, (host, port)).
The TU gets tu.tx_response(tx, msg) for every response a client transaction passes up
and tu.tx_timeout(tx) for timers B, F, H and the 2xx-without-ACK timeout.
Times are ticks (compat.ticks_diff arithmetic), so they may wrap.
tx.request (client: bytes, server: the parsed Message) and tx.owner (the TU's object)
are dropped once the transaction only absorbs retransmissions (Completed, Confirmed,
Accepted: owner kept until the TU detaches it or the timers stop); what it keeps is
tx.key, tx.method, tx.cseq (INVITE server: the request's CSeq number), tx.last, tx.ack,
tx.to_tag, and tx.dest while something may still be resent.
"""
from doorsip.compat import const, ticks_add, ticks_diff
from doorsip.sip.message import build_response

# Rare paths (the ACK of a non-2xx, RFC 2543 matching keys, the texts of errors only a
# bug can cause) live in tx_rare.py, imported on first use.

# Transaction kinds and states. Only the names other modules and the tests use are
# public (a public const() is also a global of this module: heap on MicroPython);
# states below COMPLETED are the ones still waiting for a final response.
ICT = const(0)    # INVITE client, 17.1.1
_NICT = const(1)  # non-INVITE client, 17.1.2
IST = const(2)    # INVITE server, 17.2.1
_NIST = const(3)  # non-INVITE server, 17.2.2

_CALLING = const(1)
_TRYING = const(2)
PROCEEDING = const(3)
COMPLETED = const(4)
CONFIRMED = const(5)
ACCEPTED = const(6)   # RFC 6026: after a 2xx, absorbs retransmissions
_TERMINATED = const(7)

# Inputs. For client transactions 1XX/2XX/FINAL are received responses; for server
# transactions they are responses the TU sends.
_IN_REQUEST = const(0)  # retransmitted request (server)
_IN_ACK = const(1)      # ACK matching an INVITE server transaction (non-2xx)
_IN_1XX = const(2)
_IN_2XX = const(3)
_IN_FINAL = const(4)    # 300-699
_IN_RETX = const(5)     # retransmission timer: A, E, G, 2xx resend; IST Proceeding: 100 timer
_IN_TIMEOUT = const(6)  # B, F, H, 2xx-without-ACK
_IN_END = const(7)      # D, K, I, J, L, M
_IN_TU_ACK = const(8)   # the TU saw the ACK for a 2xx (13.3.1.4)

# Actions: bit flags run in this order.
_PASS = const(1)          # response up to the TU
_SEND_ACK = const(2)      # ACK a non-2xx inside the transaction (17.1.1.3)
_RESEND = const(4)        # last request (client) / last response (server) again
_BACKOFF = const(8)       # double the retransmission interval (capped at T2 except ICT)
_SEND = const(16)         # transmit the TU's response and remember it
_TIMEOUT = const(32)      # report a timeout to the TU
_SEND_100 = const(64)     # 100 Trying if the TU has not answered within 200 ms (17.2.1)
_STOP = const(128)        # stop retransmission and timeout timers

# The transition tables: _row(kind, state, input, new state, actions). Anything not
# listed is an illegal transition and raises TransactionError: for network inputs every
# legal case, including "absorb and ignore", is listed explicitly.
# Compiled at import into one flat bytes table (two bytes, new state and actions, per
# (kind, state, input) cell; new state 0, which no transition enters, marks an illegal
# one, so the table starts as zeros). Rows are calls, not tuple literals: on MicroPython
# constants of a module (tuples, bytes) stay in its constant table for good (about 4 KB
# here), while import-time bytecode is freed.
_INPUTS = const(9)
_STATES = const(8)
_ILLEGAL = const(0)
_TABLE = bytearray(2 * 4 * _STATES * _INPUTS)


def _row(kind, state, event, target, actions):
    i = ((kind * _STATES + state) * _INPUTS + event) * 2
    _TABLE[i] = target
    _TABLE[i + 1] = actions


_row(ICT, _CALLING, _IN_RETX, _CALLING, _RESEND | _BACKOFF)            # timer A
_row(ICT, _CALLING, _IN_TIMEOUT, _TERMINATED, _TIMEOUT)                # timer B
_row(ICT, _CALLING, _IN_1XX, PROCEEDING, _PASS)
_row(ICT, _CALLING, _IN_2XX, ACCEPTED, _PASS)
_row(ICT, _CALLING, _IN_FINAL, COMPLETED, _SEND_ACK | _PASS)
_row(ICT, PROCEEDING, _IN_1XX, PROCEEDING, _PASS)
_row(ICT, PROCEEDING, _IN_2XX, ACCEPTED, _PASS)
_row(ICT, PROCEEDING, _IN_FINAL, COMPLETED, _SEND_ACK | _PASS)
_row(ICT, COMPLETED, _IN_1XX, COMPLETED, 0)
_row(ICT, COMPLETED, _IN_2XX, COMPLETED, 0)
_row(ICT, COMPLETED, _IN_FINAL, COMPLETED, _SEND_ACK)                  # retransmitted final: ACK again
_row(ICT, COMPLETED, _IN_END, _TERMINATED, 0)                          # timer D
_row(ICT, ACCEPTED, _IN_1XX, ACCEPTED, 0)
_row(ICT, ACCEPTED, _IN_2XX, ACCEPTED, _PASS)                          # TU re-ACKs (13.2.2.4)
_row(ICT, ACCEPTED, _IN_FINAL, ACCEPTED, 0)
_row(ICT, ACCEPTED, _IN_END, _TERMINATED, 0)                           # timer M (RFC 6026)

_row(_NICT, _TRYING, _IN_RETX, _TRYING, _RESEND | _BACKOFF)            # timer E
_row(_NICT, _TRYING, _IN_TIMEOUT, _TERMINATED, _TIMEOUT)               # timer F
_row(_NICT, _TRYING, _IN_1XX, PROCEEDING, _PASS)
_row(_NICT, _TRYING, _IN_2XX, COMPLETED, _PASS)
_row(_NICT, _TRYING, _IN_FINAL, COMPLETED, _PASS)
_row(_NICT, PROCEEDING, _IN_RETX, PROCEEDING, _RESEND | _BACKOFF)
_row(_NICT, PROCEEDING, _IN_TIMEOUT, _TERMINATED, _TIMEOUT)
_row(_NICT, PROCEEDING, _IN_1XX, PROCEEDING, _PASS)
_row(_NICT, PROCEEDING, _IN_2XX, COMPLETED, _PASS)
_row(_NICT, PROCEEDING, _IN_FINAL, COMPLETED, _PASS)
_row(_NICT, COMPLETED, _IN_1XX, COMPLETED, 0)
_row(_NICT, COMPLETED, _IN_2XX, COMPLETED, 0)
_row(_NICT, COMPLETED, _IN_FINAL, COMPLETED, 0)
_row(_NICT, COMPLETED, _IN_END, _TERMINATED, 0)                        # timer K

_row(IST, PROCEEDING, _IN_REQUEST, PROCEEDING, _RESEND)                # last provisional again
_row(IST, PROCEEDING, _IN_RETX, PROCEEDING, _SEND_100)
_row(IST, PROCEEDING, _IN_1XX, PROCEEDING, _SEND)
_row(IST, PROCEEDING, _IN_2XX, ACCEPTED, _SEND)
_row(IST, PROCEEDING, _IN_FINAL, COMPLETED, _SEND)
_row(IST, PROCEEDING, _IN_ACK, PROCEEDING, 0)                          # stray ACK: ignore
_row(IST, COMPLETED, _IN_REQUEST, COMPLETED, _RESEND)
_row(IST, COMPLETED, _IN_RETX, COMPLETED, _RESEND | _BACKOFF)          # timer G
_row(IST, COMPLETED, _IN_TIMEOUT, _TERMINATED, _TIMEOUT)               # timer H
_row(IST, COMPLETED, _IN_ACK, CONFIRMED, 0)
_row(IST, CONFIRMED, _IN_REQUEST, CONFIRMED, 0)
_row(IST, CONFIRMED, _IN_ACK, CONFIRMED, 0)
_row(IST, CONFIRMED, _IN_END, _TERMINATED, 0)                          # timer I
# Accepted: RFC 6026 7.1. The 2xx retransmission RFC 3261 13.3.1.4 gives the UAS
# core runs here on the same timer machinery until the TU reports the ACK.
_row(IST, ACCEPTED, _IN_REQUEST, ACCEPTED, _RESEND)
_row(IST, ACCEPTED, _IN_ACK, ACCEPTED, 0)
_row(IST, ACCEPTED, _IN_RETX, ACCEPTED, _RESEND | _BACKOFF)
_row(IST, ACCEPTED, _IN_TIMEOUT, ACCEPTED, _TIMEOUT | _STOP)           # no ACK within 64*T1
_row(IST, ACCEPTED, _IN_TU_ACK, ACCEPTED, _STOP)
_row(IST, ACCEPTED, _IN_END, _TERMINATED, 0)                           # timer L

_row(_NIST, _TRYING, _IN_REQUEST, _TRYING, 0)
_row(_NIST, _TRYING, _IN_1XX, PROCEEDING, _SEND)
_row(_NIST, _TRYING, _IN_2XX, COMPLETED, _SEND)
_row(_NIST, _TRYING, _IN_FINAL, COMPLETED, _SEND)
_row(_NIST, PROCEEDING, _IN_REQUEST, PROCEEDING, _RESEND)
_row(_NIST, PROCEEDING, _IN_1XX, PROCEEDING, _SEND)
_row(_NIST, PROCEEDING, _IN_2XX, COMPLETED, _SEND)
_row(_NIST, PROCEEDING, _IN_FINAL, COMPLETED, _SEND)
_row(_NIST, COMPLETED, _IN_REQUEST, COMPLETED, _RESEND)
_row(_NIST, COMPLETED, _IN_END, _TERMINATED, 0)                        # timer J

# Timers armed on entering a state: (retransmission, timeout, end), each one of:
_Z = const(0)      # cleared
_KEEP = const(1)   # left as it is
_T1 = const(2)
_T2 = const(3)
_T4 = const(4)
_T64 = const(5)    # 64*T1
_D32 = const(6)    # timer D: at least 32 s on UDP
_T100 = const(7)   # 200 ms before an automatic 100 Trying

_ENTRY = bytearray(4 * _STATES * 3)   # _TERMINATED and unused cells: all cleared


def _entry(kind, state, retx, timeout, end):
    i = (kind * _STATES + state) * 3
    _ENTRY[i] = retx
    _ENTRY[i + 1] = timeout
    _ENTRY[i + 2] = end


_entry(ICT, _CALLING, _T1, _T64, _Z)
_entry(ICT, PROCEEDING, _Z, _Z, _Z)
_entry(ICT, COMPLETED, _Z, _Z, _D32)
_entry(ICT, ACCEPTED, _Z, _Z, _T64)
# _NICT Proceeding: timer E continues with T2 (17.1.2.2), timer F keeps running.
_entry(_NICT, _TRYING, _T1, _T64, _Z)
_entry(_NICT, PROCEEDING, _T2, _KEEP, _Z)
_entry(_NICT, COMPLETED, _Z, _Z, _T4)
_entry(IST, PROCEEDING, _T100, _Z, _Z)
_entry(IST, COMPLETED, _T1, _T64, _Z)
_entry(IST, CONFIRMED, _Z, _Z, _T4)
_entry(IST, ACCEPTED, _T1, _T64, _T64)
_entry(_NIST, _TRYING, _Z, _Z, _Z)
_entry(_NIST, PROCEEDING, _Z, _Z, _Z)
_entry(_NIST, COMPLETED, _Z, _Z, _T64)

# Frozen as bytes under the same names (each module-level name is a qstr for good).
_TABLE = bytes(_TABLE)
_ENTRY = bytes(_ENTRY)
del _row, _entry, const   # const() runs at import only (never on MicroPython): one global fewer


class TransactionError(Exception):
    """An illegal transition or a full table: a local error, never caused by input alone."""


class Transaction:
    """One transaction; kind is ICT, _NICT, IST or _NIST."""

    # Fields a transaction may never set are class-level defaults: an instance's
    # attribute table only grows for what it sets. On MicroPython the table takes
    # about 230 bytes for up to 12 attributes, 320 for 13 to 17 and 420 beyond, for
    # each of up to max_transactions lingering transactions: a non-INVITE server
    # transaction stays within 12.
    cseq = 0         # CSeq number of the request (INVITE servers; clients the UA tracks)
    last = None      # server: last response bytes
    last_status = 0
    ack = None       # ICT: the ACK for a non-2xx (Accepted, detached: the 2xx's)
    to_tag = None    # IST: To tag of our final response (RFC 2543 ACK matching);
    #                  ICT Accepted, detached: the To tag of that 2xx
    owner = None     # the TU's object (call, registration, ...) while it needs it
    retx = None      # deadlines (ticks) or None; written only once armed (the
    timeout = None   # retransmission interval, .interval, is set with .retx)
    end = None

    def __init__(self, layer, kind, method, key, now_ms, request, dest):
        self.layer = layer
        self.kind = kind
        self.method = method
        self.key = key
        self.created = now_ms
        self.request = request  # client: request bytes; server: the parsed request (both
        #                         dropped once only retransmissions are absorbed)
        self.dest = dest        # client: where requests go; server: where responses go
        #                         (dropped once nothing can be sent any more)

    def terminated(self):
        return self.state == _TERMINATED

    # -- TU entry points (server side) --
    def respond(self, data, status, now_ms, to_tag=None):
        """Send a response built by the TU (bytes) through this server transaction."""
        if self.kind < IST:
            from doorsip.sip.tx_rare import bug
            raise TransactionError(bug(0))   # "respond() on a client transaction"
        self.last_status = status
        if to_tag:
            self.to_tag = to_tag
        self._input(_IN_1XX if status < 200 else _IN_2XX if status < 300 else _IN_FINAL,
                    data, now_ms)

    def ack_received(self, now_ms):
        """The TU matched the ACK for our 2xx: stop retransmitting it (13.3.1.4)."""
        if self.kind == IST and self.state == ACCEPTED:
            self._input(_IN_TU_ACK, None, now_ms)

    # -- the machine --
    def _input(self, event, arg, now_ms):
        i = ((self.kind * _STATES + self.state) * _INPUTS + event) * 2
        table = _TABLE
        new = table[i]
        if new == _ILLEGAL:
            from doorsip.sip.tx_rare import illegal
            raise TransactionError(illegal(self, event))
        actions = table[i + 1]
        layer = self.layer
        out = layer.out
        if actions & _STOP:
            self.retx = self.timeout = None
        if actions & _SEND:
            self.last = arg
            out.append((arg, self.dest))
        if actions & _RESEND:
            data = self.request if self.kind < IST else self.last
            if data is not None:
                out.append((data, self.dest))
        if actions & _BACKOFF:
            interval = self.interval * 2
            if self.kind != ICT and interval > layer.t2:
                interval = layer.t2
            self.interval = interval
            self.retx = ticks_add(now_ms, interval)
        if actions & _SEND_100 and self.last is None:
            self.last = build_response(self.request, 100)
            out.append((self.last, self.dest))
        if actions & _SEND_ACK:
            if self.ack is None:
                from doorsip.sip.tx_rare import build_ack
                self.ack = build_ack(self.request, arg)
            out.append((self.ack, self.dest))
        if new != self.state:
            self._enter(new, now_ms)
        if actions & _PASS:
            layer.tu.tx_response(self, arg)
        if actions & _TIMEOUT:
            layer.tu.tx_timeout(self)
        if new >= COMPLETED:
            # Completed, Confirmed, Accepted, Terminated: from here on the transaction
            # only absorbs retransmissions (17.1.1.2, 17.1.2.2, 17.2.1, 17.2.2, RFC 6026)
            # for up to 32 s, with its key, last response and ACK bytes. The parsed
            # request and the TU's object (an ended Call and all it holds) go now. An
            # Accepted transaction keeps its owner while the TU still needs it: the
            # client passes 2xx retransmissions up until the TU detaches it, the
            # server reports the 2xx-without-ACK timeout until its timers stop.
            self.request = None
            if new != ACCEPTED or actions & _STOP:
                self.owner = None
                if new == ACCEPTED:
                    # An INVITE server whose 2xx was ACKed (or never will be): RFC 6026
                    # 7.1 absorbs a retransmitted INVITE, nothing is resent any more.
                    self.last = None
                if self.kind == _NICT or (self.kind == IST and new != COMPLETED):
                    # Nothing left to send (non-INVITE client Completed, INVITE server
                    # Confirmed or Accepted): the destination goes too.
                    self.dest = None
        if new == _TERMINATED:
            layer._remove(self)

    def _enter(self, state, now_ms):
        self.state = state
        ms = self.layer._ms
        base = (self.kind * _STATES + state) * 3
        deadlines = [self.retx, self.timeout, self.end]
        for i in range(3):
            code = _ENTRY[base + i]
            if code != _KEEP:
                deadlines[i] = None if code == _Z else ticks_add(now_ms, ms[code])
        code = _ENTRY[base]
        if code > _KEEP:
            self.interval = ms[code]
        # Written only when they change: a deadline never armed stays the class
        # default and takes no room in the attribute table.
        retx, timeout, end = deadlines
        if retx != self.retx:
            self.retx = retx
        if timeout != self.timeout:
            self.timeout = timeout
        if end != self.end:
            self.end = end


def server_key(msg, method=None):
    """17.2.3 matching key of a request; ACK (and method=...) map onto INVITE."""
    via = msg.via
    if method is None:
        method = msg.method
        if method == "ACK":
            method = "INVITE"
    branch = via.params.get("branch") or ""
    if branch.startswith("z9hG4bK"):
        return "%s\n%s:%s\n%s" % (branch, via.host, via.port or 5060, method)
    from doorsip.sip.tx_rare import key_2543
    return key_2543(msg, method)


class TransactionLayer:
    def __init__(self, tu, t1=500, t2=4000, t4=5000, max_transactions=24):
        self.tu = tu
        self.t1 = t1
        self.t2 = t2
        self.t4 = t4
        # Milliseconds of the timer codes _T1.._T100 (_ENTRY); timer D is at least
        # 32 s on UDP.
        self._ms = (0, 0, t1, t2, t4, 64 * t1, 32000 if 64 * t1 < 32000 else 64 * t1, 200)
        self.max_transactions = max_transactions
        self.out = []
        self._txs = {}      # key -> Transaction (client keys start with "c\n")

    def __len__(self):
        return len(self._txs)

    def _remove(self, tx):
        if self._txs.get(tx.key) is tx:
            del self._txs[tx.key]
        tx.state = _TERMINATED

    def _add(self, tx, state, now_ms):
        txs = self._txs
        if len(txs) >= self.max_transactions:
            # Reap the oldest transaction that only lingers to absorb retransmissions
            # (Completed; Confirmed; Accepted once the TU reported the ACK). An INVITE
            # server in Completed still resends its non-2xx final until the ACK comes;
            # reaping it costs only that courtesy, while keeping it would let a burst
            # of refused INVITEs lock the table for 64*T1.
            oldest = None
            for old in txs.values():
                st = old.state
                if st == COMPLETED or (st == ACCEPTED and (old.kind == ICT or (
                        old.kind == IST and old.timeout is None))) or (
                        st == CONFIRMED and old.kind == IST):
                    if oldest is None or ticks_diff(old.created, oldest.created) < 0:
                        oldest = old
            if oldest is None:
                raise TransactionError("transaction table full")
            self._remove(oldest)
        txs[tx.key] = tx
        tx._enter(state, now_ms)
        return tx

    def client(self, method, data, branch, dest, now_ms):
        """Start a client transaction for request bytes `data` and send them."""
        key = "c\n%s\n%s" % (branch, method)
        if key in self._txs:
            from doorsip.sip.tx_rare import bug
            raise TransactionError(bug(1))   # "branch already in use"
        invite = method == "INVITE"
        tx = Transaction(self, ICT if invite else _NICT, method, key, now_ms, data, dest)
        self._add(tx, _CALLING if invite else _TRYING, now_ms)
        self.out.append((data, dest))
        return tx

    def server(self, msg, dest, now_ms):
        """Start a server transaction for a new request (not ACK) and return it."""
        key = server_key(msg)
        if key in self._txs:
            from doorsip.sip.tx_rare import bug
            raise TransactionError(bug(2))   # "request already has a transaction"
        invite = msg.method == "INVITE"
        tx = Transaction(self, IST if invite else _NIST, msg.method, key, now_ms, msg,
                         dest)
        if invite:
            tx.cseq = msg.cseq[0]
        return self._add(tx, PROCEEDING if invite else _TRYING, now_ms)

    def match_response(self, msg):
        branch = msg.via.params.get("branch")
        if not branch:
            return None
        return self._txs.get("c\n%s\n%s" % (branch, msg.cseq[1]))

    def match_request(self, msg):
        key = server_key(msg)
        tx = self._txs.get(key)
        if tx is not None and msg.method == "ACK":
            if tx.kind != IST:
                return None
            if key.startswith("2543") and tx.to_tag and msg.to_tag != tx.to_tag:
                return None
        return tx

    def match_cancel(self, msg):
        tx = self._txs.get(server_key(msg, "INVITE"))
        return tx if tx is not None and tx.kind == IST else None

    def response(self, tx, msg, now_ms):
        status = msg.status
        tx._input(_IN_1XX if status < 200 else _IN_2XX if status < 300 else _IN_FINAL,
                  msg, now_ms)

    def request(self, tx, msg, now_ms):
        tx._input(_IN_ACK if msg.method == "ACK" else _IN_REQUEST, msg, now_ms)

    def next_deadline_ms(self):
        best = None
        for tx in self._txs.values():
            for t in (tx.retx, tx.timeout, tx.end):
                if t is not None and (best is None or ticks_diff(t, best) < 0):
                    best = t
        return best

    def on_timer(self, now_ms):
        """Run every timer due at now_ms, earliest first within each transaction."""
        for tx in list(self._txs.values()):
            while tx.state != _TERMINATED:
                which = -1
                best = None
                # Ties: retransmission, then timeout, then end (a due timeout wins over
                # a simultaneous end so the TU hears of it).
                i = 0
                for t in (tx.retx, tx.timeout, tx.end):
                    if t is not None and ticks_diff(now_ms, t) >= 0 and \
                            (best is None or ticks_diff(t, best) < 0):
                        best = t
                        which = i
                    i += 1
                if which < 0:
                    break
                if which == 0:
                    tx.retx = None
                elif which == 1:
                    tx.timeout = None
                else:
                    tx.end = None
                tx._input(_IN_RETX + which, None, now_ms)   # _IN_RETX, _IN_TIMEOUT, _IN_END
