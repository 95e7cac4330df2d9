"""Load the built site in headless Chromium: every page opens without console errors, search works, screenshots saved.

    python tools/browser_check.py [--site _docs] [--shots .ci/artifacts/screenshots] [--query NAME]   # exit 1 on failure

Serves the site built by tools/check_docs.py from 127.0.0.1, starts Debian's `chromium` (`apt-get install -y
chromium`) headless with a fresh profile, and drives it over the DevTools protocol with a small WebSocket client from
the standard library (no browser download, no pip package). For the home page and each notebook's page it fails on a
console error, an uncaught exception, a failed request or an HTTP error, or a page with no title; it saves a screenshot
of each page. On the home page it clicks the search box, types a query (an API name from a notebook page, by default),
waits for results, presses Enter and checks that it lands on a page of the site. Requests to other hosts never leave
the machine: they are answered with an empty response (a grey placeholder for images) and listed, so the check gives the
same answer with or without a network.
"""
import argparse, base64, functools, http.server, json, os, queue, re, shutil, signal, socket, struct, subprocess, sys
import tempfile, threading, time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--disable-default-apps', '--disable-extensions', '--mute-audio', '--hide-scrollbars',
                  '--remote-debugging-port=0']
# what an image from another host is replaced by: a grey badge-sized box, so a screenshot shows where it goes
EXTERNAL_IMAGE = base64.b64encode(
    b'<svg xmlns="http://www.w3.org/2000/svg" width="117" height="20"><rect width="117" height="20" rx="3" fill="#9aa5b1"/>'
    b'<text x="58.5" y="14" font-family="sans-serif" font-size="10" fill="#fff" text-anchor="middle">external image</text>'
    b'</svg>').decode()
WIDTH, HEIGHT, MAX_SHOT_HEIGHT = 1280, 900, 5000


# ------------------------------------------------------------------ a WebSocket client (RFC 6455), enough for DevTools

class WebSocket:
    "A blocking WebSocket client: text messages out (masked, as clients must), whole messages in."
    def __init__(self, url: str, timeout: float = 30):
        u = urlsplit(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f'GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n'
                           f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n').encode())
        head = b''
        while b'\r\n\r\n' not in head:
            chunk = self.sock.recv(4096)
            if not chunk: raise ConnectionError('the browser closed the connection during the WebSocket handshake')
            head += chunk
        head, self.buf = head.split(b'\r\n\r\n', 1)
        if b' 101 ' not in head.split(b'\r\n')[0]: raise ConnectionError(f'WebSocket handshake refused: {head[:200]!r}')
        self.sock.settimeout(None)
        self.lock = threading.Lock()

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk: raise ConnectionError('the browser closed the DevTools connection')
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _frame(self, opcode: int, payload: bytes):
        n, mask = len(payload), os.urandom(4)
        head = bytes([0x80 | opcode])
        head += bytes([0x80 | n]) if n < 126 else (bytes([0x80 | 126]) + struct.pack('>H', n) if n < 65536
                                                   else bytes([0x80 | 127]) + struct.pack('>Q', n))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 4096 else _mask(payload, mask)
        with self.lock: self.sock.sendall(head + mask + masked)

    def send(self, text: str): self._frame(0x1, text.encode())

    def recv(self) -> str:
        "The next whole text message; answers pings; ConnectionError on close."
        parts = []
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126: n = struct.unpack('>H', self._read(2))[0]
            elif n == 127: n = struct.unpack('>Q', self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(n)
            if mask: data = _mask(data, mask)
            if opcode == 0x8: raise ConnectionError('the browser closed the DevTools connection')
            if opcode == 0x9: self._frame(0xA, data); continue
            if opcode == 0xA: continue
            parts.append(data)
            if b0 & 0x80: return b''.join(parts).decode('utf-8', 'replace')

    def close(self):
        try: self._frame(0x8, b'')
        except OSError: pass
        self.sock.close()


def _mask(data: bytes, mask: bytes) -> bytes:
    "XOR `data` with the repeated 4-byte `mask`, fast for large payloads."
    n = len(data)
    full = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, 'little') ^ int.from_bytes(full, 'little')).to_bytes(n, 'little')


# ------------------------------------------------------------------ the DevTools protocol

class DevTools:
    "One page of the browser, driven over the DevTools protocol (flattened session on the browser connection)."
    def __init__(self, ws_url: str, site_origin: str):
        self.ws, self.origin = WebSocket(ws_url), site_origin
        self.next_id, self.replies, self.events = 0, {}, queue.Queue()
        self.errors, self.external, self.cond = [], set(), threading.Condition()
        self.session = None
        threading.Thread(target=self._reader, daemon=True).start()
        target = self.call('Target.createTarget', url='about:blank', browser=True)['targetId']
        self.session = self.call('Target.attachToTarget', targetId=target, flatten=True, browser=True)['sessionId']
        for domain in ('Page', 'Runtime', 'Log', 'Network'): self.call(f'{domain}.enable')
        self.call('Fetch.enable', patterns=[{'urlPattern': '*'}])
        self.call('Emulation.setDeviceMetricsOverride', width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)

    def _reader(self):
        try:
            while True:
                msg = json.loads(self.ws.recv())
                if 'id' in msg:
                    with self.cond: self.replies[msg['id']] = msg; self.cond.notify_all()
                else: self._event(msg)
        except (ConnectionError, OSError, ValueError) as e:
            with self.cond: self.replies[-1] = {'error': {'message': str(e)}}; self.cond.notify_all()

    def _event(self, msg: dict):
        method, p = msg.get('method', ''), msg.get('params', {})
        if method == 'Fetch.requestPaused':  # answered here, at once: the page waits for it
            url = p['request']['url']
            if url.startswith(self.origin) or url.startswith(('data:', 'blob:')):
                self._send('Fetch.continueRequest', requestId=p['requestId'])
            else:
                self.external.add(url)
                kind = p.get('resourceType')
                mime = {'Image': 'image/svg+xml', 'Stylesheet': 'text/css', 'Script': 'text/javascript',
                        'Document': 'text/html', 'Font': 'font/woff2'}.get(kind, 'text/plain')
                self._send('Fetch.fulfillRequest', requestId=p['requestId'], responseCode=200,
                           responseHeaders=[{'name': 'Content-Type', 'value': mime}],
                           body=EXTERNAL_IMAGE if kind == 'Image' else '')
            return
        if method == 'Runtime.consoleAPICalled' and p.get('type') in ('error', 'assert'):
            text = ' '.join(str(a.get('value', a.get('description', ''))) for a in p.get('args', []))
            self.errors.append(f'console.{p["type"]}: {text}')
        elif method == 'Runtime.exceptionThrown':
            d = p.get('exceptionDetails', {})
            self.errors.append(f'uncaught exception: {d.get("exception", {}).get("description") or d.get("text")}')
        elif method == 'Log.entryAdded' and p.get('entry', {}).get('level') == 'error':
            e = p['entry']; self.errors.append(f'console ({e.get("source")}): {e.get("text")} {e.get("url", "")}'.strip())
        elif method == 'Network.responseReceived' and p.get('response', {}).get('status', 200) >= 400:
            r = p['response']; self.errors.append(f'HTTP {r["status"]} for {r["url"]}')
        elif method == 'Network.loadingFailed' and not p.get('canceled') and p.get('errorText') != 'net::ERR_ABORTED':
            self.errors.append(f'request failed: {p.get("errorText")} ({p.get("type")})')
        self.events.put(msg)

    def _send(self, method: str, browser: bool = False, **params) -> int:
        self.next_id += 1
        msg = {'id': self.next_id, 'method': method, 'params': params}
        if self.session and not browser: msg['sessionId'] = self.session
        self.ws.send(json.dumps(msg))
        return msg['id']

    def call(self, method: str, timeout: float = 30, browser: bool = False, **params) -> dict:
        "Send a command and wait for its result; RuntimeError on a protocol error or a timeout."
        i = self._send(method, browser=browser, **params)
        with self.cond:
            if not self.cond.wait_for(lambda: i in self.replies or -1 in self.replies, timeout):
                raise RuntimeError(f'{method}: no answer from the browser in {timeout} s')
            reply = self.replies.pop(i, None) or self.replies[-1]
        if 'error' in reply: raise RuntimeError(f'{method}: {reply["error"].get("message")}')
        return reply.get('result', {})

    def wait_event(self, method: str, timeout: float = 30) -> dict:
        "Wait for the next event named `method`."
        end = time.time() + timeout
        while time.time() < end:
            try: msg = self.events.get(timeout=max(0.01, end - time.time()))
            except queue.Empty: break
            if msg.get('method') == method: return msg.get('params', {})
        raise RuntimeError(f'no {method} from the browser in {timeout} s')

    def js(self, expression: str, timeout: float = 30):
        "The value of a JavaScript expression in the page (awaited when it is a promise)."
        r = self.call('Runtime.evaluate', expression=expression, returnByValue=True, awaitPromise=True, timeout=timeout)
        if 'exceptionDetails' in r: raise RuntimeError(f'JavaScript failed: {r["exceptionDetails"].get("text")}: {expression[:80]}')
        return r.get('result', {}).get('value')

    def open(self, url: str, timeout: float = 30):
        "Navigate and wait for the load event, then for the fonts and a quiet moment."
        while not self.events.empty(): self.events.get_nowait()
        r = self.call('Page.navigate', url=url)
        if r.get('errorText'): raise RuntimeError(f'{url}: {r["errorText"]}')
        self.wait_event('Page.loadEventFired', timeout)
        self.js('document.fonts.ready.then(() => new Promise(r => setTimeout(r, 300)))')

    def screenshot(self, path: Path, full: bool = True):
        "Save a PNG of the page (the whole page up to MAX_SHOT_HEIGHT pixels, or the viewport)."
        h = min(int(self.js('document.documentElement.scrollHeight') or HEIGHT), MAX_SHOT_HEIGHT) if full else HEIGHT
        shot = self.call('Page.captureScreenshot', format='png', captureBeyondViewport=full,
                         clip={'x': 0, 'y': 0, 'width': WIDTH, 'height': h, 'scale': 1})
        path.write_bytes(base64.b64decode(shot['data']))

    def key(self, key: str, code: int):
        for kind in ('keyDown', 'keyUp'):
            self.call('Input.dispatchKeyEvent', type=kind, key=key, code=key, windowsVirtualKeyCode=code,
                      nativeVirtualKeyCode=code, **({'text': '\r'} if kind == 'keyDown' and key == 'Enter' else {}))

    def click(self, x: float, y: float):
        for kind in ('mousePressed', 'mouseReleased'):
            self.call('Input.dispatchMouseEvent', type=kind, x=x, y=y, button='left', clickCount=1)


# ------------------------------------------------------------------ the browser and the server

def find_chromium() -> str | None:
    "The Chromium binary: $CHROMIUM, else chromium / chromium-browser / google-chrome on the PATH."
    for c in [os.environ.get('CHROMIUM'), 'chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']:
        if c and shutil.which(c): return shutil.which(c)
    return None


def start_chromium(binary: str, profile: Path, timeout: float = 30) -> tuple[subprocess.Popen, str]:
    "Start headless Chromium with a fresh profile; the process and its DevTools browser WebSocket URL."
    proc = subprocess.Popen([binary, *CHROMIUM_FLAGS, f'--user-data-dir={profile}', f'--window-size={WIDTH},{HEIGHT}',
                             'about:blank'], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    port_file, end = profile / 'DevToolsActivePort', time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f'chromium exited with {proc.returncode}: {proc.stderr.read().decode()[-1500:]}')
        if port_file.exists():
            lines = port_file.read_text().split()
            if len(lines) >= 2: return proc, f'ws://127.0.0.1:{lines[0]}{lines[1]}'
        time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f'chromium did not open its DevTools port in {timeout} s')


def stop(proc: subprocess.Popen):
    "End the Chromium we started: its process group (it was started in a session of its own)."
    if proc.poll() is None:
        try: os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError: return
        try: proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL); proc.wait(5)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    "Serve `site` on 127.0.0.1 (a free port) from a thread; the server and its base URL."
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(QuietHandler, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f'http://127.0.0.1:{httpd.server_address[1]}/'


# ------------------------------------------------------------------ the check

def site_pages(site: Path, nbs: Path) -> list[str]:
    "The pages to load: the home page, then each numbered notebook's page (as nbdev names it)."
    pages = ['index.html']
    for nb in sorted(nbs.glob('[0-9]*.ipynb')):
        pages.append(re.sub(r'^\d+[a-zA-Z0-9]*_', '', nb.name.lower())[:-len('.ipynb')] + '.html')
    return pages


def default_query(site: Path, pages: list[str]) -> tuple[str, str]:
    "A search query that must find a notebook page: the first API name on the first notebook page; and that page."
    try: index = json.loads((site / 'search.json').read_text(encoding='utf-8'))
    except (OSError, ValueError): return 'leukemia', ''
    for page in pages[1:]:
        for e in index:
            if e['href'].startswith(page + '#') and re.fullmatch(r'[A-Za-z_]\w*', e.get('section', '')) and '_' in e['section']:
                return e['section'], page
    return 'leukemia', ''


def check_search(dt: DevTools, base: str, query: str, want_page: str, shots: Path) -> list[str]:
    "Click the search box, type, see results, press Enter, land on a page of the site."
    fails = []
    box = dt.js("""(() => { const i = [...document.querySelectorAll('input[type=search], #quarto-search input, .aa-Input')]
                     .find(e => e.offsetParent !== null);
                   if (!i) return null; const r = i.getBoundingClientRect();
                   return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()""")
    if not box: return ['home page: no visible search box']
    dt.click(box['x'], box['y'])
    if not dt.js('document.activeElement && document.activeElement.tagName === "INPUT"'):
        fails.append('home page: clicking the search box did not focus it')
    dt.call('Input.insertText', text=query)
    results, end = [], time.time() + 10
    while time.time() < end and not results:
        time.sleep(0.2)
        results = dt.js("[...document.querySelectorAll('.search-result, .aa-Item a, .aa-Item')].map(a => a.getAttribute('href') || a.textContent).slice(0, 20)") or []
    dt.screenshot(shots / 'search.png', full=False)
    if not results: return fails + [f'search: typing "{query}" showed no results in 10 s']
    if want_page and not any(want_page in (r or '') for r in results):
        fails.append(f'search: "{query}" found {len(results)} result(s), none on {want_page}: {results[:5]}')
    while not dt.events.empty(): dt.events.get_nowait()
    dt.key('Enter', 13)
    try: dt.wait_event('Page.loadEventFired', 15)
    except RuntimeError: return fails + [f'search: pressing Enter on the results of "{query}" opened no page']
    url = dt.js('location.href') or ''
    if not url.startswith(base) or not dt.js("document.querySelector('h1') !== null"):
        fails.append(f'search: Enter led to {url}, not a page of the site')
    return fails


def run(site: Path, nbs: Path, shots: Path, query: str | None) -> tuple[list[str], list[str]]:
    "(failures, notes) of loading every page and searching."
    binary = find_chromium()
    if not binary: return ['no Chromium: install it with `apt-get update && apt-get install -y chromium`'], []
    if not (site / 'index.html').exists(): return [f'no site in {site}: build it first with python tools/check_docs.py'], []
    shots.mkdir(parents=True, exist_ok=True)
    for old in shots.glob('*.png'): old.unlink()
    fails, notes = [], []
    httpd, base = serve(site)
    profile = Path(tempfile.mkdtemp(prefix='browser-check-profile-'))
    proc = None
    try:
        proc, ws_url = start_chromium(binary, profile)
        dt = DevTools(ws_url, base)
        pages = site_pages(site, nbs)
        for page in pages:
            dt.errors.clear()
            t = time.time()
            try: dt.open(base + page)
            except RuntimeError as e: fails.append(f'{page}: did not load: {e}'); continue
            title = dt.js("(document.querySelector('h1') || {}).textContent || ''").strip()
            dt.screenshot(shots / (page[:-5] + '.png'))
            if not (site / page).exists(): fails.append(f'{page}: missing from the site')
            if not title: fails.append(f'{page}: no title (h1) after loading')
            fails += [f'{page}: {e}' for e in dict.fromkeys(dt.errors)]
            notes.append(f'{page}: "{title}" loaded in {time.time() - t:.1f} s, {len(dt.errors)} console error(s)')
        dt.errors.clear()
        dt.open(base + 'index.html')
        q, want = (query, '') if query else default_query(site, pages)
        fails += check_search(dt, base, q, want, shots)
        seen = {f.split(': ', 1)[1] for f in fails if f.startswith('index.html: ')}
        fails += [f'search: {e}' for e in dict.fromkeys(dt.errors) if e not in seen]
        notes.append(f'search: "{q}"' + (f' (expected a result on {want})' if want else ''))
        if dt.external: notes.append(f'{len(dt.external)} request(s) to other hosts answered locally: ' + ', '.join(sorted(dt.external)[:5]))
        dt.ws.close()
    except (RuntimeError, ConnectionError, OSError) as e:
        fails.append(f'browser: {e}')
    finally:
        if proc: stop(proc)
        httpd.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    return fails, notes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--site', type=Path, default=ROOT / '_docs')
    ap.add_argument('--nbs', type=Path, default=ROOT / 'nbs')
    ap.add_argument('--shots', type=Path, default=ROOT / '.ci' / 'artifacts' / 'screenshots')
    ap.add_argument('--query', help='the search query (default: an API name from a notebook page)')
    args = ap.parse_args(argv)
    t = time.time()
    fails, notes = run(args.site, args.nbs, args.shots, args.query)
    for n in notes: print(f'browser check: {n}')
    for f in fails: print(f'browser check: FAIL {f}')
    print(f'browser check: {"FAIL" if fails else "PASS"} ({len(fails)} problem(s), {time.time() - t:.0f} s); '
          f'screenshots in {os.path.relpath(args.shots, ROOT)}/')
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
