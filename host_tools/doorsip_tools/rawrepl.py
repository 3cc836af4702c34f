"""A minimal MicroPython raw-REPL client over pyserial, built for unattended file
transfer to a device that may reboot underneath it.

Protocol (MicroPython docs, "The raw REPL" and "raw-paste mode"):
  Ctrl-C Ctrl-C   stop the running program; the friendly REPL answers ">>> "
  Ctrl-A          enter the raw REPL: "raw REPL; CTRL-B to exit\\r\\n>"
  Ctrl-E 'A' Ctrl-A  ask for raw-paste mode: "R\\x01" + 16-bit window size (flow
                  control: the device sends \\x01 for each window it has consumed,
                  \\x04 to stop early); "R\\x00" or anything else: plain raw mode
  code + Ctrl-D   run it; plain raw mode answers "OK" first; then stdout, \\x04,
                  the exception text, \\x04, and the ">" prompt
  Ctrl-B          back to the friendly REPL; Ctrl-D there soft-resets the board.

Every file is written as NAME.tmp, checked by its sha256 on the device and then
renamed over NAME, so a cut at any moment leaves the old or the new file (rename
over an existing file is atomic on littlefs, the ESP32 default, and on POSIX; on a
FAT file system the old file is removed first, leaving a short window). A
device that reboots mid-operation (its banner shows up, the port vanishes, or it
stops answering) raises DeviceReset; `RawRepl.call` reconnects and retries the
operation, which is safe because every operation is idempotent.
"""
import binascii
import errno
import os
import time

from .cli import ToolError

RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
# Text that only appears when the device (re)booted: the MicroPython banner, the
# soft-reboot line and the ESP32 ROM boot log.
REBOOT_MARKERS = (b"MicroPython v", b"MicroPython ", b"soft reboot", b"rst:0x", b"ets Jun")
DEFAULT_CHUNK = 1024

# Defined on the device after each connect; names start with _d to stay out of
# the way of the user's globals. _dsh hashes in 256-byte chunks (never a whole
# file in RAM); _dmk creates every folder of a path.
DEVICE_HELPERS = b"""import os,binascii,hashlib
def _dsh(p):
    try:
        f=open(p,'rb')
    except OSError:
        return '-'
    d=hashlib.sha256()
    b=bytearray(256)
    m=memoryview(b)
    while True:
        n=f.readinto(b)
        if not n:
            break
        d.update(m[:n])
    f.close()
    return binascii.hexlify(d.digest()).decode()
def _dmk(p):
    q=''
    for s in p.split('/'):
        if not s:
            continue
        q=s if not q else q+'/'+s
        try:
            os.mkdir(q)
        except OSError as e:
            if e.args[0]!=17:
                raise
def _dput(t,p,h):
    _f.close()
    if _dsh(t)!=h:
        os.remove(t)
        raise ValueError('upload of '+p+' corrupted in transit')
    try:
        os.rename(t,p)
    except OSError:
        os.remove(p)
        os.rename(t,p)
"""


class DeviceReset(Exception):
    """The device rebooted, vanished or stopped answering in the middle of an operation."""


class DeviceError(Exception):
    """Code run on the device raised; .text is the device's traceback."""

    def __init__(self, text):
        Exception.__init__(self, text)
        self.text = text

    def last_line(self):
        lines = [l for l in self.text.strip().splitlines() if l.strip()]
        return lines[-1] if lines else "error on the device"

    def is_missing_file(self):
        return "ENOENT" in self.text or "Errno 2]" in self.text


DEVICE_ERRNO_HINTS = {
    28: "the device's file system is full: remove files or use a bigger partition",
    30: "the device's file system is read-only here: check --root",
    13: "permission denied on the device's file system: check --root",
}


def explain_device_error(exc):
    line = exc.last_line()
    for code, hint in DEVICE_ERRNO_HINTS.items():
        if ("OSError: %d" % code) in line or ("[Errno %d]" % code) in line:
            return "%s (%s)" % (hint, line)
    return "the device reported: %s" % line


def open_serial(port, baudrate=115200):
    """Open PORT with pyserial; turn the usual failures into one-line ToolErrors."""
    import serial
    try:
        # serial_for_url: a device path, or a pyserial URL (socket://, rfc2217://).
        return serial.serial_for_url(port, baudrate, timeout=0.05, write_timeout=5)
    except ValueError as exc:
        raise ToolError("cannot use port %s: %s" % (port, exc))
    except (serial.SerialException, OSError) as exc:
        code = getattr(exc, "errno", None)
        text = str(exc)
        if code == errno.ENOENT or "No such file" in text:
            raise ToolError("no such port %s: check the cable, then list ports with `doorsip ports`" % port)
        if code == errno.EACCES or "Permission denied" in text:
            raise ToolError("permission denied on %s: add yourself to the dialout group "
                            "(sudo usermod -aG dialout $USER) and log in again" % port)
        if code == errno.EBUSY or "busy" in text.lower():
            raise ToolError("%s is busy: close the other program using it (a serial monitor?)" % port)
        raise ToolError("cannot open %s: %s" % (port, text))


class RawRepl:
    """One raw-REPL session with a MicroPython device on a serial port.

    root: the folder on the device all paths are relative to (os.chdir'd after
    each connect); "/" on a real board.
    """

    def __init__(self, port, baudrate=115200, root="/", console=None,
                 reconnect_s=20.0, timeout_s=10.0, chunk=None, allow_raw_paste=True):
        self.port = port
        self.baudrate = baudrate
        self.root = root
        self.console = console
        # DOORSIP_RECONNECT_S: how long to wait for a reset board to come back.
        self.reconnect_s = float(os.environ.get("DOORSIP_RECONNECT_S", reconnect_s))
        self.timeout_s = timeout_s
        self.chunk = chunk or int(os.environ.get("DOORSIP_UPLOAD_CHUNK", DEFAULT_CHUNK))
        self.serial = None
        self._pending = b""
        self.allow_raw_paste = allow_raw_paste
        self.raw_paste = None
        self.resets_seen = 0

    # -- connection -----------------------------------------------------------

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()

    def connect(self, deadline=None, port_may_vanish=False):
        """Open the port, stop the program, enter the raw REPL, install helpers.

        Retries until `deadline` (monotonic seconds, default 5 s from now) while
        the device is still booting, and, with port_may_vanish, while the port is
        missing (native USB re-enumerating after a reset).
        """
        if deadline is None:  # DOORSIP_CONNECT_S: how long a booting board may take to answer
            deadline = time.monotonic() + float(os.environ.get("DOORSIP_CONNECT_S", "5"))
        while True:
            try:
                if self.serial is None:
                    self.serial = open_serial(self.port, self.baudrate)
                self._enter_raw()
                self.raw_paste = self.allow_raw_paste and self._probe_raw_paste()
                self.exec_(DEVICE_HELPERS + ("os.chdir(%r)\n" % self.root).encode())
                return
            except (ToolError, DeviceReset) as exc:
                self._drop()
                if isinstance(exc, ToolError) and not port_may_vanish:
                    raise
                if time.monotonic() > deadline:
                    if isinstance(exc, ToolError):
                        raise
                    raise ToolError("no MicroPython raw REPL on %s: %s; press the board's "
                                    "reset button or check the baud rate" % (self.port, exc))
                time.sleep(0.3)
            except DeviceError as exc:
                raise ToolError("cannot use %r as the device root: %s" % (self.root, exc.last_line()))

    def reconnect(self):
        self.resets_seen += 1
        if self.console:
            self.console.info("device reset or vanished; reconnecting to %s ..." % self.port)
        self._drop()
        self.connect(deadline=time.monotonic() + self.reconnect_s, port_may_vanish=True)

    def close(self):
        if self.serial is not None:
            try:
                self.serial.write(b"\x02")  # back to the friendly REPL
            except Exception:
                pass
        self._drop()

    def _drop(self):
        if self.serial is not None:
            try:
                self.serial.close()
            except Exception:
                pass
        self.serial = None
        self._pending = b""

    def call(self, operation, *args, attempts=4):
        """Run operation(*args); after a device reset, reconnect and run it again.
        An exception raised on the device becomes a one-line ToolError."""
        for attempt in range(attempts):
            try:
                return operation(*args)
            except DeviceError as exc:
                raise ToolError(explain_device_error(exc))
            except DeviceReset:
                if attempt == attempts - 1:
                    raise ToolError("the device on %s keeps resetting; check its power supply" % self.port)
                self.reconnect()

    # -- bytes on the wire ----------------------------------------------------

    def _write(self, data):
        import serial
        try:
            self.serial.write(data)
        except (serial.SerialException, OSError) as exc:
            raise DeviceReset("write failed: %s" % exc)

    def _read_some(self):
        """Bytes already buffered, else whatever the port has (b"" after its timeout)."""
        import serial
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        try:
            n = self.serial.in_waiting
            return self.serial.read(max(1, n))
        except (serial.SerialException, OSError, TypeError) as exc:
            # TypeError: pyserial on a pty whose other end has gone
            raise DeviceReset("read failed: %s" % exc)

    def _waiting(self):
        import serial
        if self._pending:
            return len(self._pending)
        try:
            return self.serial.in_waiting
        except (serial.SerialException, OSError, TypeError) as exc:
            raise DeviceReset("port failed: %s" % exc)

    def _read_until(self, marker, timeout=None, watch_reboot=True):
        deadline = time.monotonic() + (timeout or self.timeout_s)
        data = b""
        while True:
            end = data.find(marker)
            if end >= 0:
                self._pending = data[end + len(marker):] + self._pending
                return data[:end]
            chunk = self._read_some()
            if chunk:
                data += chunk
                if watch_reboot and any(m in data for m in REBOOT_MARKERS):
                    raise DeviceReset("the device rebooted")
            if time.monotonic() > deadline:  # also when it keeps talking nonsense
                raise DeviceReset("no answer within %.0f s" % (timeout or self.timeout_s))

    def _read_exact(self, n, timeout=2.0):
        deadline = time.monotonic() + timeout
        data = b""
        while len(data) < n:
            chunk = self._read_some()
            if chunk:
                data += chunk
            elif time.monotonic() > deadline:
                raise DeviceReset("no answer")
            if len(data) < n and time.monotonic() > deadline:
                raise DeviceReset("no answer")
        self._pending = data[n:] + self._pending
        return data[:n]

    def _drain(self, quiet_s=0.15, max_s=1.5):
        """Discard input until the line has been quiet for quiet_s (at most max_s:
        a program that keeps printing is handled by the raw-REPL prompt wait)."""
        start = last = time.monotonic()
        while time.monotonic() - last < quiet_s and time.monotonic() - start < max_s:
            if self._read_some():
                last = time.monotonic()

    def _enter_raw(self):
        self._write(b"\r\x03")
        time.sleep(0.05)
        self._write(b"\x03")
        self._drain()
        self._write(b"\r\x01")
        self._read_until(RAW_PROMPT, timeout=2.0, watch_reboot=False)

    def _probe_raw_paste(self):
        self._write(b"\x05A\x01")
        answer = self._read_exact(2)
        if answer == b"R\x01":
            self.window = int.from_bytes(self._read_exact(2), "little")
            self._write(b"\x04")  # empty program: leaves raw-paste mode
            self._read_until(b"\x04", timeout=2.0)  # flow-control bytes, then the end ack
            self._finish_exec()
            return True
        # Older firmware: it took the bytes as plain raw-REPL input; cancel it.
        self._drain()
        self._write(b"\x03\r\x01")
        self._read_until(RAW_PROMPT, timeout=2.0, watch_reboot=False)
        return False

    # -- running code ---------------------------------------------------------

    def exec_(self, code, timeout=None):
        """Run code (bytes) on the device; its stdout (bytes). DeviceError if it raised."""
        if isinstance(code, str):
            code = code.encode()
        if self.raw_paste:
            self._write(b"\x05A\x01")
            if self._read_exact(2) != b"R\x01":
                raise DeviceReset("the device left the raw REPL")
            window = int.from_bytes(self._read_exact(2), "little")
            remain = 0
            sent = 0
            stopped = False
            while sent < len(code) and not stopped:
                while remain == 0 or self._waiting():
                    flag = self._read_exact(1, timeout=timeout or self.timeout_s)
                    if flag == b"\x01":  # one more window consumed
                        remain += window
                    elif flag == b"\x04":  # the device stopped reading early
                        stopped = True
                        break
                    else:
                        raise DeviceReset("unexpected flow-control byte %r" % flag)
                if not stopped:
                    piece = code[sent:sent + remain]
                    self._write(piece)
                    remain -= len(piece)
                    sent += len(piece)
            self._write(b"\x04")
            self._read_until(b"\x04", timeout)
        else:
            for i in range(0, len(code), 256):
                self._write(code[i:i + 256])
                time.sleep(0.01)  # no flow control in plain raw mode
            self._write(b"\x04")
            if self._read_exact(2, timeout=timeout or self.timeout_s) != b"OK":
                raise DeviceReset("the device left the raw REPL")
        return self._finish_exec(timeout=timeout)

    def _finish_exec(self, timeout=None):
        out = self._read_until(b"\x04", timeout)
        err = self._read_until(b"\x04", timeout)
        self._read_until(b">", timeout)
        if err:
            raise DeviceError(err.decode("utf-8", "replace"))
        return out

    def eval_lines(self, code, timeout=None):
        return self.exec_(code, timeout).decode("utf-8", "replace").splitlines()

    # -- files ----------------------------------------------------------------

    def hashes(self, paths):
        """{path: sha256 hex or None} for each device path."""
        result = {}
        paths = list(paths)
        for i in range(0, len(paths), 16):
            group = paths[i:i + 16]
            code = "for _p in %r:\n    print(_dsh(_p))\n" % (group,)
            lines = self.eval_lines(code, timeout=max(self.timeout_s, 2.0 * len(group)))
            if len(lines) != len(group):
                raise DeviceReset("short answer to a hash request")
            for path, line in zip(group, lines):
                line = line.strip()
                result[path] = None if line == "-" else line
        return result

    def makedirs(self, folder):
        if folder:
            self.exec_("_dmk(%r)" % folder)

    def put(self, path, data, progress=None):
        """Write data to the device file path atomically (tmp, hash check, rename)."""
        import hashlib
        digest = hashlib.sha256(data).hexdigest()
        tmp = path + ".tmp"
        self.makedirs(os.path.dirname(path))
        self.exec_("_f=open(%r,'wb')" % tmp)
        for i in range(0, len(data), self.chunk):
            piece = binascii.b2a_base64(data[i:i + self.chunk]).strip()
            self.exec_(b"_f.write(binascii.a2b_base64(b'" + piece + b"'))")
            if progress:
                progress(min(len(data), i + self.chunk))
        try:
            self.exec_("_dput(%r,%r,%r)" % (tmp, path, digest))
        except DeviceError as exc:
            raise ToolError("writing %s on the device failed: %s" % (path, exc.last_line()))

    def get(self, path):
        """The device file's bytes, or None when it does not exist."""
        code = ("_f=open(%r,'rb')\nwhile True:\n    _b=_f.read(384)\n    if not _b:\n        break\n"
                "    print(binascii.b2a_base64(_b).decode().strip())\n_f.close()\n" % path)
        try:
            lines = self.eval_lines(code)
        except DeviceError as exc:
            if exc.is_missing_file():
                return None
            raise ToolError("reading %s on the device failed: %s" % (path, exc.last_line()))
        return b"".join(binascii.a2b_base64(l) for l in lines if l.strip())

    def soft_reset(self):
        """Leave the raw REPL and soft-reset, so the board restarts its main.py."""
        try:
            self._write(b"\x02")
            time.sleep(0.1)
            self._write(b"\x04")
            time.sleep(0.2)
        except DeviceReset:
            pass
        self._drop()
