"""Load the built site in headless Chromium: every page opens without console errors, search works, screenshots saved.

    python tools/browser_check.py [--site _docs] [--shots .ci/artifacts/screenshots] [--query NAME]  # 1: failed

Drives the system's Chromium ($CHROMIUM, else `chromium` on the PATH: `apt-get install -y chromium`) with Playwright
(the `dev` extra pins it; no browser download). Serves the site from 127.0.0.1; for the home page and each numbered
notebook's page it fails on a console error, an uncaught exception, a failed request or an HTTP error, or a page with
no title, and saves a screenshot. On the home page it types a query (by default an API name from a notebook page) into
the search box, expects a result on that page, presses Enter and expects to land on a page of the site. Requests to
other hosts never leave the machine: they get an empty answer (a grey box for an image), so the result is the same with
or without a network.
"""
import argparse, functools, http.server, json, os, re, shutil, sys, threading, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL_IMAGE = ('<svg xmlns="http://www.w3.org/2000/svg" width="117" height="20">'
                  '<rect width="117" height="20" rx="3" fill="#9aa5b1"/><text x="58" y="14" font-family="sans-serif" font-size="10" fill="#fff" '
                  'text-anchor="middle">external image</text></svg>')
SEARCH_BOX = 'input[type=search]:visible, #quarto-search input:visible, .aa-Input:visible'
SEARCH_RESULTS = '.search-result, .aa-Item'


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    "Serve `site` on 127.0.0.1 (a free port) from a thread; the server and its base URL."
    handler = type('Quiet', (http.server.SimpleHTTPRequestHandler,), {'log_message': lambda *a: None})
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(handler, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f'http://127.0.0.1:{httpd.server_address[1]}/'


def site_pages(nbs: Path) -> list[str]:
    "The home page, then each numbered notebook's page, named as nbdev names it."
    from nbdev.doclinks import _nbpath2html
    return ['index.html'] + [_nbpath2html(Path(nb.name)).name for nb in sorted(nbs.glob('[0-9]*.ipynb'))]


def default_query(site: Path, pages: list[str]) -> tuple[str, str]:
    "A query that must find a notebook page (its first API name with an underscore), and that page."
    try: index = json.loads((site / 'search.json').read_text(encoding='utf-8'))
    except (OSError, ValueError): return 'leukemia', ''
    for page in pages[1:]:
        for e in index:
            if e['href'].startswith(page + '#') and re.fullmatch(r'[A-Za-z]\w*_\w*', e.get('section', '')):
                return e['section'], page
    return 'leukemia', ''


def watch(page, base: str, errors: list, external: set):
    "Record the page's console errors, exceptions and failed requests; answer requests to other hosts locally."
    page.on('console', lambda m: m.type == 'error' and errors.append(f'console: {m.text}'))
    page.on('pageerror', lambda e: errors.append(f'exception: {e}'))
    page.on('requestfailed', lambda r: errors.append(f'request failed: {r.url} ({r.failure})'))
    page.on('response', lambda r: r.status >= 400 and errors.append(f'HTTP {r.status}: {r.url}'))
    def other_host(route):
        external.add(route.request.url.split('/')[2])
        img = route.request.resource_type == 'image'
        route.fulfill(status=200, body=EXTERNAL_IMAGE if img else '',
                      content_type='image/svg+xml' if img else 'text/plain')
    page.route(lambda url: not url.startswith(base), other_host)


def check_search(page, base: str, query: str, want: str, shots: Path) -> list[str]:
    "Type `query` in the search box, see results (one on `want`), press Enter, land on a page of the site."
    box = page.locator(SEARCH_BOX).first
    try: box.click(timeout=5000)
    except Exception: return ['home page: no visible search box']
    page.keyboard.type(query)
    try: page.wait_for_selector(SEARCH_RESULTS, timeout=10000)
    except Exception: return [f'search: typing "{query}" showed no results in 10 s']
    page.screenshot(path=shots / 'search.png')
    results = page.eval_on_selector_all(SEARCH_RESULTS, "es => es.map(e => e.getAttribute('href') || "
                                        "(e.querySelector('a') || {}).href || e.textContent)")
    fails = []
    if want and not any(want in (r or '') for r in results):
        fails.append(f'search: "{query}" found {len(results)} result(s), none on {want}: {results[:5]}')
    try:
        with page.expect_navigation(timeout=15000): page.keyboard.press('Enter')
    except Exception: return fails + [f'search: pressing Enter on the results of "{query}" opened no page']
    if not page.url.startswith(base) or page.locator('h1').count() == 0:
        fails.append(f'search: Enter led to {page.url}, not a page of the site')
    return fails


def run(site: Path, nbs: Path, shots: Path, query: str | None) -> tuple[list[str], list[str]]:
    "(failures, notes) of loading every page and searching."
    from playwright.sync_api import sync_playwright
    chromium = shutil.which(os.environ.get('CHROMIUM') or 'chromium')
    if not chromium: return ['no Chromium: apt-get install -y chromium (or set $CHROMIUM)'], []
    if not (site / 'index.html').exists(): return [f'no site in {site}: build it with python tools/check_docs.py'], []
    shots.mkdir(parents=True, exist_ok=True)
    for old in shots.glob('*.png'): old.unlink()
    fails, notes, errors, external = [], [], [], set()
    httpd, base = serve(site)
    pages = site_pages(nbs)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=['--no-sandbox', '--disable-gpu'])
            page = browser.new_page(viewport={'width': 1280, 'height': 900})
            watch(page, base, errors, external)
            for name in pages:
                errors.clear(); t = time.time()
                try: page.goto(base + name, wait_until='load')
                except Exception as e: fails.append(f'{name}: did not load: {e}'); continue
                title = (page.text_content('h1') or '').strip() if page.locator('h1').count() else ''
                page.screenshot(path=shots / (name[:-5] + '.png'), full_page=True)
                if not title: fails.append(f'{name}: no title (h1) after loading')
                fails += [f'{name}: {e}' for e in dict.fromkeys(errors)]
                notes.append(f'{name}: "{title}" loaded in {time.time() - t:.1f} s, {len(errors)} console error(s)')
            errors.clear()
            page.goto(base + 'index.html')
            q, want = (query, '') if query else default_query(site, pages)
            fails += check_search(page, base, q, want, shots) + [f'search: {e}' for e in dict.fromkeys(errors)]
            notes.append(f'search: "{q}"' + (f' (expected a result on {want})' if want else ''))
            if external: notes.append(f'requests to other hosts answered locally: {", ".join(sorted(external))}')
            browser.close()
    finally: httpd.shutdown()
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
