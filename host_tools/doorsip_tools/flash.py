"""`doorsip flash --port PORT --board NAME --firmware IMAGE.bin`: write MicroPython.

Runs esptool (its Python API, `esptool.main(argv)`) with the board's chip and
flash offset: `--chip CHIP write_flash --erase-all OFFSET IMAGE`. esptool reads
the chip's identity from its ROM and raises its own FatalError ("This chip is
ESP32 not ESP32-S3") before anything is erased when the board file names another
chip; esptool erases the whole flash, writes the image with its progress output,
and verifies the written data by an MD5 digest computed on the chip. Its errors
are turned into one line saying what to do (no device, wrong chip, permission
denied: the dialout group, no answer: hold BOOT).
"""
import os

from .cli import ToolError
from .common import load_board
from .rawrepl import open_serial

ESP_IMAGE_MAGIC = 0xE9


def add_arguments(parser):
    parser.add_argument("--port", required=True, help="serial port of the board")
    parser.add_argument("--board", required=True, help="board name in boards/ or a board file path")
    parser.add_argument("--firmware", required=True, metavar="IMAGE.bin",
                        help="MicroPython firmware image for the board (micropython.org/download)")
    parser.add_argument("--baud", type=int, default=460800, help="flashing speed (default 460800)")
    parser.add_argument("--no-erase", action="store_true", help="write without erasing the whole flash first")
    parser.add_argument("--no-reset", action="store_true",
                        help="the board is already in download mode (no DTR/RTS auto-reset wiring)")
    parser.add_argument("--connect-attempts", type=int, default=7, help="esptool connection attempts (default 7)")


def flash_plan(board, board_label):
    """(chip, offset) for a board, or a ToolError naming what is missing."""
    if board.get("runtime") != "micropython":
        raise ToolError("board %s runs %s, not MicroPython: nothing to flash (use deploy/install-service)"
                        % (board_label, board.get("runtime")))
    chip = board.get("chip")
    offset = board.get("flash_offset")
    if not chip or offset in (None, ""):
        raise ToolError("board %s lacks chip or flash_offset" % board_label)
    if isinstance(offset, int):
        offset = "0x%x" % offset
    return chip, offset


def check_image(path):
    try:
        with open(path, "rb") as f:
            head = f.read(1)
        size = os.path.getsize(path)
    except OSError as exc:
        raise ToolError("cannot read firmware image %s: %s" % (path, exc.strerror or exc))
    if size < 1024 or head[:1] != bytes([ESP_IMAGE_MAGIC]):
        raise ToolError("%s is not an ESP32 firmware image (.bin from micropython.org/download; "
                        "not a .uf2, .elf or .hex)" % path)
    return size


def esptool_args(chip, port, offset, image, baud=460800, erase=True, reset=True, connect_attempts=7):
    """The esptool argv for one flashing run (no shell, one item per argument)."""
    argv = ["--chip", chip, "--port", port, "--baud", str(baud),
            "--before", "default_reset" if reset else "no_reset",
            "--after", "hard_reset", "--connect-attempts", str(connect_attempts),
            "write_flash"]
    if erase:
        argv.append("--erase-all")
    argv += [offset, image]
    return argv


def chip_label(chip):
    """esptool's spelling of a chip name: esp32s3 -> ESP32-S3."""
    text = chip.upper()
    return text if len(text) <= 5 else text[:5] + "-" + text[5:]


def explain(exc, port, chip, board_label):
    """One actionable line for an esptool failure."""
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else exc.__class__.__name__
    low = text.lower()
    if "this chip is" in low and "wrong --chip" in low:
        actual = text.split("This chip is", 1)[1].split(" not ")[0].strip()
        return ("the device on %s is an %s, but board %s needs an %s: pick the matching --board "
                "(nothing was written)" % (port, actual, board_label, chip_label(chip)))
    if "permission denied" in low:
        return ("permission denied on %s: add yourself to the dialout group "
                "(sudo usermod -aG dialout $USER) and log in again" % port)
    if "could not open port" in low or "no such file" in low:
        return "no such port %s: check the cable, then list ports with `doorsip ports`" % port
    if "failed to connect" in low or "no serial data received" in low or "wrong boot mode" in low:
        return ("no ESP chip answered on %s: hold the BOOT button, tap RESET, release BOOT, "
                "then run flash again (%s)" % (port, first))
    return "esptool failed: %s" % first


def run(args):
    board = load_board(args.board)
    label = board.get("name") or args.board
    chip, offset = flash_plan(board, label)
    size = check_image(args.firmware)
    # Open the port ourselves first: clear messages for a missing port or
    # permissions before esptool's longer ones.
    open_serial(args.port).close()
    import importlib.util
    if importlib.util.find_spec("esptool") is None:
        raise ToolError("esptool is not installed: pip install 'doorsip[flash]' (or pip install esptool)")
    argv = esptool_args(chip, args.port, offset, os.path.abspath(args.firmware), args.baud,
                        erase=not args.no_erase, reset=not args.no_reset,
                        connect_attempts=args.connect_attempts)
    print("flashing %s (%d bytes) to %s at %s as %s" % (args.firmware, size, args.port, offset, chip_label(chip)),
          flush=True)
    run_esptool(argv, args.port, chip, label)
    print("done: MicroPython written and verified; next: doorsip deploy --port %s --board %s"
          % (args.port, args.board))
    return 0


def run_esptool(argv, port, chip, board_label):
    import esptool
    try:
        esptool.main(argv)
    except esptool.FatalError as exc:
        raise ToolError(explain(exc, port, chip, board_label))
    except SystemExit as exc:  # argparse inside esptool
        if exc.code:
            raise ToolError("esptool rejected its arguments %r" % (argv,))
    except OSError as exc:  # the serial port failed mid-way
        raise ToolError(explain(exc, port, chip, board_label))
    except Exception as exc:
        import serial
        if isinstance(exc, serial.SerialException):
            raise ToolError(explain(exc, port, chip, board_label))
        raise
