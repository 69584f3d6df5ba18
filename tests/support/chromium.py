"""A real headless Chromium (Debian's ``chromium``) driven over the Chrome DevTools Protocol.

One websocket to the browser (``--remote-debugging-port=0``; the port is read from
``DevToolsActivePort``), one page attached in flat mode; every event is kept, so a test can
look for console errors and for requests that left the machine. ``make install`` installs
the package when it is missing (as root); :func:`chromium_binary` fails where it should be
there (root or CI) and skips with the reason elsewhere.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
from typing import Any

import pytest

from tests.support import REPO

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
)  # fmt: skip
ARTIFACTS = pathlib.Path(os.environ.get("NEWSBEAM_TEST_ARTIFACTS", REPO / "test-artifacts"))


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    if os.geteuid() == 0 or os.environ.get("CI"):
        pytest.fail("headless Chromium is missing: `make install` installs Debian's chromium (apt-get install -y chromium)")
    pytest.skip("headless Chromium is not installed and this user is not root: `sudo apt-get install chromium`")


def artifact(name: str) -> pathlib.Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


class Chromium:
    """``with Chromium() as browser: browser.open(url)``; ``browser.events`` holds what the page did."""

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        self._binary = chromium_binary()
        self._size = (width, height)
        self._ids = itertools.count(1)
        self.events: list[dict] = []

    def __enter__(self) -> "Chromium":
        from websockets.sync.client import connect

        self._profile = tempfile.mkdtemp(prefix="newsbeam-chromium-")
        self._log = open(os.path.join(self._profile, "stderr.log"), "wb")
        self._proc = subprocess.Popen(
            [self._binary, *FLAGS, "--remote-debugging-port=0", f"--user-data-dir={self._profile}",
             f"--window-size={self._size[0]},{self._size[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True,
        )
        port_file = pathlib.Path(self._profile, "DevToolsActivePort")
        deadline = time.time() + 60
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if self._proc.poll() is not None or time.time() > deadline:
                self._stop()
                raise RuntimeError(f"chromium did not start: {self._stderr()}")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self._ws = connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=30)
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self._session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        return self

    def _stderr(self) -> str:
        try:
            return pathlib.Path(self._profile, "stderr.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def _stop(self) -> None:
        try:
            os.killpg(self._proc.pid, 15)
            self._proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self._proc.pid, 9)
            except ProcessLookupError:
                pass
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __exit__(self, *exc) -> None:
        try:
            self._ws.close()
        finally:
            self._stop()

    def call(self, method: str, params: dict | None = None, *, session: bool = True, timeout: float = 60) -> dict:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        message: dict[str, Any] = {"id": next(self._ids), "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        self._ws.send(json.dumps(message))
        deadline = time.time() + timeout
        while True:
            reply = json.loads(self._ws.recv(timeout=max(0.1, deadline - time.time())))
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        """The next event ``method`` (an event already received counts once)."""
        for i, event in enumerate(self.events):
            if event.get("method") == method and not event.get("_seen"):
                event["_seen"] = True
                return event
        deadline = time.time() + timeout
        while True:
            event = json.loads(self._ws.recv(timeout=max(0.1, deadline - time.time())))
            self.events.append(event)
            if event.get("method") == method:
                event["_seen"] = True
                return event

    def open(self, url: str) -> float:
        """Navigate and wait for the load event; return the page's own load time in ms
        (navigation start to the end of the load event)."""
        self.events.clear()
        self.call("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")
        return float(self.evaluate(
            "(() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; })()"
        ))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: pathlib.Path, full_page: bool = True) -> pathlib.Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 8000), "scale": 1})
        data = self.call("Page.captureScreenshot", params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def phone(self, width: int = 390, height: int = 844) -> None:
        """Emulate a phone's screen (CSS pixels) for the next :meth:`open`."""
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True})

    def console_errors(self) -> list[str]:
        errors = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                errors.append(params.get("exceptionDetails", {}).get("text", "exception"))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                errors.append(params["entry"].get("text", ""))
        return errors

    def requests(self) -> list[str]:
        """Every URL the page asked for (the page itself included)."""
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]
