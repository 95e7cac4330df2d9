"""Stands in for Quarto (absent here): build the docs site with nbdev and smalldocs, and check pages, API entries, links.

    python tools/check_docs.py [--out _docs] [--skip-proc]
    # exit 0: all good; 1: the site was built and has problems; 2: the site could not be built

1. Checks that `nbs/_quarto.yml` is a link to the root `_quarto.yml`; refreshes `nbs/nbdev.yml` (nbdev's
   `refresh_quarto_yml`, which leaves an existing `_quarto.yml` alone).
2. Runs nbdev's notebook processing, the Python function `nbdev.serve.proc_nbs` (the `nbdev_proc_nbs` command would
   try to install Quarto), into `_proc/`: front matter, `show_doc` for every export, doc links.
3. Renders `_proc/` with smalldocs (pinned 0.5.4), a pure-Python Quarto-compatible renderer, into `_docs/`. Quarto
   writes each page to its `output-file` (nbdev sets `00_data.ipynb` -> `data.html`, and links to that name);
   smalldocs does not read that key, so this build applies it, as Quarto would.
4. Fails on: a notebook without its page (or missing from the sidebar or the search index); an API entry with no
   content (a `show_doc` without output, or with no docstring, or an exported name whose anchor is not on its page);
   a broken internal link (a relative link, or a link into this site's own URL, to a missing page or anchor);
   an image of the ALL dataset in the processed notebooks (the docs build runs import cells anew, so a cell committed
   without outputs can still put a picture on the site).
"""
import argparse, ast, html.parser, json, os, re, subprocess, sys, time
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_notebooks  # noqa: E402

SMALLDOCS = '0.5.4'  # the version whose Site.read this build extends (the `dev` extra in settings.ini pins it)
BENIGN_WARNINGS = (  # what smalldocs says about keys that only Quarto needs; nothing on the HTML site depends on them
    re.compile(r'format commonmark is not built'),
    re.compile(r'format\.html\.keep-md is ignored'),
    re.compile(r': output-file is not read by smalldocs$'),  # applied by QuartoOutputFileSite below
)


def say(status: str, msg: str): print(f'docs check: {status} {msg}', flush=True)


# ------------------------------------------------------------------ 1-2: nbdev's processing

def ensure_quarto_link(root: Path = ROOT) -> str | None:
    "A problem message unless `nbs/_quarto.yml` is the link to `../_quarto.yml` that nbdev reads."
    link = root / 'nbs' / '_quarto.yml'
    if link.is_symlink() and link.resolve() == (root / '_quarto.yml').resolve(): return None
    return 'nbs/_quarto.yml must be a link to the root _quarto.yml: ln -sf ../_quarto.yml nbs/_quarto.yml'


def process_notebooks(root: Path = ROOT, workers: int = 2) -> subprocess.CompletedProcess:
    "refresh_quarto_yml and proc_nbs (forced: no stale pages), in a subprocess whose output is kept."
    code = ('from nbdev.quarto import refresh_quarto_yml\nfrom nbdev.serve import proc_nbs\n'
            f'refresh_quarto_yml()\nproc_nbs(n_workers={workers}, force=True)\n')
    return subprocess.run([sys.executable, '-c', code], cwd=root, capture_output=True, text=True)


# ------------------------------------------------------------------ 3: rendering with smalldocs

def render(proc: Path, out: Path):
    "Render `proc` into `out` with smalldocs, pages written to their `output-file`; the smalldocs Site."
    import smalldocs
    from smalldocs.config import load
    from smalldocs.site import Site
    if smalldocs.__version__ != SMALLDOCS:
        say('WARN', f'smalldocs {smalldocs.__version__} is installed; this check was written for {SMALLDOCS} (settings.ini pins it)')

    class QuartoOutputFileSite(Site):
        "smalldocs, with Quarto's `output-file`: a page is written there, and links to its source point there."
        def read(self, src):
            page = super().read(src)
            name = page.front.get('output-file')
            if name: page.out = src.parent / str(name)
            return page

    site = QuartoOutputFileSite(load(proc), quiet=True)
    site.out = out.resolve()
    site.build()
    return site


# ------------------------------------------------------------------ 4: checks

class PageParser(html.parser.HTMLParser):
    "The ids, links, title and text length of an HTML page."
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links, self.h1, self.text_len = set(), [], '', 0
        self._in_h1 = self._skip = 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ('id', 'name') if tag == 'a' else ('id',):
            if a.get(k): self.ids.add(a[k])
        for k in ('href', 'src'):
            if a.get(k) and tag in ('a', 'link', 'img', 'script', 'source', 'iframe', 'image'): self.links.append((tag, a[k]))
        if tag == 'h1': self._in_h1 += 1
        if tag in ('script', 'style'): self._skip += 1
    def handle_endtag(self, tag):
        if tag == 'h1' and self._in_h1: self._in_h1 -= 1
        if tag in ('script', 'style') and self._skip: self._skip -= 1
    def handle_data(self, data):
        if self._in_h1: self.h1 += data
        if not self._skip: self.text_len += len(data.strip())


def parse_site(out: Path) -> dict:
    "{relative path: PageParser} for every HTML page of a built site (its own libraries left out)."
    pages = {}
    for f in sorted(out.rglob('*.html')):
        rel = f.relative_to(out).as_posix()
        if rel.startswith('site_libs/'): continue
        p = PageParser(); p.feed(f.read_text(encoding='utf-8')); pages[rel] = p
    return pages


def expected_pages(nbs: Path) -> dict:
    "{notebook name: page nbdev/Quarto writes for it}: index.ipynb and every numbered notebook."
    from nbdev.doclinks import _nbpath2html
    nbs_list = [nbs / 'index.ipynb'] + sorted(nbs.glob('[0-9]*.ipynb'))
    return {p.name: _nbpath2html(Path(p.name)).name for p in nbs_list if p.exists()}


def check_pages(expected: dict, pages: dict, out: Path, proc: Path) -> list[str]:
    "Every notebook has its page, with a title and content, in the sidebar and in the search index."
    fails = []
    home = pages.get('index.html')
    sidebar = {unquote(urlsplit(h).path) for t, h in (home.links if home else []) if t == 'a'}
    try: search = {PurePosixPath(e['href'].split('#')[0]).as_posix() for e in json.loads((out / 'search.json').read_text())}
    except (OSError, ValueError, KeyError): search = set(); fails.append('search.json is missing or unreadable: the search box cannot work')
    for nb, page in expected.items():
        fm = frontmatter(proc / nb)
        if fm.get('output-file', page) != page:
            fails.append(f'{nb}: nbdev named its page {fm.get("output-file")}, expected {page}')
        p = pages.get(page)
        if p is None: fails.append(f'{nb}: no page {page} (the notebook is not on the site)'); continue
        if not p.h1.strip(): fails.append(f'{page} ({nb}): no title: the notebook needs a first cell "# Title"')
        if p.text_len < 200: fails.append(f'{page} ({nb}): almost empty ({p.text_len} characters of text)')
        if page != 'index.html' and page not in sidebar: fails.append(f'{page} ({nb}): not linked from the home page or sidebar')
        if page not in search: fails.append(f'{page} ({nb}): not in the search index search.json')
    return fails


def frontmatter(nb_path: Path) -> dict:
    "The YAML front matter nbdev put in a processed notebook's first raw cell."
    import yaml
    try: nb = json.loads(nb_path.read_text(encoding='utf-8'))
    except (OSError, ValueError): return {}
    for c in nb['cells'][:1]:
        m = re.match(r'^---\s*\n(.*?)\n---', ''.join(c['source']).strip(), re.S) if c['cell_type'] == 'raw' else None
        if m: return yaml.safe_load(m.group(1)) or {}
    return {}


def builtin_docstrings() -> set:
    "Docstrings a name inherits when it has none of its own (`Call self as a function.`, an exception's base doc...)."
    import builtins
    out = set()
    for o in vars(builtins).values():
        if isinstance(o, type):
            for a in ('__doc__', '__init__', '__call__', '__new__'):
                d = getattr(o, a, None)
                d = d if isinstance(d, str) else getattr(d, '__doc__', None)
                if d: out.add(' '.join(d.split()))
    return out


def check_api(proc: Path, expected: dict, pages: dict, root: Path = ROOT) -> tuple[list[str], int]:
    "(problems, number of entries): every show_doc has a heading, a signature and its own docstring; every exported "
    "top-level name in nbdev's index has its anchor on its page."
    fails, n, inherited = [], 0, builtin_docstrings()
    for nb in expected:
        path = proc / nb
        if not path.exists(): continue
        cells = json.loads(path.read_text(encoding='utf-8'))['cells']
        for c in cells:
            src = ''.join(c['source'])
            m = re.search(r'^\s*show_doc\((.+)\)\s*$', src, re.M)
            if c['cell_type'] != 'code' or not m: continue
            n += 1
            name = m.group(1).split(',')[0].strip()
            md = ''.join(''.join(o.get('data', {}).get('text/markdown', '')) for o in c.get('outputs', []))
            if not md.strip(): fails.append(f'{nb}: show_doc({name}) has no output (it failed or was not run)'); continue
            heading = re.search(r'^#+\s+(.+?)\s*$', md, re.M)
            body = re.sub(r'```.*?```', '', md, flags=re.S)
            body = re.sub(r'^\s*(---|\[source\]\(.*|#+\s.*)\s*$', '', body, flags=re.M)
            doc = ' '.join(body.replace('*', ' ').split())
            if not heading: fails.append(f'{nb}: show_doc({name}) has no heading')
            if not doc: fails.append(f'{nb}: show_doc({name}) is empty: {name} has no docstring')
            elif doc in inherited: fails.append(f'{nb}: show_doc({name}) shows only an inherited docstring ("{doc[:60]}"): give {name} its own')
    modidx = root / check_notebooks.read_settings(root).get('lib_path', 'leukemia_detection') / '_modidx.py'
    if modidx.exists():
        tree = ast.parse(modidx.read_text(encoding='utf-8'))
        d = next(ast.literal_eval(s.value) for s in tree.body if isinstance(s, ast.Assign) and s.targets[0].id == 'd')
        missing_pages: dict = {}
        for mod, syms in d.get('syms', {}).items():
            for key, (doc, _py) in syms.items():
                name = key[len(mod) + 1:]
                if '.' in name or name.startswith('_'): continue  # methods and private names get no automatic show_doc
                page, _, anchor = doc.partition('#')
                if page not in pages: missing_pages.setdefault(page, []).append(name)
                elif anchor and anchor not in pages[page].ids: fails.append(f'{key}: no anchor #{anchor} on {page} (nbdev links it there)')
        for page, names in missing_pages.items():
            fails.append(f'{page} does not exist, but nbdev links {len(names)} exported name(s) to it '
                         f'({", ".join(names[:4])}{", ..." if len(names) > 4 else ""}): its notebook failed or is gone')
    return fails, n


def check_links(pages: dict, out: Path, site_url: str) -> tuple[list[str], int, int]:
    "(broken links, internal links checked, external links not checked): relative links and links into the site's own URL."
    fails, internal, external = [], 0, 0
    base = site_url.rstrip('/') + '/'
    for page, p in pages.items():
        for tag, link in p.links:
            if link.startswith(('mailto:', 'javascript:', 'data:', 'tel:')): continue
            if link.startswith(base): target = link[len(base):]
            elif re.match(r'^[a-zA-Z][a-zA-Z0-9+.-]*:|^//', link): external += 1; continue
            else:
                parts = urlsplit(link)
                if not parts.path:
                    target = page + link  # '#anchor' on the same page
                else:
                    target = os.path.normpath(os.path.join(os.path.dirname(page), unquote(parts.path))).replace(os.sep, '/')
                    if link.startswith('/'): target = unquote(parts.path).lstrip('/')
                    target += ('#' + parts.fragment) if parts.fragment else ''
            internal += 1
            path, _, anchor = target.partition('#')
            path = path or page
            if path.endswith('/') or path in ('', '.'): path = (path.rstrip('/') + '/index.html').lstrip('/')
            if path.startswith('../') or not (out / path).exists():
                fails.append(f'{page}: broken link {link} (no file {path})'); continue
            if anchor and path.endswith('.html') and path in pages and unquote(anchor) not in pages[path].ids:
                fails.append(f'{page}: broken link {link} (no anchor #{anchor} on {path})')
    return list(dict.fromkeys(fails)), internal, external


def check_images(proc: Path, out: Path, index) -> list[str]:
    "No image of the dataset in the processed notebooks (outputs made by the docs build) or among the site's files."
    fails = []
    for nb in sorted(proc.glob('*.ipynb')):
        nbj = json.loads(nb.read_text(encoding='utf-8'))
        for where, data in check_notebooks.notebook_images(nbj):
            fails += [f'_proc/{nb.name} {p} (made when the docs build ran the cell)' for p in check_notebooks.image_problems(where, data, index)]
    for f in sorted(out.rglob('*')):
        if f.suffix.lower() in check_notebooks.IMAGE_EXTS and 'site_libs' not in f.parts:
            fails += check_notebooks.image_problems(f.relative_to(out).as_posix(), f.read_bytes(), index)
    return fails


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', type=Path, default=ROOT / '_docs', help='where to write the site (default _docs)')
    ap.add_argument('--skip-proc', action='store_true', help='reuse _proc/ as it is')
    args = ap.parse_args(argv)
    fails, t0 = [], time.time()
    settings = check_notebooks.read_settings()
    nbs, proc = ROOT / settings.get('nbs_path', 'nbs'), ROOT / '_proc'

    problem = ensure_quarto_link()
    if problem: say('FAIL', problem); return 2
    if not args.skip_proc:
        r = process_notebooks()
        if r.returncode:
            out = r.stdout + r.stderr
            i = out.rfind('Exception: Error in notebook')
            say('FAIL', f'nbdev proc_nbs failed (exit {r.returncode}): the docs build runs every export cell, every '
                        'show_doc cell and every cell with an import, in order, skipping the rest; a cell that imports '
                        'and also uses names from skipped cells fails.\n' + (out[i:] if i >= 0 else out[-3000:])[:3000])
            return 2
    if not (nbs / '_quarto.yml').is_symlink(): say('FAIL', 'nbdev replaced nbs/_quarto.yml by a file'); return 2
    say('PASS', f'nbdev processed the notebooks into _proc/ ({time.time() - t0:.0f} s)')

    try: site = render(proc, args.out)
    except Exception as e:
        say('FAIL', f'smalldocs could not render _proc/: {type(e).__name__}: {e}'); return 2
    for w in site.warnings:  # its broken links are found again below, in the HTML it wrote, with the page they are on
        if 'broken link' not in w and not any(b.search(w) for b in BENIGN_WARNINGS): say('WARN', f'smalldocs: {w}')
    pages = parse_site(args.out)
    say('PASS', f'smalldocs rendered {len(site.pages)} page(s) into {os.path.relpath(args.out, ROOT)}/')

    expected = expected_pages(nbs)
    stage = [('pages', check_pages(expected, pages, args.out, proc))]
    api_fails, n_api = check_api(proc, expected, pages)
    stage.append(('API entries', api_fails))
    site_url = settings['doc_host'].rstrip('/') + '/' + settings.get('doc_baseurl', '').strip('/')
    link_fails, n_int, n_ext = check_links(pages, args.out, site_url)
    stage.append(('links', link_fails))
    data = check_notebooks.find_dataset()
    if data:
        stage.append(('dataset images', check_images(proc, args.out, check_notebooks.DatasetIndex(data))))
    else: say('NOTE', 'the ALL dataset is not here: the processed notebooks are not compared with it')
    detail = {'pages': f'{len(expected)} notebook(s): ' + ', '.join(f'{k}->{v}' for k, v in expected.items()),
              'API entries': f'{n_api} show_doc entries', 'links': f'{n_int} internal links ({n_ext} external not checked)',
              'dataset images': 'processed notebooks and site files'}
    for name, fs in stage:
        for f in fs: say('FAIL', f'{name}: {f}')
        if not fs: say('PASS', f'{name}: {detail[name]}')
    fails += [f for _, fs in stage for f in fs]
    print(f'docs check: {"FAIL" if fails else "PASS"} ({len(fails)} problem(s), {time.time() - t0:.0f} s); site in '
          f'{os.path.relpath(args.out, ROOT)}/')
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
