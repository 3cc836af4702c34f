# ESP32 entry point (MicroPython runs main.py after boot): Wi-Fi with retries, then
# the very same application code path as `doorsip run` (doorsip.runtime.main).
# The configuration is /config.json (written by `doorsip provision`); the board file
# is /boards/<name>.json (written by `doorsip deploy`).
import sys
import time

CONFIG = "/config.json"
_WIFI_TIMEOUT_MS = 15000
_RETRY_MAX_S = 60


def _log(message):
    sys.stderr.write("[boot] %s\n" % message)


def connect_wifi(ssid, password):
    """Connect as a station, retrying with back-off until it works: a door station
    that gives up on Wi-Fi is a dead door station."""
    import network
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    delay = 2
    while True:
        if wlan.isconnected():
            _log("wifi up: %s" % wlan.ifconfig()[0])
            return wlan
        _log("wifi: connecting to %s" % ssid)
        try:
            wlan.connect(ssid, password)
        except OSError as exc:
            _log("wifi: %s" % exc)
        start = time.ticks_ms()
        while not wlan.isconnected() and time.ticks_diff(time.ticks_ms(), start) < _WIFI_TIMEOUT_MS:
            time.sleep_ms(200)
        if wlan.isconnected():
            continue
        _log("wifi: no connection, retry in %d s" % delay)
        try:
            wlan.disconnect()
        except OSError:
            pass
        time.sleep(delay)
        delay = min(delay * 2, _RETRY_MAX_S)


def main():
    from doorsip import config
    try:
        cfg = config.load(CONFIG)
    except Exception as exc:
        _log("config: %s (provision it with: doorsip provision --port PORT CONFIG)" % exc)
        return 2
    wifi = cfg.get("wifi") or {}
    ssid = wifi.get("ssid")
    del cfg
    config.release()
    if ssid:
        connect_wifi(ssid, wifi.get("password") or "")
    else:
        _log("no wifi.ssid configured: starting without Wi-Fi")
    import gc
    gc.collect()
    from doorsip import runtime
    return runtime.main(["--config", CONFIG])


if __name__ == "__main__":
    main()
