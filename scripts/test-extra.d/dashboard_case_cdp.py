#!/usr/bin/env python3
"""The legal reviewer's path through the dashboard in headless Chromium, driven over the
DevTools protocol on a pipe (--remote-debugging-pipe: file descriptors 3 and 4, messages
separated by NUL bytes), so nothing beyond the Python standard library is needed.

Usage: dashboard_case_cdp.py CHROMIUM LOGIN_URL SCREENSHOT.png PROFILE_DIR

Logs in with a reviewer's one-time link, opens the review queue, follows the first row to its
case page, checks that every evidence thumbnail loaded (naturalWidth > 0) and that the
recording's source loads (readyState >= 1, or failing that a fetch of its src with the session
cookie answers 200 audio/*), ticks the six points of the checklist, approves, and checks that
the page then shows the decision approved. Exits non-zero with a reason on any failure; every
wait is bounded.
"""

import base64
import json
import os
import select
import sys
import time
import urllib.request


class Fail(Exception):
    pass


class Browser:
    """One Chromium process and its DevTools pipe."""

    def __init__(self, chromium, profile):
        cmd_r, cmd_w = os.pipe()
        resp_r, resp_w = os.pipe()
        # The child's ends go to descriptors 3 and 4; move them out of the way first so the
        # two dup2 actions cannot overwrite each other.
        import fcntl

        child_in = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(resp_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_r)
        os.close(resp_w)
        args = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--no-first-run",
            "--no-default-browser-check",
            "--mute-audio",
            "--remote-debugging-pipe",
            "--user-data-dir=" + profile,
            "--window-size=1280,2000",
            "about:blank",
        ]
        actions = [
            (os.POSIX_SPAWN_DUP2, child_in, 3),
            (os.POSIX_SPAWN_DUP2, child_out, 4),
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
        ]
        self.pid = os.posix_spawn(chromium, args, dict(os.environ), file_actions=actions)
        os.close(child_in)
        os.close(child_out)
        self.w = cmd_w
        self.r = resp_r
        self.buf = b""
        self.next_id = 0
        self.session = None

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        deadline = time.time() + 5
        while time.time() < deadline:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return
            time.sleep(0.1)
        try:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
        except OSError:
            pass

    def _message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise Fail("no answer from Chromium in time")
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                chunk = os.read(self.r, 1 << 20)
                if not chunk:
                    raise Fail("Chromium closed its DevTools pipe")
                self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method, params=None, timeout=30, session=True):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            m = self._message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise Fail(f"{method}: {m['error']}")
                return m.get("result", {})

    def open_tab(self):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send(
            "Target.attachToTarget",
            {"targetId": target["targetId"], "flatten": True},
            session=False,
        )
        self.session = attached["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 2000, "deviceScaleFactor": 1, "mobile": False},
        )

    def js(self, expression, await_promise=False):
        r = self.send(
            "Runtime.evaluate",
            {
                "expression": expression,
                "returnByValue": True,
                "awaitPromise": await_promise,
            },
        )
        if "exceptionDetails" in r:
            raise Fail(f"script failed: {expression[:80]}: {r['exceptionDetails'].get('text')}")
        return r.get("result", {}).get("value")

    def wait(self, expression, what, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.js(expression):
                    return
            except Fail:
                pass
            time.sleep(0.1)
        raise Fail(f"timed out waiting for {what}")

    def screenshot(self, path):
        shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))


def loaded(path_prefix):
    return (
        f"document.readyState === 'complete' && location.pathname.startsWith({json.dumps(path_prefix)})"
    )


def run(b, login_url, screenshot):
    b.open_tab()
    b.send("Page.navigate", {"url": login_url})
    b.wait(loaded("/dashboard") + " && !!document.querySelector('#reviews')", "the dashboard")
    rows = b.js("document.querySelectorAll('#reviews tbody tr').length")
    if not rows:
        raise Fail("the review queue is empty")
    href = b.js("(document.querySelector('#reviews tbody tr a.case') || {}).getAttribute ? "
                "document.querySelector('#reviews tbody tr a.case').getAttribute('href') : null")
    if not href or not href.startswith("/dashboard/case/"):
        raise Fail(f"the first queue row does not link to a case page: {href!r}")
    b.js("document.querySelector('#reviews tbody tr a.case').click()")
    b.wait(loaded(href) + " && !!document.querySelector('#timeline')", "the case page")
    print(f"case page {href}")

    # Every thumbnail loaded, with pixels.
    b.wait(
        "(() => { const i = [...document.querySelectorAll('img.evidence-thumb')];"
        " return i.length > 0 && i.every(x => x.complete && x.naturalWidth > 0); })()",
        "the evidence thumbnails",
    )
    widths = b.js("[...document.querySelectorAll('img.evidence-thumb')].map(x => x.naturalWidth)")
    print(f"thumbnails loaded, natural widths {widths}")

    # The recording's source loads: the player has its metadata, or the file is fetched with
    # the session cookie.
    if not b.js("document.querySelectorAll('audio.evidence-audio').length"):
        raise Fail("no recording on the case page")
    ready = None
    deadline = time.time() + 15
    while time.time() < deadline:
        ready = b.js("document.querySelector('audio.evidence-audio').readyState")
        if ready is not None and ready >= 1:
            break
        time.sleep(0.2)
    print(f"recording: readyState {ready}")
    if ready is None or ready < 1:
        # The page's CSP allows no fetch from its scripts (connect-src 'none'): fetch the src
        # here with the browser's session cookie, as the player would.
        src = b.js("document.querySelector('audio.evidence-audio').src")
        cookies = b.send("Network.getCookies", {"urls": [src]})["cookies"]
        req = urllib.request.Request(
            src,
            headers={
                "Cookie": "; ".join(f"{c['name']}={c['value']}" for c in cookies),
                "Referer": b.js("location.href"),
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                fetched = (r.status, r.headers.get("content-type"), len(r.read()))
        except OSError as e:
            fetched = ("error", str(e), 0)
        print(f"recording fetched: {fetched}")
        if not (fetched[0] == 200 and str(fetched[1]).startswith("audio/") and fetched[2] > 44):
            raise Fail(f"the recording does not load: readyState {ready}, fetch {fetched}")

    summary = b.js("document.querySelector('#verify-summary').textContent")
    if summary != "全部通过":
        raise Fail(f"the server's checks did not all pass: {summary}")
    outcome = b.js("document.querySelector('#review-outcome').textContent")
    if outcome != "待审核":
        raise Fail(f"the decision is not awaiting review: {outcome}")

    # Tick the six points, give an opinion, approve.
    boxes = b.js("document.querySelectorAll('form.review input[type=checkbox]').length")
    if boxes != 6:
        raise Fail(f"the checklist has {boxes} points, not 6")
    b.js(
        "document.querySelectorAll('form.review input[type=checkbox]')"
        ".forEach(x => { if (!x.checked) x.click(); })"
    )
    ticked = b.js("[...document.querySelectorAll('form.review input[type=checkbox]')].every(x => x.checked)")
    if not ticked:
        raise Fail("the checklist could not be ticked")
    b.js("document.querySelector('form.review input[name=opinion]').value = '事实清楚，证据确凿，程序合法，裁量适当。'")
    b.js("document.querySelector('form.review button[value=approved]').click()")
    b.wait(
        loaded(href) + " && document.querySelector('#review-outcome') &&"
        " document.querySelector('#review-outcome').textContent === '批准'",
        "the decision shown approved",
    )
    status = b.js("document.querySelector('#facts').textContent")
    if "待负责人批准" not in status:
        raise Fail("after approval the case does not await the head's approval")
    if b.js("!!document.querySelector('form.review')"):
        raise Fail("the review form is still offered after the review")
    print("approved from the case page; the case awaits the head's approval")
    b.screenshot(screenshot)


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        return 2
    chromium, login_url, screenshot, profile = sys.argv[1:]
    b = Browser(chromium, profile)
    try:
        run(b, login_url, screenshot)
    except Fail as e:
        print(f"FAIL: {e}")
        return 1
    finally:
        b.close()
    print("case page OK in headless Chromium")
    return 0


if __name__ == "__main__":
    sys.exit(main())
