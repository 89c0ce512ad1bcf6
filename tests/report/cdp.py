"""Headless chromium driven through the DevTools protocol, with nothing but
Python's standard library: a websocket client of a few lines (RFC 6455:
the client masks its frames, the browser's may come in fragments).

    with Browser(chromium) as b:
        page = b.open("file:///...html", width=1280, height=1400)
        page.wait_for("document.body.getAttribute('data-ready')", timeout=30)
        page.eval("document.documentElement.outerHTML")
        page.screenshot("x.png")
        page.requests, page.console     # every request the page made, and
                                        # every console message, exception
                                        # and log entry (a CSP refusal too)
"""
import base64
import json
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import time


class WebSocket:
    def __init__(self, url, timeout=60):
        m = re.match(r"ws://([^:/]+):(\d+)(/.*)", url)
        self.sock = socket.create_connection((m.group(1), int(m.group(2))), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {m.group(3)} HTTP/1.1\r\nHost: {m.group(1)}:{m.group(2)}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("the browser closed the websocket handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"websocket handshake refused: {head[:200]!r}")
        self.buf = head.split(b"\r\n\r\n", 1)[1]

    def send(self, text):
        data = text.encode()
        n = len(data)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                                bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536 else
                                bytes([0x80 | 127]) + struct.pack(">Q", n))
        mask = os.urandom(4)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("the browser closed the websocket")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            op = b0 & 0x0F
            if op == 8:
                raise ConnectionError("the browser closed the websocket")
            if op in (9, 10):  # ping, pong: not ours to answer in a test
                continue
            message += data
            if b0 & 0x80:
                return message.decode()

    def pending(self, timeout):
        return bool(self.buf) or bool(select.select([self.sock], [], [], timeout)[0])


class Page:
    def __init__(self, browser, session):
        self.b, self.session = browser, session
        self.requests, self.console = [], []

    def call(self, method, **params):
        return self.b.call(method, session=self.session, **params)

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expr, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            v = self.eval(expr)
            if v:
                return v
            self.b.pump(0.1)
        return None

    def screenshot(self, path):
        r = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))


class Browser:
    def __init__(self, chromium):
        self.dir = tempfile.mkdtemp(prefix="hg-chromium-")
        self.p = subprocess.Popen([chromium, "--headless", "--disable-gpu", "--no-sandbox",
                                   "--remote-debugging-port=0", "--user-data-dir=" + self.dir,
                                   "--no-first-run", "--disable-extensions",
                                   "--disable-background-networking", "--disable-sync",
                                   "about:blank"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        url, seen = None, []
        end = time.time() + 60
        while time.time() < end:
            line = self.p.stderr.readline()
            if not line:
                break
            seen.append(line)
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            if m:
                url = m.group(1)
                break
        if not url:
            self.close()
            raise RuntimeError("chromium gave no DevTools address: " + "".join(seen[-5:]))
        self.ws = WebSocket(url)
        self.next_id, self.pages = 0, {}

    def _dispatch(self, msg):
        page = self.pages.get(msg.get("sessionId"))
        if not page:
            return
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Network.requestWillBeSent":
            page.requests.append(p["request"]["url"])
        elif method == "Runtime.consoleAPICalled":
            page.console.append(f"console.{p['type']}: " +
                                " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
        elif method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            page.console.append("exception: " + str(d.get("exception", {}).get("description", d.get("text"))))
        elif method == "Log.entryAdded":
            page.console.append(f"log {p['entry']['level']}: {p['entry']['text']}")

    def call(self, method, session=None, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            r = json.loads(self.ws.recv())
            if r.get("id") == self.next_id:
                if "error" in r:
                    raise RuntimeError(f"{method}: {r['error']}")
                return r["result"]
            self._dispatch(r)

    def pump(self, timeout):
        """Take the events that come within timeout seconds."""
        end = time.time() + timeout
        while self.ws.pending(max(0.0, end - time.time())):
            self._dispatch(json.loads(self.ws.recv()))
            if time.time() >= end:
                break

    def open(self, url, width=1280, height=1400):
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        page = Page(self, session)
        self.pages[session] = page
        for domain in ("Network", "Runtime", "Log", "Page"):
            page.call(domain + ".enable")
        page.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        page.call("Page.navigate", url=url)
        return page

    def close(self):
        try:
            self.p.kill()
            self.p.wait(timeout=30)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
