# The sim board's console (DESIGN.md section 4): line commands on stdin (press,
# hold, status, quit) driving a runtime.Station. Only a station started with a
# command stream loads this module; hardware boards never do.
from doorsip import netio
from doorsip.compat import MICROPYTHON, const, text_line


# The two error texts, line k picked where used: one string object, not two.
_TEXTS = const("hold <button> <ms>\nunknown command %r (press, hold, status, quit)")


async def serve(station, stream):
    """Run the commands read from stream until it ends or `quit`; then stop the station."""
    # an object with `await readline()` over stdin on either interpreter
    if MICROPYTHON:
        reader = netio.asyncio.StreamReader(stream)
    else:
        from doorsip.compat_fallback import stream_reader
        reader = await stream_reader(stream)
    events = station.events
    while not station.quit.is_set():
        line = await reader.readline()
        if not line:
            break  # the controller went away: shut down
        # One console line (a single function: each one costs heap on MicroPython).
        try:
            line = line.decode().strip()
            words = line.split()
            verb = words[0] if words else None
            if (verb == "press" or verb == "hold") and len(words) >= 2:  # no tuple constant
                ms = 80
                if verb == "hold":
                    try:
                        ms = int(words[2])
                    except (IndexError, ValueError):
                        events.emit("error", {"what": "command", "message": text_line(_TEXTS, 0)})
                        continue
                # Drive the simulated pin through a press: the Button device debounces
                # it and fires when_pressed, exactly as a real contact would.
                try:
                    station.hw.press(words[1], True)
                except Exception as exc:  # a button name the board lacks
                    events.emit("error", {"what": "press", "message": str(exc)})
                    continue
                await netio.sleep_ms(ms)
                station.hw.press(words[1], False)
            elif verb == "status":
                used = free = None
                if MICROPYTHON:  # heap after a collection
                    import gc
                    gc.collect()
                    used, free = gc.mem_alloc(), gc.mem_free()
                policy = station.policy
                if not policy.uses_registrar:
                    registration = "none"
                elif policy.registered:
                    registration = "registered"
                else:
                    registration = ("unreachable" if policy.registrar_unreachable
                                    else "unregistered")
                events.emit("status", {
                    "state": policy.state_name(),
                    "registration": registration,
                    "calls": len(station.ua.calls),
                    "heap_used": used,
                    "heap_free": free,
                })
            elif verb == "quit":
                station.quit.set()
            elif verb is not None:
                events.emit("error", {"what": "command",
                                      "message": text_line(_TEXTS, 1) % line})  # unknown command
        except Exception as exc:
            events.emit("error", {"what": "command", "message": repr(exc)})
    station.quit.set()
