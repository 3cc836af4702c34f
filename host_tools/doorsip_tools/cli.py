"""The `doorsip` command line.

Subcommands register themselves in SUBCOMMANDS as (name, module) pairs; each module
provides `add_arguments(parser)` and `run(args) -> int`. A failure raises
`ToolError`, printed as one line (a traceback only with --debug).
"""
import argparse
import importlib
import sys

from doorsip import __version__

# (name, module, one-line help). A subcommand is listed only once it really works.
SUBCOMMANDS = [
    ("run", "doorsip_tools.run", "run a station on this machine (a Pi, or a PC with --board sim)"),
    ("demo", "doorsip_tools.demo", "a door and an indoor station talking on 127.0.0.1, no server"),
    ("build", "doorsip_tools.build", "compile firmware/ to .mpy for a board (mpy-cross)"),
    ("flash", "doorsip_tools.flash", "write a MicroPython firmware image to an ESP32 with esptool"),
    ("deploy", "doorsip_tools.deploy", "upload the build to a MicroPython board over the serial REPL"),
    ("provision", "doorsip_tools.provision", "validate a station config and write it to a device (or --show it)"),
    ("monitor", "doorsip_tools.monitor", "follow a device's events and logs on its serial port"),
    ("ports", "doorsip_tools.ports", "list serial ports and the likely USB bridge or chip"),
    ("install-service", "doorsip_tools.service", "install the systemd service on a Raspberry Pi"),
    ("check", "doorsip_tools.check", "pre-flight: validate a config, REGISTER, OPTIONS every call target"),
]


class ToolError(Exception):
    """A failure the user can act on: printed as one line, exit status 1."""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="doorsip",
        description="doorsip: SIP door-station firmware and its host tools.",
    )
    parser.add_argument("--version", action="version", version="doorsip " + __version__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks on failure")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, help_text in SUBCOMMANDS:
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return args._module.run(args) or 0
    except KeyboardInterrupt:
        return 130
    except ToolError as exc:
        if args.debug:
            raise
        print("doorsip %s: error: %s" % (args.command, exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    # Run through the package module, so ToolError raised by the subcommands
    # (imported from doorsip_tools.cli) is the class caught here.
    from doorsip_tools.cli import main as package_main
    sys.exit(package_main())
