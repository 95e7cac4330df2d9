"Tests of tools/check_docs.py and tools/browser_check.py on small hand-made sites (no nbdev run, no browser)."
import json, sys, tempfile, unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import browser_check as bc  # noqa: E402
import check_docs as cd  # noqa: E402

SITE = 'https://someone.github.io/proj'


def page(body: str, title: str = 'T') -> str:
    return f'<html><body><h1>{title}</h1>{body}<p>{"text " * 60}</p></body></html>'


class TestLinks(unittest.TestCase):
    def site(self, files: dict) -> tuple[Path, dict]:
        self.tmp = tempfile.TemporaryDirectory(); self.addCleanup(self.tmp.cleanup)
        out = Path(self.tmp.name)
        for name, text in files.items():
            (out / name).parent.mkdir(parents=True, exist_ok=True); (out / name).write_text(text)
        return out, cd.parse_site(out)

    def test_links(self):
        out, pages = self.site({
            'index.html': page('<a href="data.html#load">ok</a> <a href="#here" id="here">self</a> <img src="fig.svg">'
                               f'<a href="{SITE}/data.html#load">own site</a> <a href="https://other.org/x">ext</a>'
                               '<a href="sub/">folder</a> <a href="mailto:a@b">mail</a>'),
            'data.html': page('<h3 id="load">load</h3> <a href="index.html">home</a>'),
            'fig.svg': '<svg/>', 'sub/index.html': page('<a href="../data.html">up</a>'),
            'site_libs/x.html': '<a href="nowhere.html">ignored</a>'})
        fails, internal, external = cd.check_links(pages, out, SITE)
        self.assertEqual(fails, []); self.assertEqual(external, 1); self.assertEqual(internal, 7)

    def test_broken(self):
        out, pages = self.site({
            'index.html': page('<a href="cnn.html">gone</a> <a href="data.html#nope">no anchor</a> '
                               f'<a href="{SITE}/data.html#also_nope">own site</a> <a href="#missing">self</a>'),
            'data.html': page('<h3 id="load">load</h3>')})
        fails = cd.check_links(pages, out, SITE)[0]
        self.assertEqual(len(fails), 4, fails)
        self.assertIn('no file cnn.html', fails[0]); self.assertIn('no anchor #nope', fails[1])
        self.assertIn('#also_nope', fails[2]); self.assertIn('#missing', fails[3])

    def test_pages(self):
        out, pages = self.site({'index.html': page('<a href="data.html">Data</a>'), 'data.html': page(''),
                                'search.json': json.dumps([{'href': 'index.html'}, {'href': 'data.html#x'}])})
        proc = out / '_proc'; proc.mkdir()
        expected = {'index.ipynb': 'index.html', '00_data.ipynb': 'data.html', '01_cnn.ipynb': 'cnn.html'}
        fails = cd.check_pages(expected, pages, out, proc)
        self.assertEqual(fails, ['01_cnn.ipynb: no page cnn.html (the notebook is not on the site)'])


class TestApi(unittest.TestCase):
    def test_show_doc_entries(self):
        def sd(name, md):
            return {'cell_type': 'code', 'source': f'#| echo: false\n#| output: asis\nshow_doc({name})',
                    'outputs': [{'output_type': 'execute_result', 'data': {'text/markdown': md}}] if md is not None else []}
        good = '---\n\n[source](x){target="_blank"}\n\n### f\n\n```python\ndef f(x):\n```\n\n*Does f.*'
        inherited = '---\n\n### g\n\n```python\ndef g(x):\n```\n\n*Call self as a function.*'
        empty = '---\n\n### h\n\n```python\ndef h(x):\n```'
        with tempfile.TemporaryDirectory() as d:
            proc = Path(d)
            (proc / '00_a.ipynb').write_text(json.dumps({'cells': [sd('f', good), sd('g', inherited), sd('h', empty), sd('k', None)]}))
            fails, n = cd.check_api(proc, {'00_a.ipynb': 'a.html'}, {}, root=proc)
        self.assertEqual(n, 4)
        self.assertEqual(len(fails), 3, fails)
        self.assertIn('show_doc(g) shows only an inherited docstring', fails[0])
        self.assertIn('show_doc(h) is empty', fails[1]); self.assertIn('show_doc(k) has no output', fails[2])


class TestQuartoLink(unittest.TestCase):
    "nbs/_quarto.yml must stay a link to the root _quarto.yml (nbdev reads the former, the project keeps the latter)."
    def test_link(self):
        with tempfile.TemporaryDirectory() as d:
            root = Path(d); (root / 'nbs').mkdir(); (root / '_quarto.yml').write_text('project: {type: website}\n')
            link = root / 'nbs' / '_quarto.yml'
            self.assertIn('must be a link', cd.ensure_quarto_link(root))      # missing
            link.write_text('project: {type: website}\n')
            self.assertIn('must be a link', cd.ensure_quarto_link(root))      # a copy
            link.unlink(); link.symlink_to(Path('..') / '_quarto.yml')
            self.assertIsNone(cd.ensure_quarto_link(root))                    # the link


class TestBrowserHelpers(unittest.TestCase):
    def test_pages_named_as_nbdev_does(self):
        with tempfile.TemporaryDirectory() as d:
            for n in ('00_data.ipynb', '01_cnn.ipynb', '10a_extra_things.ipynb', 'index.ipynb', 'scratch.ipynb'):
                (Path(d) / n).write_text('{}')
            self.assertEqual(bc.site_pages(Path(d)), ['index.html', 'data.html', 'cnn.html', 'extra_things.html'])


if __name__ == '__main__':
    unittest.main()
