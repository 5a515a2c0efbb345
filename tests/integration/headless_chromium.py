"""Debian's headless Chromium driven over the Chrome DevTools Protocol (its websocket), with
every request of every page, frame and worker logged.

The browser auto-attaches to each new target and holds it until its network log is on, so
the first request of a page, an iframe or a worker is logged too. Requests are logged when
they are about to be sent (`Network.requestWillBeSent`), before any DNS lookup: a request
the machine could never complete is still in the log.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = os.environ.get("ASSAY_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1440,1000",
    # Any name but the loopback's fails to resolve: a request that would leave the machine is
    # still logged (logging happens before the lookup), and never sent.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}


@dataclass(frozen=True)
class LoggedRequest:
    url: str
    kind: str
    """The CDP resource type (Document, Script, XHR, Fetch, WebSocket, ...) or the target type."""
    request_id: str = ""
    post_data: str = ""


class CdpError(RuntimeError):
    pass


class HeadlessChromium:
    """One headless Chromium with a fresh profile, and one page to drive."""

    def __init__(self, profile_dir: Path, *, start_timeout_s: float = 60) -> None:
        from websockets.sync.client import connect

        profile_dir.mkdir(parents=True, exist_ok=True)
        self.requests: list[LoggedRequest] = []
        self.finished: set[str] = set()
        self._next_id = 0
        self._replies: dict[int, dict] = {}
        self._page_session: str | None = None
        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, "--remote-debugging-port=0", f"--user-data-dir={profile_dir}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        # Chromium writes the port it chose and the browser's websocket path to this file.
        active_port = profile_dir / "DevToolsActivePort"
        deadline = time.monotonic() + start_timeout_s
        while not (active_port.exists() and len(active_port.read_text().splitlines()) >= 2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise CdpError(f"{CHROMIUM} did not open its DevTools port: {self._stderr_tail()}")
            time.sleep(0.1)
        port, path = active_port.read_text().splitlines()[:2]
        self._ws = connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=start_timeout_s)
        self._sessions: dict[str, str] = {}
        """target id -> session id, for every target attached."""
        self.call("Target.setAutoAttach", {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True})
        # The page driven is one made now (attached before it loads anything), not the window
        # Chromium opened nor one of its own internal pages.
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        while target not in self._sessions:
            if time.monotonic() > deadline:
                raise CdpError("the new page was never attached")
            self._pump(1.0)
        self._page_session = self._sessions[target]

    # --- the protocol ---------------------------------------------------------------------

    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        return self._next_id

    def call(self, method: str, params: dict | None = None, *, session: str | None = None, timeout_s: float = 60) -> dict:
        """Send a command and wait for its reply, logging the events that arrive meanwhile."""
        message_id = self._send(method, params, session)
        deadline = time.monotonic() + timeout_s
        while message_id not in self._replies:
            if time.monotonic() > deadline:
                raise CdpError(f"no reply to {method} within {timeout_s}s")
            self._pump(deadline - time.monotonic())
        reply = self._replies.pop(message_id)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def _pump(self, timeout_s: float) -> None:
        """Handle the messages that arrive within timeout_s (at least one wait)."""
        try:
            raw = self._ws.recv(timeout=max(timeout_s, 0.01))
        except TimeoutError:
            return
        message = json.loads(raw)
        if "id" in message:
            self._replies[message["id"]] = message
            return
        self._on_event(message["method"], message.get("params", {}), message.get("sessionId"))

    def _on_event(self, method: str, params: dict, session: str | None) -> None:
        if method == "Target.attachedToTarget":
            child, info = params["sessionId"], params["targetInfo"]
            if info.get("url") and not info["url"].startswith("about:"):
                self.requests.append(LoggedRequest(info["url"], f"target:{info['type']}"))
            # Log the new target's network, follow its own frames and workers, then let it run.
            # Not waited for: commands on one session run in order, so logging starts first.
            self._send("Network.enable", {}, child)
            self._send("Target.setAutoAttach", {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True}, child)
            self._send("Runtime.runIfWaitingForDebugger", {}, child)
            self._sessions[info["targetId"]] = child
        elif method == "Network.requestWillBeSent":
            request = params["request"]
            self.requests.append(LoggedRequest(
                request["url"], params.get("type", ""), params["requestId"], request.get("postData", "")
            ))
        elif method == "Network.webSocketCreated":
            self.requests.append(LoggedRequest(params["url"], "WebSocket", params["requestId"]))
        elif method == "Network.loadingFinished":
            self.finished.add(params["requestId"])

    # --- the page -------------------------------------------------------------------------

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", {"url": url}, session=self._page_session)

    def evaluate(self, expression: str):
        result = self.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=self._page_session,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise CdpError(f"{expression}: {details.get('exception', {}).get('description') or details.get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, *, timeout_s: float = 90, what: str = "") -> None:
        """Until the page's `expression` is truthy (events keep being logged while waiting)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self.evaluate(expression):
                    return
            except CdpError:
                pass  # the page is between documents
            if time.monotonic() > deadline:
                text = self.evaluate("document.body ? document.body.innerText.slice(0, 600) : ''")
                raise CdpError(f"timed out waiting for {what or expression}; page shows: {text!r}")
            self._pump(0.25)

    def response_body(self, request_id: str, *, timeout_s: float = 60) -> str:
        deadline = time.monotonic() + timeout_s
        while request_id not in self.finished:
            if time.monotonic() > deadline:
                raise CdpError(f"request {request_id} did not finish within {timeout_s}s")
            self._pump(0.25)
        return self.call("Network.getResponseBody", {"requestId": request_id}, session=self._page_session)["body"]

    def close(self) -> None:
        try:
            if getattr(self, "_ws", None) is not None:
                try:
                    self.call("Browser.close", timeout_s=10)
                except Exception:
                    pass
                self._ws.close()
        finally:
            if self.process.poll() is None:
                self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def _stderr_tail(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        return (self.process.stderr.read() or b"").decode(errors="replace")[-1000:]

    def __enter__(self) -> HeadlessChromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def leaves_loopback(url: str) -> bool:
    """True for a request to anything but this machine's loopback (data:, blob: and
    about: URLs never touch the network)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about", "chrome", "devtools"}:
        return False
    host = parts.hostname or ""
    return not (host in LOOPBACK_HOSTS or host == "::1" or host.startswith("127."))
