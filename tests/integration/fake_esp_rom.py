# Just enough of an Espressif ROM bootloader on a pty for esptool to connect and
# identify the chip (SLIP frames; SYNC and READ_REG of the chip-magic register),
# so the chip check runs through esptool's real code with no chip attached. Every
# command opcode received is recorded: a test can prove nothing was erased or
# written (FLASH_BEGIN, ERASE_FLASH, MEM_BEGIN for the stub never arrive).
import os
import pty
import select
import struct
import threading
import tty

SYNC = 0x08
READ_REG = 0x0A
CHIP_MAGIC_REG = 0x40001000
ESP32_MAGIC = 0x00F01D83
ESP32S3_MAGIC = 0x00000009
WRITE_OPCODES = {0x02: "FLASH_BEGIN", 0x03: "FLASH_DATA", 0x05: "MEM_BEGIN", 0xD0: "ERASE_FLASH",
                 0xD1: "ERASE_REGION"}


def slip(packet):
    return b"\xc0" + packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


class FakeEspRom:
    def __init__(self, magic=ESP32_MAGIC):
        self.magic = magic
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.opcodes = []
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop = True
        self._thread.join(5)
        os.close(self.master)
        os.close(self.slave)

    def _respond(self, op, value, data=b"\x00\x00\x00\x00"):
        os.write(self.master, slip(struct.pack("<BBHI", 1, op, len(data), value) + data))

    def _handle(self, frame):
        if len(frame) < 8:
            return
        direction, op, size, _checksum = struct.unpack("<BBHI", frame[:8])
        if direction != 0:
            return
        self.opcodes.append(op)
        payload = frame[8:8 + size]
        if op == SYNC:
            for _ in range(8):  # the ROM answers a SYNC eight times
                self._respond(SYNC, 0x20120707)
        elif op == READ_REG:
            (address,) = struct.unpack("<I", payload[:4])
            self._respond(READ_REG, self.magic if address == CHIP_MAGIC_REG else 0)
        else:
            self._respond(op, 0)

    def _serve(self):
        buffer = b""
        while not self._stop:
            ready, _w, _x = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                buffer += os.read(self.master, 4096)
            except OSError:
                continue
            while buffer.count(b"\xc0") >= 2:
                start = buffer.index(b"\xc0")
                end = buffer.index(b"\xc0", start + 1)
                raw = buffer[start + 1:end]
                buffer = buffer[end + 1:] if raw else buffer[end:]
                if raw:
                    self._handle(raw.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb"))

    def wrote_anything(self):
        return [WRITE_OPCODES[o] for o in self.opcodes if o in WRITE_OPCODES]
