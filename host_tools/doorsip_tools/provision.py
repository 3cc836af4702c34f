"""`doorsip provision`: validate a station configuration and write it to a device.

  doorsip provision --port PORT CONFIG          validate, then write config.json on
                                                the device atomically
  doorsip provision --port PORT --show          print the device's config, secrets masked
  doorsip provision --port PORT --fleet devices.csv --row NAME TEMPLATE
                                                fill one CSV row into TEMPLATE first
  doorsip provision --local PATH CONFIG         write on this machine (a Pi), atomically
  doorsip provision --local PATH --show         print a local config, secrets masked

Validation is the firmware's own (doorsip.config.validate), run before the port is
even opened: a rejected config leaves the device untouched, and the error names
the bad field. On the device the file is written as config.json.tmp, its sha256
checked there, then renamed over config.json (atomic on littlefs and POSIX): a
device that loses power mid-write keeps its old config. Passwords and door codes
never appear in output.

Fleet CSV: a header row; the row is picked by its "device" column (else the
first column). Other columns are dotted config paths ("sip.user",
"buttons.bell.call") or these short names: user (sip.user and, unless an
auth_user column exists, sip.auth_user), auth_user, password (sip.password),
name (name), display_name (sip.display_name), domain, registrar, proxy,
local_port (sip.*), ssid (wifi.ssid), wifi_password (wifi.password). An empty
cell keeps the template's value; cells are converted to the template value's
type (numbers, true/false, null, JSON lists).
"""
import csv
import json
import os

from .cli import ToolError
from .common import Console

DEVICE_CONFIG = "config.json"
MASK = "****"
SECRET_WORDS = ("password", "secret", "token", "code")

ALIASES = {
    "user": "sip.user", "auth_user": "sip.auth_user", "password": "sip.password",
    "name": "name", "display_name": "sip.display_name", "domain": "sip.domain",
    "registrar": "sip.registrar", "proxy": "sip.proxy", "local_port": "sip.local_port",
    "ssid": "wifi.ssid", "wifi_password": "wifi.password", "role": "role", "board": "board",
}


def add_arguments(parser):
    parser.add_argument("config", nargs="?", metavar="CONFIG", help="configuration JSON file (or the fleet template)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serial port of the device")
    where.add_argument("--local", metavar="PATH", help="write (or --show) a config file on this machine")
    parser.add_argument("--show", action="store_true", help="print the current config with secrets masked")
    parser.add_argument("--fleet", metavar="CSV", help="per-device values to fill into the CONFIG template")
    parser.add_argument("--row", metavar="NAME", help="the device's row in --fleet")
    parser.add_argument("--baud", type=int, default=115200, help="serial speed (default 115200)")
    parser.add_argument("--root", default="/", help="device folder holding config.json (default /)")


def run(args):
    console = Console()
    if args.show:
        if args.config or args.fleet:
            raise ToolError("--show takes no CONFIG or --fleet")
        text = read_local(args.local) if args.local else read_device(args.port, args.baud, args.root)
        print(json.dumps(show_masked(text), indent=2, sort_keys=True))
        return 0
    if not args.config:
        raise ToolError("give the CONFIG file to write (or --show)")
    if bool(args.fleet) != bool(args.row):
        raise ToolError("--fleet and --row go together: --fleet devices.csv --row NAME")
    cfg = read_json(args.config)
    if args.fleet:
        cfg = fill_from_fleet(cfg, args.fleet, args.row)
    check(cfg, args.config)
    label = cfg.get("name") or args.row or os.path.basename(args.config)
    if args.local:
        write_local(args.local, cfg)
        console.info("wrote config %r to %s" % (label, args.local))
    else:
        data = (json.dumps(cfg, indent=2, sort_keys=True) + "\n").encode()
        write_device(args.port, data, args.baud, args.root, console)
        console.info("provisioned config %r on %s (%s, %d bytes)" % (label, args.port, DEVICE_CONFIG, len(data)))
    return 0


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ToolError("cannot read %s: %s" % (path, exc.strerror or exc))
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ToolError("%s is not valid JSON: line %d column %d: %s" % (path, exc.lineno, exc.colno, exc.msg))
    if not isinstance(value, dict):
        raise ToolError("%s must hold a JSON object" % path)
    return value


def check(cfg, source):
    """The firmware's own validation, plus the board cross-check when the board is known."""
    from doorsip.config import ConfigError, validate
    try:
        validated = validate(cfg)
    except ConfigError as exc:
        raise ToolError("%s: rejected, nothing written: %s" % (source, exc))
    try:
        from doorsip.board import BoardError, check_board_against_config, load_board
        from .common import boards_dir
    except ImportError:
        return validated
    try:
        board = load_board(validated.get("board", "sim"), boards_dir())
    except (BoardError, OSError):
        return validated  # unknown board here; the device checks it against its own board.json
    try:
        check_board_against_config(board, validated)
    except BoardError as exc:
        raise ToolError("%s: rejected, nothing written: %s" % (source, exc))
    except ImportError:
        pass
    return validated


# -- fleet ------------------------------------------------------------------------

def fill_from_fleet(template, csv_path, row_name):
    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise ToolError("cannot read %s: %s" % (csv_path, exc.strerror or exc))
    except csv.Error as exc:
        raise ToolError("%s is not a valid CSV file: %s" % (csv_path, exc))
    if not rows:
        raise ToolError("%s has no device rows (the first line is the header)" % csv_path)
    columns = list(rows[0].keys())
    key = "device" if "device" in columns else columns[0]
    matches = [r for r in rows if (r.get(key) or "").strip() == row_name]
    if not matches:
        known = ", ".join(sorted((r.get(key) or "").strip() for r in rows)[:20])
        raise ToolError("no row %r in column %r of %s (rows: %s)" % (row_name, key, csv_path, known))
    if len(matches) > 1:
        raise ToolError("row %r appears %d times in %s" % (row_name, len(matches), csv_path))
    row = matches[0]
    cfg = json.loads(json.dumps(template))  # deep copy
    # Cells take the type of the template's value, or else of the default the
    # validator fills in (sip.local_port: int even when the template omits it).
    try:
        from doorsip.config import validate
        typed = validate(template)
    except Exception:
        typed = template
    for column, cell in row.items():
        if column is None:
            raise ToolError("%s: row %r has more cells than the header has columns" % (csv_path, row_name))
        column = column.strip()
        if column == key and key == "device":
            continue
        cell = (cell or "").strip()
        if not cell:
            continue
        path = ALIASES.get(column, column)
        if "." not in path and path not in ALIASES.values():
            if column == key:
                continue  # the first column only names the row
            raise ToolError("%s: unknown column %r (use a dotted config path such as sip.user, or one of %s)"
                            % (csv_path, column, ", ".join(sorted(ALIASES))))
        set_path(cfg, path, cell, csv_path, column, typed)
        if column == "user" and "auth_user" not in row:
            set_path(cfg, "sip.auth_user", cell, csv_path, column, typed)
    return cfg


def set_path(cfg, path, cell, csv_path, column, typed=None):
    parts = path.split(".")
    node = cfg
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ToolError("%s: column %r: %s is not a section in the template" % (csv_path, column, part))
        node = child
    current = node.get(parts[-1])
    if current is None:
        current = lookup(typed or {}, parts)
    node[parts[-1]] = convert(cell, current, csv_path, column)


def lookup(tree, parts):
    for part in parts:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(part)
    return tree


def convert(cell, current, csv_path, column):
    """The CSV text as the type the template holds at that place."""
    if cell == "null":
        return None
    if isinstance(current, bool) or cell in ("true", "false"):
        if cell not in ("true", "false"):
            raise ToolError("%s: column %r must be true or false" % (csv_path, column))
        return cell == "true"
    if isinstance(current, int):
        try:
            return int(cell)
        except ValueError:
            raise ToolError("%s: column %r must be a whole number" % (csv_path, column))
    if isinstance(current, (list, dict)) or cell[:1] in "[{":
        try:
            return json.loads(cell)
        except ValueError:
            if isinstance(current, list) and "[" not in cell:
                return [cell]
            raise ToolError("%s: column %r must be JSON (a list such as [\"sip:a@b\"])" % (csv_path, column))
    return cell


# -- masking ----------------------------------------------------------------------

def mask_everywhere(value, key=""):
    """Replace every secret-looking value (by key name) with MASK, recursively."""
    if isinstance(value, dict):
        return {k: mask_everywhere(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_everywhere(v, key) for v in value]
    if value not in (None, "") and any(w in key.lower() for w in SECRET_WORDS):
        return MASK
    return value


def show_masked(text):
    try:
        cfg = json.loads(text)
    except ValueError:
        raise ToolError("the stored config is not valid JSON; provision a new one")
    if not isinstance(cfg, dict):
        raise ToolError("the stored config is not a JSON object; provision a new one")
    try:
        from doorsip.config import masked
        cfg = masked(cfg)
    except Exception:
        pass  # an invalid stored config: the generic masking below still applies
    return mask_everywhere(cfg)


# -- where the file goes ------------------------------------------------------------

def write_local(path, cfg):
    from doorsip.config import ConfigError, save
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ToolError("folder %s does not exist (sudo mkdir -p %s)" % (folder, folder))
    try:
        save(path, cfg)
    except ConfigError as exc:
        raise ToolError("rejected, nothing written: %s" % exc)
    except PermissionError:
        raise ToolError("permission denied writing %s: run with sudo" % path)
    except OSError as exc:
        raise ToolError("cannot write %s: %s" % (path, exc.strerror or exc))


def read_local(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise ToolError("cannot read %s: %s" % (path, exc.strerror or exc))


def write_device(port, data, baud, root, console):
    from .rawrepl import RawRepl
    repl = RawRepl(port, baudrate=baud, root=root, console=console)
    repl.connect()
    try:
        repl.call(repl.put, DEVICE_CONFIG, data)
        if repl.call(repl.hashes, [DEVICE_CONFIG])[DEVICE_CONFIG] != __import__("hashlib").sha256(data).hexdigest():
            raise ToolError("the config on the device does not match after writing; provision again")
    finally:
        repl.close()


def read_device(port, baud, root):
    from .rawrepl import RawRepl
    repl = RawRepl(port, baudrate=baud, root=root)
    repl.connect()
    try:
        data = repl.call(repl.get, DEVICE_CONFIG)
    finally:
        repl.close()
    if data is None:
        raise ToolError("no %s on the device at %s: provision one with `doorsip provision --port %s CONFIG`"
                        % (DEVICE_CONFIG, port, port))
    return data.decode("utf-8", "replace")
