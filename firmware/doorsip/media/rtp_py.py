"""Plain-Python twin of rtp_viper._account (rtp.py's _account_py): the CPython path
and ports without the viper emitter; loaded only there and by tests/benchmarks.
The state layout is rtp.py's, spelled out again because const() names are
compile-time per module (tests/unit/test_rtp.py checks the three copies agree).
"""
from doorsip.compat import const

# RFC 3550 A.1 (in _account below / rtp_viper._account): a sequence jump of 3000
# (MAX_DROPOUT) or more restarts the count only when the next packet follows it;
# reordering by more than 100 (MAX_MISORDER) counts as such a jump.

# Receiver state: one array('i') shared by the viper kernel and its plain twin.
# Every value stays in 0 .. 2**30 (small ints on a 32-bit port).
_PT_A0 = const(0)          # accepted audio payload types (255: none)
_PT_A1 = const(1)
_PT_EVENT = const(2)       # RFC 4733 telephone-event payload type (255: none)
_PT_O0 = const(3)          # other accepted types (comfort noise)
_PT_O1 = const(4)
_CLOCK_KHZ = const(5)
_OFF = const(6)            # --- the last kept packet ---
_LEN = const(7)
_PT = const(8)
_MARKER = const(9)
_SEQ = const(10)
_TS = const(11)            # low 30 bits of its timestamp
_TS_TOP = const(12)        # top 2 bits
_RESTARTED = const(13)
_HAVE_SSRC = const(14)     # --- the far end's stream (RFC 3550 A.1, A.3, A.8) ---
_SSRC_HI = const(15)
_SSRC_LO = const(16)
_BASE_SEQ = const(17)
_MAX_SEQ = const(18)
_CYCLES = const(19)        # sequence wraps
_BAD_SEQ = const(20)       # 0x10000: none
_RECEIVED_SRC = const(21)
_EXPECTED_PRIOR = const(22)
_RECEIVED_PRIOR = const(23)
_HAVE_TRANSIT = const(24)
_TRANSIT = const(25)
_JITTER16 = const(26)      # interarrival jitter x 16
_ARRIVAL = const(27)       # arrival time in timestamp units, modulo 2**30
_LAST_MS = const(28)
_LOST_BEFORE = const(29)   # losses of earlier SSRCs
_RECEIVED = const(30)      # --- counters ---
_BAD_HEADER = const(31)
_BAD_VERSION = const(32)
_BAD_TYPE = const(33)
_SEQ_JUMPS = const(34)
_SSRC_CHANGES = const(35)
_STATE_SIZE = const(36)


def _account(buf, n, st, now_ms):
    """Plain twin of rtp_viper._account: 0 = dropped (counted), else the kind."""
    b = buf
    s = st
    # --- header (RFC 3550 5.1) ---
    if n < 12:
        s[_BAD_HEADER] += 1
        return 0
    b0 = b[0]
    if (b0 & 0xC0) != 0x80:
        s[_BAD_VERSION] += 1
        return 0
    b1 = b[1]
    pt = b1 & 0x7F
    if pt == s[_PT_A0] or pt == s[_PT_A1]:
        kind = 1
    elif pt == s[_PT_EVENT]:
        kind = 2
    elif pt == s[_PT_O0] or pt == s[_PT_O1]:
        kind = 3
    else:
        s[_BAD_TYPE] += 1
        return 0
    off = 12
    end = n
    if b0 & 0x3F:
        off += (b0 & 0x0F) << 2
        if b0 & 0x10:
            if off + 4 > n:
                s[_BAD_HEADER] += 1
                return 0
            off += 4 + (((b[off + 2] << 8) | b[off + 3]) << 2)
        if b0 & 0x20:
            pad = b[n - 1]
            if pad == 0:
                s[_BAD_HEADER] += 1
                return 0
            end -= pad
        if off > end:
            s[_BAD_HEADER] += 1
            return 0
    # --- source and sequence (A.1) ---
    seq = (b[2] << 8) | b[3]
    hi = (b[8] << 8) | b[9]
    lo = (b[10] << 8) | b[11]
    restarted = 0
    init = 0
    if s[_HAVE_SSRC] == 0 or hi != s[_SSRC_HI] or lo != s[_SSRC_LO]:
        if s[_HAVE_SSRC]:
            s[_SSRC_CHANGES] += 1
            restarted = 1
        s[_HAVE_SSRC] = 1
        s[_SSRC_HI] = hi
        s[_SSRC_LO] = lo
        init = 1
    else:
        max_seq = s[_MAX_SEQ]
        udelta = (seq - max_seq) & 0xFFFF
        if udelta < 3000:  # MAX_DROPOUT
            if seq < max_seq:
                s[_CYCLES] += 1
            s[_MAX_SEQ] = seq
        elif udelta <= 0x10000 - 100:  # beyond MAX_MISORDER: a jump
            if seq == s[_BAD_SEQ]:
                s[_SEQ_JUMPS] += 1
                restarted = 1
                init = 1
            else:
                s[_BAD_SEQ] = (seq + 1) & 0xFFFF
                s[_BAD_HEADER] += 1
                return 0
    if init:
        if restarted:
            lost = (s[_CYCLES] << 16) + s[_MAX_SEQ] - s[_BASE_SEQ] + 1 - s[_RECEIVED_SRC]
            if lost > 0:
                s[_LOST_BEFORE] += lost
        s[_BASE_SEQ] = seq
        s[_MAX_SEQ] = seq
        s[_BAD_SEQ] = 0x10000
        s[_CYCLES] = 0
        s[_RECEIVED_SRC] = 0
        s[_EXPECTED_PRIOR] = 0
        s[_RECEIVED_PRIOR] = 0
        s[_HAVE_TRANSIT] = 0
        s[_JITTER16] = 0
    s[_RECEIVED_SRC] += 1
    s[_RECEIVED] += 1
    ts = ((b[4] & 0x3F) << 24) | (b[5] << 16) | (b[6] << 8) | b[7]
    # --- interarrival jitter (A.8), timestamp units modulo 2**30 ---
    if kind == 1:
        if s[_HAVE_TRANSIT]:
            dt = (now_ms - s[_LAST_MS]) & 0x3FFFFFFF
            if dt >= 0x20000000:
                dt = dt - 0x3FFFFFFF - 1  # 2**30 itself is no small int for mpy-cross
            arrival = (s[_ARRIVAL] + dt * s[_CLOCK_KHZ]) & 0x3FFFFFFF
            transit = (arrival - ts) & 0x3FFFFFFF
            d = (transit - s[_TRANSIT]) & 0x3FFFFFFF
            if d >= 0x20000000:
                d = 0x3FFFFFFF - d + 1
            if d > 0x1000000:  # keeps 16 x jitter inside 32 bits
                d = 0x1000000
            j = s[_JITTER16]
            s[_JITTER16] = j + d - ((j + 8) >> 4)
        else:
            s[_HAVE_TRANSIT] = 1
            arrival = 0
            transit = (0 - ts) & 0x3FFFFFFF
        s[_ARRIVAL] = arrival
        s[_TRANSIT] = transit
        s[_LAST_MS] = now_ms & 0x3FFFFFFF
    s[_OFF] = off
    s[_LEN] = end - off
    s[_PT] = pt
    s[_MARKER] = b1 >> 7
    s[_SEQ] = seq
    s[_TS] = ts
    s[_TS_TOP] = b[4] >> 6
    s[_RESTARTED] = restarted
    return kind
