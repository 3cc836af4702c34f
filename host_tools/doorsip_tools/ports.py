"""`doorsip ports`: list serial ports with USB VID:PID and the likely bridge or chip.

The table covers the USB-serial bridges found on ESP32 boards and the chips with
native USB; an unknown VID:PID is shown as such. `--json` prints one object per
port for scripts.
"""
import json

# (vid, pid) -> what is usually behind it
KNOWN_USB = {
    (0x10C4, 0xEA60): "CP210x USB-UART bridge (ESP32 DevKitC and many ESP32 boards)",
    (0x10C4, 0xEA70): "CP2105 dual USB-UART bridge",
    (0x1A86, 0x7523): "CH340 USB-UART bridge (cheap ESP32 boards)",
    (0x1A86, 0x55D4): "CH9102 USB-UART bridge (newer ESP32 boards)",
    (0x1A86, 0x55D3): "CH343 USB-UART bridge",
    (0x0403, 0x6001): "FTDI FT232R USB-UART bridge",
    (0x0403, 0x6010): "FTDI FT2232 (ESP-Prog, ESP-WROVER-KIT)",
    (0x0403, 0x6015): "FTDI FT231X USB-UART bridge",
    (0x303A, 0x1001): "ESP32-S3/C3/C6 native USB (USB-Serial/JTAG)",
    (0x303A, 0x0002): "ESP32-S2/S3 native USB (TinyUSB CDC, e.g. MicroPython)",
    (0x303A, 0x4001): "Espressif native USB (MicroPython CDC)",
    (0x2E8A, 0x0005): "Raspberry Pi Pico (MicroPython)",
    (0x067B, 0x2303): "Prolific PL2303 USB-UART bridge",
}


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="one JSON object per port")
    parser.add_argument("--all", action="store_true", help="also list ports without a USB device (ttyS*)")


def describe(vid, pid):
    if vid is None:
        return "no USB device (on-board UART or virtual port)"
    return KNOWN_USB.get((vid, pid), "unknown USB device")


def list_ports(include_all=False):
    from serial.tools import list_ports as lp
    rows = []
    for port in sorted(lp.comports(), key=lambda p: p.device):
        if port.vid is None and not include_all:
            continue
        rows.append({
            "port": port.device,
            "vid_pid": None if port.vid is None else "%04X:%04X" % (port.vid, port.pid),
            "likely": describe(port.vid, port.pid),
            "description": port.description if port.description != "n/a" else None,
            "serial_number": port.serial_number,
        })
    return rows


def run(args):
    rows = list_ports(args.all)
    if args.json:
        for row in rows:
            print(json.dumps(row, sort_keys=True))
        return 0
    if not rows:
        print("no USB serial ports found (plug the board in; --all also shows on-board UARTs)")
        return 0
    width = max(len(r["port"]) for r in rows)
    for r in rows:
        print("%s  %s  %s%s" % (r["port"].ljust(width), r["vid_pid"] or "---------", r["likely"],
                                "  [%s]" % r["description"] if r["description"] else ""))
    return 0
