# A MicroPython "device" for host-tool tests: the real MicroPython unix port's REPL
# on one end of a pty pair made by socat, so `doorsip deploy/provision/monitor`
# talk the real raw-REPL protocol through pyserial. The interpreter runs inside
# bubblewrap with the whole file system read-only except a temporary device root
# (and a control folder for its pid file), and in a restart loop: a soft reset
# (Ctrl-D) makes the unix port exit, the loop boots it again, as a board reboots.
# Without a working bwrap it falls back to the device root as the working
# directory (nothing read-only then); FakeDevice.sandboxed says which.
import os
import signal
import subprocess
import time

from tooling import require

_BWRAP_OK = None


def bwrap_works():
    global _BWRAP_OK
    if os.environ.get("DOORSIP_TEST_NO_BWRAP"):  # exercise the fallback by hand
        return False
    if _BWRAP_OK is None:
        try:
            _BWRAP_OK = subprocess.run(
                ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true"],
                capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _BWRAP_OK = False
    return _BWRAP_OK


# One boot per iteration: like a board, run main.py when the root has one (-i: then
# the REPL, which is where Ctrl-C lands a board), else straight to the REPL.
LOOP = r'''
while [ ! -e "$CTL/stop" ]; do
  sh -c 'echo $$ > "$CTL/pid"; if [ -e main.py ]; then exec "$MPY" -X heapsize=2M -i main.py; else exec "$MPY" -X heapsize=2M; fi'
  echo boot >> "$CTL/boots"
done
'''


class FakeDevice:
    def __init__(self, tmp_path, name="dev"):
        self.micropython = require("micropython")
        self.socat = require("socat")
        base = os.path.join(str(tmp_path), name)
        self.root = os.path.join(base, "root")
        self.ctl = os.path.join(base, "ctl")
        self.port = os.path.join(base, "ttyDEVICE")
        os.makedirs(self.root)
        os.makedirs(self.ctl)
        self.sandboxed = bwrap_works()
        self.proc = None

    def start(self):
        script = os.path.join(self.ctl, "device.sh")
        with open(script, "w") as f:
            # The pty is cooked (ISIG on) so Ctrl-C interrupts a running program, as
            # a board's UART does; everything but MicroPython (which installs its
            # own SIGINT handler) ignores it, so the restart loop survives.
            f.write("#!/bin/sh\ntrap '' INT\n")
            if self.sandboxed:
                f.write('exec bwrap --ro-bind / / --bind "$ROOT" "$ROOT" --bind "$CTL" "$CTL" '
                        '--dev /dev --proc /proc --chdir "$ROOT" /bin/sh -c \'%s\'\n' % LOOP.replace("'", "'\\''"))
            else:
                f.write('cd "$ROOT"\n' + LOOP)
        os.chmod(script, 0o755)
        env = dict(os.environ, ROOT=self.root, CTL=self.ctl, MPY=self.micropython)
        self.proc = subprocess.Popen(
            [self.socat, "PTY,link=%s,raw,echo=0" % self.port,
             "EXEC:%s,pty,setsid,ctty,raw,echo=0,isig=1" % script],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while not (os.path.exists(self.port) and os.path.exists(os.path.join(self.ctl, "pid"))):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the fake device did not start")
            time.sleep(0.02)
        return self

    def boots(self):
        """How many times the interpreter has exited (reset) so far."""
        try:
            with open(os.path.join(self.ctl, "boots")) as f:
                return len(f.read().split())
        except OSError:
            return 0

    def interpreter_pid(self):
        with open(os.path.join(self.ctl, "pid")) as f:
            return int(f.read().strip())

    def kill_interpreter(self):
        """Cut the power: SIGKILL the running interpreter (the loop boots a new one)."""
        try:
            os.kill(self.interpreter_pid(), signal.SIGKILL)
        except (OSError, ValueError):
            pass

    def unplug(self):
        """The port vanishes (native USB on reset): stop socat and everything under it."""
        if self.proc is not None and self.proc.poll() is None:
            open(os.path.join(self.ctl, "stop"), "w").close()
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.kill_interpreter()
        try:
            os.remove(self.port)  # the device node of a vanished USB port goes away
        except OSError:
            pass

    def replug(self):
        try:
            os.remove(os.path.join(self.ctl, "stop"))
        except OSError:
            pass
        try:
            os.remove(os.path.join(self.ctl, "pid"))
        except OSError:
            pass
        return self.start()

    def path(self, rel):
        return os.path.join(self.root, rel)

    def stop(self):
        self.unplug()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
