"""`doorsip install-service`: run the station under systemd on a Raspberry Pi.

Writes /etc/systemd/system/doorsip.service (atomically) that starts
`doorsip run --board BOARD --config /etc/doorsip/config.json` as an unprivileged
user in the gpio and audio groups, after the network is up
(After= and Wants=network-online.target), restarting it whenever it stops
(Restart=always). Then `systemctl daemon-reload` and `systemctl enable --now`.
`--dry-run` prints the unit and the commands instead of doing anything.
Put the config in place first: `sudo doorsip provision --local /etc/doorsip/config.json CONFIG`.
"""
import os
import shutil
import subprocess
import sys
import tempfile

from .cli import ToolError

UNIT_NAME = "doorsip.service"
DEFAULT_CONFIG = "/etc/doorsip/config.json"
GROUPS = ("gpio", "audio")


def add_arguments(parser):
    parser.add_argument("--board", default="rpi", help="board name (default rpi)")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="config file (default %s)" % DEFAULT_CONFIG)
    parser.add_argument("--user", default="doorsip", help="user the station runs as (default doorsip)")
    parser.add_argument("--groups", default=",".join(GROUPS),
                        help="supplementary groups for GPIO and sound (default %s)" % ",".join(GROUPS))
    parser.add_argument("--exec", dest="executable", help="path of the doorsip command (default: this one)")
    parser.add_argument("--unit-dir", default="/etc/systemd/system", help="where the unit goes")
    parser.add_argument("--dry-run", action="store_true", help="print what would be written and run")
    parser.add_argument("--no-start", action="store_true", help="install and enable, but do not start now")


def doorsip_executable():
    found = shutil.which("doorsip")
    if found:
        return os.path.abspath(found)
    candidate = os.path.join(os.path.dirname(sys.executable), "doorsip")
    return candidate


def quote_arg(text):
    """Quote one ExecStart word for systemd (systemd.syntax: double quotes, backslash escapes)."""
    if text and all(c.isalnum() or c in "/._-:=+@%," for c in text):
        return text
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def render_unit(executable, board, config, user, groups=GROUPS):
    exec_start = " ".join(quote_arg(a) for a in (executable, "run", "--board", board, "--config", config))
    return "\n".join([
        "# Written by `doorsip install-service`; re-run it to change this file.",
        "[Unit]",
        "Description=doorsip SIP door station",
        "Documentation=man:systemd.service(5)",
        "Wants=network-online.target",
        "After=network-online.target sound.target",
        "",
        "[Service]",
        "Type=simple",
        "User=%s" % user,
        "SupplementaryGroups=%s" % " ".join(groups),
        "ExecStart=%s" % exec_start,
        "Restart=always",
        "RestartSec=2",
        # Logs go to the journal: `journalctl -u doorsip -f`.
        "StandardOutput=journal",
        "StandardError=journal",
        "NoNewPrivileges=yes",
        "ProtectSystem=full",
        "ProtectHome=read-only",
        "PrivateTmp=yes",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])


def check_user(user, groups=GROUPS):
    """Problems with the service user, as hint lines (empty: fine)."""
    import grp
    import pwd
    hints = []
    try:
        pwd.getpwnam(user)
    except KeyError:
        hints.append("user %s does not exist: sudo useradd --system --no-create-home --groups %s %s"
                     % (user, ",".join(groups), user))
        return hints
    missing = []
    for group in groups:
        try:
            members = grp.getgrnam(group).gr_mem
        except KeyError:
            hints.append("group %s does not exist on this system (not a Raspberry Pi OS?)" % group)
            continue
        if user not in members and grp.getgrnam(group).gr_gid != pwd.getpwnam(user).pw_gid:
            missing.append(group)
    if missing:
        hints.append("user %s is not in %s (the unit adds them as SupplementaryGroups; for manual runs: "
                     "sudo usermod -aG %s %s)" % (user, ", ".join(missing), ",".join(missing), user))
    return hints


def write_atomic(path, text):
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".doorsip-unit-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def run(args):
    executable = os.path.abspath(args.executable or doorsip_executable())
    groups = tuple(g for g in args.groups.split(",") if g)
    unit = render_unit(executable, args.board, args.config, args.user, groups)
    unit_path = os.path.join(args.unit_dir, UNIT_NAME)
    commands = [["systemctl", "daemon-reload"],
                ["systemctl", "enable"] + ([] if args.no_start else ["--now"]) + [UNIT_NAME]]
    if args.dry_run:
        print("# would write %s:" % unit_path)
        print(unit, end="")
        for cmd in commands:
            print("# would run: %s" % " ".join(cmd))
        for hint in check_user(args.user, groups):
            print("# note: %s" % hint)
        if not os.path.exists(args.config):
            print("# note: %s does not exist yet: sudo doorsip provision --local %s CONFIG"
                  % (args.config, args.config))
        return 0
    if not os.path.isfile(executable):
        raise ToolError("%s does not exist: pass --exec with the path of the doorsip command" % executable)
    problems = [h for h in check_user(args.user, groups) if "does not exist" in h]
    if problems:
        raise ToolError(problems[0])
    if not os.path.exists(args.config):
        raise ToolError("%s does not exist: first run sudo doorsip provision --local %s CONFIG"
                        % (args.config, args.config))
    if not os.path.isdir(args.unit_dir):
        raise ToolError("%s does not exist: is this a systemd system?" % args.unit_dir)
    try:
        write_atomic(unit_path, unit)
    except PermissionError:
        raise ToolError("permission denied writing %s: run with sudo" % unit_path)
    print("wrote %s" % unit_path)
    for cmd in commands:
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ToolError("%s failed: %s" % (" ".join(cmd), exc))
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise ToolError("%s failed: %s" % (" ".join(cmd), detail[-1] if detail else "exit %d" % result.returncode))
    print("doorsip.service %s; logs: journalctl -u doorsip -f"
          % ("enabled (start it with systemctl start doorsip)" if args.no_start else "enabled and started"))
    return 0
