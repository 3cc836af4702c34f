"""Rarely taken paths of the user agent, imported on first use only (a plain call,
INVITE 180 200 ACK INFO BYE, never loads it, nor does a station's life with a
registrar: REGISTER, OPTIONS keepalives and the digest retry of an INVITE are in
ua_register.py): re-INVITE both ways, a 2xx we do not want, out-of-dialog and unusual
in-dialog requests, transaction timeouts, answers to malformed requests (CANCEL is
in ua_cancel.py). Functions take the UserAgent (useragent.py documents the behaviour).
"""
from doorsip.sip.dialog import Dialog
from doorsip.sip.errors import SIPError
from doorsip.sip.message import build_response, parse
from doorsip.sip.transaction import COMPLETED, IST
from doorsip.sip.uri import new_tag
from doorsip.sip.useragent import ALLOW, Call, UAError


# Methods we know but do not implement get 405 with Allow (8.2.1), others 501. Here
# and below, method names are compared one by one: constant tuples of strings would
# cost a string object per name while this module is loaded.


# ---------------------------------------------------------------- malformed input
# Compact and long names of the headers needed to answer an unparseable request.
_NEEDED = {b"via": 0, b"v": 0, b"from": 1, b"f": 1, b"to": 2, b"t": 2, b"call-id": 3,
           b"i": 3, b"cseq": 4}


def reject_unparseable(data, status, reason):
    """A response (bytes) to a request that failed to parse, or None when it was not a
    request or lacks Via/From/To/Call-ID/CSeq (then it is dropped: 8.2 needs them)."""
    head = data[:4096]
    end = head.find(b"\r\n")
    if end < 0:
        return None
    first = head[:end].split(b" ")
    if len(first) != 3 or first[2] != b"SIP/2.0" or first[0] == b"ACK" or first[0] == b"SIP/2.0":
        return None
    found = [[], None, None, None, None]
    for line in head[end + 2:].split(b"\r\n"):
        if not line:
            break
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        slot = _NEEDED.get(name.strip().lower())
        if slot is None:
            continue
        value = value.strip()
        if slot == 0:
            found[0].append(value)
        elif found[slot] is None:
            found[slot] = value
    if not found[0] or None in found[1:]:
        return None
    out = [("SIP/2.0 %d %s" % (status, reason)).encode()]
    for via in found[0]:
        out.append(b"Via: " + via)
    out.append(b"From: " + found[1])
    out.append(b"To: " + found[2])
    out.append(b"Call-ID: " + found[3])
    out.append(b"CSeq: " + found[4])
    out.append(b"Content-Length: 0")
    return b"\r\n".join(out) + b"\r\n\r\n"


def refuse(ua, data, msg, source, exc):
    """A request that failed to parse (msg None) or that a closer look found malformed
    (SIPError exc) gets the error's status; responses and ACKs are just dropped."""
    ua.stats["garbage"] += 1
    try:
        status = getattr(exc, "status", 400)
        reason = getattr(exc, "reason", "Bad Request")
        if msg is None:
            reply = reject_unparseable(data, status, reason)
        elif msg.method is not None and msg.method != "ACK":
            reply = build_response(msg, status, reason)
            source = ua._reply_addr(msg)
        else:
            reply = None
        if reply is not None:
            ua.layer.out.append((reply, source))
    except Exception:
        pass


def busy(ua, msg, source):
    # Transaction table full: refuse statelessly; the client may retry (21.5.4).
    ua.layer.out.append((build_response(msg, 503, None, [("Retry-After", "5")], b"", new_tag()),
                         ua._reply_addr(msg)))


def request_failed(ua, msg, tx, now_ms, exc):
    """Handling a new request raised exc: the transaction still gets a final response
    (so its timers end it instead of filling the table). True for a SIPError (bad
    input, counted as garbage), False for an internal error the caller re-raises."""
    bad = isinstance(exc, SIPError)
    if tx.last_status < 200 and not tx.terminated():
        try:
            ua._respond(tx, msg, exc.status if bad else 500, now_ms, to_tag=new_tag())
        except Exception:
            ua.layer._remove(tx)
    if bad:
        ua.stats["garbage"] += 1
    return bad


# ---------------------------------------------------------------- requests we answer
def _refuse_method(ua, tx, msg, now_ms, to_tag):
    method = msg.method
    if method == "SUBSCRIBE":
        ua._respond(tx, msg, 489, now_ms, to_tag=to_tag)     # RFC 6665 8.2.1: no events
    else:
        known = method == "REGISTER" or method == "PRACK" or method == "UPDATE" or \
            method == "REFER" or method == "PUBLISH"
        ua._respond(tx, msg, 405 if known else 501, now_ms,
                    [("Allow", ALLOW)], to_tag=to_tag)


def out_of_dialog(ua, msg, tx, now_ms):
    """A new request without To tag other than a plain INVITE or OPTIONS."""
    method = msg.method
    required = msg.headers("Require")
    if required:
        # 8.2.2.3: extensions required of us that we do not support.
        ua._respond(tx, msg, 420, now_ms, [("Unsupported", ", ".join(required))],
                    to_tag=new_tag())
    elif method == "INVITE":   # a body that is not SDP
        ua._respond(tx, msg, 415, now_ms, [("Accept", "application/sdp")], to_tag=new_tag())
    elif method == "MESSAGE" or method == "NOTIFY":
        ua._respond(tx, msg, 200, now_ms, to_tag=new_tag())
        if method == "MESSAGE":
            ua._event("message", uri=msg.from_addr.uri, content_type=msg.header("Content-Type"),
                      body=msg.body)
    elif method == "BYE" or method == "INFO":
        ua._respond(tx, msg, 481, now_ms, to_tag=new_tag())
    else:
        _refuse_method(ua, tx, msg, now_ms, new_tag())


def in_dialog(ua, call, msg, tx, now_ms):
    """An in-dialog request other than BYE/INFO, or one matching no dialog (call None)."""
    method = msg.method
    if method == "OPTIONS":
        ua._answer_options(tx, msg, now_ms, None)
    elif call is None:
        ua._respond(tx, msg, 481, now_ms)   # 12.2.2: matches no dialog
    elif method == "INVITE":
        if call.state != "confirmed" or call.awaiting_ack or _reinvite_pending(call):
            # 14.2: a re-INVITE while one is pending (or before our 2xx is ACKed).
            ua._respond(tx, msg, 491 if call.state == "confirmed" else 500, now_ms,
                        [("Retry-After", "1")] if call.state != "confirmed" else ())
            return
        _incoming_reinvite(ua, call, msg, tx, now_ms)
    elif method == "NOTIFY" or method == "MESSAGE":
        ua._respond(tx, msg, 200, now_ms)
        if method == "MESSAGE":
            ua._event("message", call, uri=call.remote_uri,
                      content_type=msg.header("Content-Type"), body=msg.body)
    else:
        _refuse_method(ua, tx, msg, now_ms, None)


# ---------------------------------------------------------------- outgoing calls
def ack_and_bye(ua, call, msg, now_ms, keep):
    """ACK a 2xx we do not want, then end that dialog with BYE. keep: remember the
    dialog on the call so a retransmission of this 2xx is ACKed again."""
    d = Dialog.uac(call.from_header, call.target, msg.cseq[0], msg, ua.contact)
    d.confirm(msg)
    if keep:
        call.dialog = d
    data, dest = d.ack(msg.cseq[0], ua.local_host, ua.local_port)
    ua.layer.out.append((data, dest))
    data, dest, branch, _ = d.request("BYE", ua.local_host, ua.local_port)
    try:
        ua._client("BYE", data, branch, dest, None, now_ms)
    except UAError:
        pass


def other_invite_response(ua, tx, call, msg, now_ms):
    """A response to our re-INVITE, or to an earlier INVITE of the call (answered
    before the digest retry: ACK and BYE its 2xx)."""
    if tx is call.reinvite_tx:
        _reinvite_response(ua, call, msg, now_ms)
    elif 200 <= msg.status < 300:
        ack_and_bye(ua, call, msg, now_ms, False)


def timeout(ua, tx):
    """Timer B, F or H, or our 2xx never ACKed (transaction layer's tx_timeout)."""
    owner = tx.owner
    now_ms = ua.now
    if owner == "register":
        from doorsip.sip.ua_register import response
        response(ua, tx, None, now_ms)
    elif owner == "options":
        ua._event("options_response", status=408, reason="Request Timeout",
                  call_id=tx.request and parse(tx.request).call_id)
    elif isinstance(owner, Call):
        call = owner
        if tx.kind == IST:
            if tx is call.server_tx and call.awaiting_ack and call.state == "confirmed":
                # 13.3.1.4: no ACK for our 2xx within 64*T1: end the dialog with BYE.
                call.awaiting_ack = False
                if not call.ending:
                    call.ending = True
                    call.end_reason = "ack_timeout"
                ua._send_bye(call, now_ms)
        elif tx.method == "INVITE":
            if tx is call.invite_tx:
                ua._ended(call, "Request Timeout", 408, True)
            elif tx is call.reinvite_tx:
                ua._ended(call, "dialog_gone", 408)   # 12.2.1.2
        elif tx.method == "BYE":
            ua._ended(call, call.end_reason or "local_bye", 408)
        elif tx.method != "CANCEL":
            ua._ended(call, "dialog_gone", 408)


# ---------------------------------------------------------------- re-INVITE
def _reinvite_pending(call):
    tx = call.reinvite_tx
    return tx is not None and tx.state < COMPLETED   # Calling or Proceeding


def reinvite(ua, call, body, now_ms):
    """Offer a new session (hold, codec change) in the call's dialog (14.1)."""
    if call.ending or call.awaiting_ack or _reinvite_pending(call):
        # 14.1: not while another INVITE transaction of the dialog is in progress.
        raise UAError("call %d: an INVITE is already in progress" % call.id)
    headers = [("Content-Type", "application/sdp")] if body else []
    call.reinvite_tx = ua._in_dialog(call, "INVITE", now_ms, headers, body)
    call.pending_sdp = body


def _reinvite_response(ua, call, msg, now_ms):
    status = msg.status
    d = call.dialog
    if status < 200 or call.state != "confirmed" or d is None:
        return
    if status < 300:
        if d.ack_cseq == msg.cseq[0] and d.ack_data is not None:
            ua.layer.out.append((d.ack_data, d.ack_dest))   # retransmitted 2xx
            return
        data, dest = d.ack(msg.cseq[0], ua.local_host, ua.local_port)
        ua.layer.out.append((data, dest))
        d.refresh_target(msg)
        call.local_sdp = call.pending_sdp
        if msg.body:
            call.remote_sdp = msg.body
        ua._event("call_updated", call, status=status, body=msg.body)
    elif status == 408 or status == 481:
        ua._ended(call, "dialog_gone", status)   # 12.2.1.2
    else:
        # 14.1: the session is unchanged (491 glare: the app may try again later).
        ua._event("reinvite_failed", call, status=status, reason=msg.reason)


def _incoming_reinvite(ua, call, msg, tx, now_ms):
    # 14.2: a target refresh; the session answer comes from the reinvite_answerer
    # hook (default: our current SDP unchanged).
    tx.owner = call
    status, body = 200, call.local_sdp or b""
    if ua.reinvite_answerer is not None:
        status, body = ua.reinvite_answerer(call, msg.body)
    if not 200 <= status < 300:
        ua._respond(tx, msg, status, now_ms)   # 14.2: the session stays as it was
        return
    call.dialog.refresh_target(msg)
    call.server_tx = tx
    if msg.body:
        call.remote_sdp = msg.body
    call.local_sdp = body
    extra = [("Contact", ua.contact), ("Allow", ALLOW)]
    if body:
        extra.append(("Content-Type", "application/sdp"))
    tx.respond(build_response(msg, status, None, extra, body), status, now_ms)
    call.awaiting_ack = True
    ua._event("call_updated", call, body=msg.body)
