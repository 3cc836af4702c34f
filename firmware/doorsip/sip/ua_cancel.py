"""CANCEL in the user agent (RFC 3261 9), imported on first use only: cancel() and
its timer, a 2xx that wins the race with our CANCEL, an incoming CANCEL, and the
ring limit of an incoming call. Functions take the UserAgent."""
from doorsip.compat import ticks_add, ticks_diff
from doorsip.sip.message import build_request, build_response
from doorsip.sip.transaction import TransactionError
from doorsip.sip.uri import new_tag
from doorsip.sip.useragent import Call, UAError


def cancel(ua, call, now_ms):
    if call.direction != "out" or call.state == "confirmed" or call.state == "ended":
        raise UAError("cancel: call %d is %s" % (call.id, call.state))
    if call.cancel_wanted:
        return
    call.cancel_wanted = True
    # 9.1: a CANCEL waits for a provisional response (it might overtake the INVITE).
    if call.provisional and call.invite_tx is not None and not call.invite_tx.terminated():
        send_cancel(ua, call, now_ms)


def send_cancel(ua, call, now_ms):
    # 9.1: same Request-URI, Call-ID, From, To, CSeq number and top Via as the
    # INVITE, and its Route headers.
    headers = []
    for name, value in call.invite_headers:
        if name == "Via" or name == "Route" or name == "From" or name == "To" or \
                name == "Call-ID" or name == "Max-Forwards":
            headers.append((name, value))
    headers.append(("CSeq", "%d CANCEL" % call.invite_cseq))
    data = build_request("CANCEL", call.target, headers)
    # the INVITE's destination: its client transaction still sends there (Proceeding)
    ua._client("CANCEL", data, call.invite_branch, call.invite_tx.dest, call, now_ms)
    call.cancel_deadline = ticks_add(now_ms, 64 * ua.layer.t1)


def cancel_lost(ua, call, msg, now_ms):
    # CANCEL lost the race with the 2xx (9.1): ACK, then BYE at once.
    call.cancel_deadline = None
    from doorsip.sip.ua_rare import ack_and_bye
    ack_and_bye(ua, call, msg, now_ms, True)
    ua._ended(call, "cancelled", msg.status, True)


def call_timers(ua, call, now_ms):
    """The call's CANCEL or ring timer may have expired."""
    t = call.cancel_deadline
    if t is not None and ticks_diff(now_ms, t) >= 0:
        # 9.1: no final response within 64*T1 of the CANCEL: give the INVITE up.
        call.cancel_deadline = None
        if call.invite_tx is not None:
            ua.layer._remove(call.invite_tx)
        ua._ended(call, "cancelled", 487, True)
    t = call.answer_deadline
    if t is not None and ticks_diff(now_ms, t) >= 0:
        # Unanswered for too long (the INVITE's Expires, 13.3.1, or our own limit): a
        # caller that vanished must not hold a call slot for ever.
        call.answer_deadline = None
        tx = call.invite_tx
        if tx is not None and tx.last_status < 200 and not tx.terminated():
            status = 487 if call.expires_given else 480
            tx.respond(build_response(tx.request, status, None, (), b"", call.local_tag),
                       status, now_ms, call.local_tag)
        ua._ended(call, "timeout")


def receive_cancel(ua, msg, source, now_ms):
    invite_tx = ua.layer.match_cancel(msg)
    try:
        tx = ua.layer.server(msg, ua._reply_addr(msg), now_ms)
    except TransactionError:
        from doorsip.sip.ua_rare import busy
        busy(ua, msg, source)
        return
    if invite_tx is None:
        ua._respond(tx, msg, 481, now_ms, to_tag=new_tag())   # 9.2
        return
    call = invite_tx.owner   # None once the INVITE got its final response
    tag = call.local_tag if isinstance(call, Call) else invite_tx.to_tag or new_tag()
    ua._respond(tx, msg, 200, now_ms, to_tag=tag)
    if invite_tx.last_status < 200:
        # 9.2: the INVITE gets 487 Request Terminated.
        invite_tx.respond(build_response(invite_tx.request, 487, None, (), b"", tag), 487,
                          now_ms, tag)
        if isinstance(call, Call):
            ua._ended(call, "cancelled", 487)
