# The start-up half of the runtime glue (runtime.py): command-line arguments, the
# config and board files, the local address, and building a Station's devices,
# sockets, user agent and policy. Code that runs once: runtime.main() forgets
# this module after boot so a MicroPython device gets its code's heap back, as
# config.release() does for the validator.
import sys

from doorsip import netio
from doorsip.compat import const, forget, ticks_ms

# Inlined by the compiler as str objects: not interned names (see board.py).
_LOCALHOST = const("127.0.0.1")
_LOOPBACK_NET = const("127.")
_LOCALHOST_NAME = const("localhost")
_SIP_FIRST = const(1500)
_GC_EVERY = const(4096)  # bytes allocated between collections (see boot)
_JITTER_RING = const(16 * 160)  # jitter.JitterBuffer's default slots * frame_samples


def init_station(s, config, board, events, mic, speaker):
    """Station.__init__: hardware first, then audio, sockets, UA and policy."""
    from doorsip.hal import devices
    from doorsip.hal.audio import open_audio
    from doorsip.sip.useragent import UserAgent
    from doorsip.app.intercom import Intercom
    from doorsip.media.dtmf import DigitDeduplicator
    s.config = config
    s.board = board
    s.events = events
    sip = config["sip"]
    rtp = config["rtp"]
    s.codecs = tuple(rtp["codecs"])
    s.dtmf_methods = rtp["dtmf"]
    s.dtmf_pt = rtp.get("dtmf_pt", 101) if "rfc4733" in s.dtmf_methods else None
    s.rtp_port = rtp["port"]

    # The address our Contact, Via and SDP carry: the one the system would use to
    # reach the registrar (or the first call target); loopback peers get 127.0.0.1.
    peer = sip.get("registrar") or sip.get("proxy")
    if not peer:
        for name in config.get("buttons") or {}:
            calls = config["buttons"][name].get("call") or []
            if calls:
                peer = calls[0].split("@")[-1].split(";")[0]
                break
    host = (peer or _LOCALHOST).rsplit(":", 1)[0] if peer and peer.count(":") == 1 else (peer or _LOCALHOST)
    scheme, colon, rest = host.partition(":")
    if colon and scheme == "sip":
        host = rest
    s.local_host = _LOCALHOST
    if not (host.startswith(_LOOPBACK_NET) or host == _LOCALHOST_NAME):
        try:  # an ESP32 with Wi-Fi up
            import network
            s.local_host = network.WLAN(network.STA_IF).ifconfig()[0]
        except Exception:
            try:  # CPython: the source address the kernel picks for this peer
                import socket
                probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    probe.connect((host, 5060))
                    s.local_host = probe.getsockname()[0]
                finally:
                    probe.close()
            except Exception:
                s.local_host = _LOCALHOST

    s.quit = netio.asyncio.Event()
    s.media = s.rtcp = s.rtcp_dest = s.rtcp_latched = s.inband = None
    s.digits_out = s.info_out = ""
    s.digit_next = s.info_next = 0
    s.info_call = s.keepalive_id = s.led_pattern = s.policy = None
    s.addr_cache = {}
    s.ua_errors = 0
    s.dedup = DigitDeduplicator()
    # Hardware first, so the relay is off before anything else can fail (boot).
    # The sim pins' level history is for tests; a running station keeps a short one.
    pin_options = {"history_limit": 16} if board.get("pins") == "sim" else {}
    s.hw = devices.Hardware(board, config, on_button=s._on_button,
                            on_relay=s._on_relay, on_led=s._on_led, **pin_options)
    s.audio_in = s.audio_out = s.sip_sock = s.rtp_sock = s.rtcp_sock = None
    try:
        s.audio_in, s.audio_out = open_audio(board["audio"], mic, speaker)
        s.sip_sock = netio.open_udp(sip["local_port"])
        s.rtp_sock = netio.open_udp(s.rtp_port)
        # RTCP on the next port up (RFC 3550 11).
        s.rtcp_sock = netio.open_udp(s.rtp_port + 1)

        # The blocks a call needs, taken while the heap is whole (boot() imported
        # the call code already: see _import_station_code).
        import gc
        gc.collect()
        from doorsip.media.stream import PacketReceiver
        # The SIP receiver, ready for 4 KB datagrams but peeking with one of
        # Ethernet's MTU first (nearly every SIP datagram fits), and its reserve
        # block of that size (see PacketReceiver), taken while the heap is whole.
        # Measured with three door calls in a 192K heap: 4096-byte receives and
        # reserve passed 0 times in 6, 2048-byte ones 4 in 6.
        s.sip_rx = PacketReceiver(s.sip_sock, s._on_sip, bufsize=4096, reserve=True,
                                  first=_SIP_FIRST)
        # The jitter buffer's ring, lent to every call's MediaSession: a 2.5 KB
        # block allocated once here, where a call made after lingering transactions
        # had cut up the heap could not find one (measured: the second call's
        # media failed to start in a 208K heap).
        s.jitter_ring = bytearray(_JITTER_RING)
        # The in-band DTMF detector (its code and tables), if configured, for the
        # same reason: built at the first call it failed for want of a 2 KB block
        # in the demo's 192K heap.
        s.prepare_inband()
    except BaseException:
        s.close()  # relays stay off, nothing half-open
        raise
    now = ticks_ms()
    s.ua = UserAgent.from_config(sip, s.local_host, now_ms=now)
    s.ua.reinvite_answerer = s.answer_reinvite  # hold/resume applied to the media
    # the station is the policy's phone (see app/intercom.py)
    s.policy = Intercom(config, s, s.hw, events, now)


def _import_station_code():
    """Import the code every call needs, now that the validator is gone and the
    heap is whole: it sits in one compact run below everything the station
    allocates later. MicroPython's heap does not move objects: code imported after
    the devices, sockets and receive blocks, or mid-call, lands between them and,
    once they are freed, leaves the free heap in pieces too small for one SIP
    datagram (measured: 35 KB free, not 1.5 KB in one piece). Measured with two
    door calls: imported here instead of inside init_station (SDP and media after
    the SIP receiver's block), they pass in a 216K heap where they failed 4 times
    in 4."""
    import gc
    gc.collect()
    from doorsip.sip import useragent, sdp  # noqa: F401  (sys.modules keeps them)
    gc.collect()
    from doorsip.media import dtmf, g711, jitter, rtcp, rtp, stream  # noqa: F401
    gc.collect()
    from doorsip.app import intercom  # noqa: F401
    from doorsip.hal import devices, audio  # noqa: F401
    gc.collect()


def boot(cls, argv, events):
    """A started Station of class cls (.commands: stdin on the sim board, else None),
    or the exit status when boot failed (2: arguments/config/board, 1: the station)."""
    try:
        opts = {"config": None, "board": None, "mic": None, "speaker": None, "boards_dir": None}
        i = 0
        while i < len(argv):
            key = argv[i]
            if key.startswith("--") and key[2:].replace("-", "_") in opts and i + 1 < len(argv):
                opts[key[2:].replace("-", "_")] = argv[i + 1]
                i += 2
            else:
                raise ValueError("unknown argument %r (use --config FILE --board NAME "
                                 "[--mic FILE.wav] [--speaker FILE.wav] [--boards-dir DIR])" % key)
        if not opts["config"]:
            raise ValueError("--config FILE is required")
        # (config, board) validated, or an exception whose message names the problem
        from doorsip import config as config_mod
        from doorsip import board as board_mod
        cfg = config_mod.load(opts["config"])
        board = board_mod.load_board(opts["board"] or cfg.get("board") or "sim", opts["boards_dir"])
        board_mod.check_board_against_config(board, cfg)
        # Release the validator now, before the station's code is imported: its
        # code (~30 KB) would otherwise sit in the middle of the heap and, freed
        # later, leave a hole the resident code and the config's objects cut into
        # pieces (measured: the largest free block at boot went from 18 KB to 67 KB,
        # and a 216K heap no longer failed to find the SIP receiver's 4 KB block).
        # Nothing after this point may import config or board (devices_setup has
        # its own device_spec for this).
        config_mod.release()
        del config_mod, board_mod
    except Exception as exc:  # config/board errors already name the field
        sys.stderr.write("doorsip run: error: %s\n" % exc)
        return 2
    try:
        _import_station_code()
        station = cls(cfg, board, events, opts["mic"], opts["speaker"])
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        events.emit("error", {"what": "station", "message": repr(exc)})
        sys.stderr.write("doorsip run: error: %r\n" % (exc,))
        return 1
    station.commands = sys.stdin if board.get("pins") == "sim" else None
    import gc
    if hasattr(gc, "threshold"):  # MicroPython
        # Collect after every _GC_EVERY bytes allocated, not only when the heap is
        # exhausted. MicroPython allocates first-fit from the lowest free block and
        # never moves objects: collected only when full, the heap fills to the top
        # with garbage, so what a call keeps (transactions, dialog, the received
        # datagrams they hold) lands anywhere and, once the garbage around it is
        # freed, cuts the free heap into pieces too small for one SIP datagram.
        # Collected early, the garbage's room is reused at once and the long-lived
        # objects pack low. Measured, three door calls in a row: 184K passes 8
        # times in 8 (was 0 in 6), 192K 8 in 8 (was 5 in 6); one collection of
        # the station's heap takes ~65 us on the PC.
        gc.threshold(_GC_EVERY)
    try:
        import signal
    except ImportError:  # MicroPython unix port: no signal module; stdin EOF or quit stops it
        return station

    def handler(*args):  # (signal number, frame)
        station.quit.set()
    signal.signal(signal.SIGTERM, handler)
    return station


def release():
    """Forget this module (its code's heap comes back); call after boot()."""
    forget("doorsip.runtime_boot")
