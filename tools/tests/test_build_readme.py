"Tests of tools/build_readme.py: notebook -> GitHub Markdown, and the check that README.md and index.ipynb agree."
import json, sys, tempfile, unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import build_readme as br  # noqa: E402


def nb(*cells):
    return {'cells': list(cells), 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}

def md(text): return {'cell_type': 'markdown', 'metadata': {}, 'source': text}

def code(text, *outputs): return {'cell_type': 'code', 'metadata': {}, 'source': text, 'outputs': list(outputs), 'execution_count': None}

def display(mime, value): return {'output_type': 'display_data', 'metadata': {}, 'data': {mime: value}}


class TestMarkdown(unittest.TestCase):
    def test_directives(self):
        d, c = br.split_directives('#| echo: false\n#|hide\nx = 1\n#| not a directive any more')
        self.assertEqual(d, {'echo': 'false', 'hide': True})
        self.assertEqual(c, 'x = 1\n#| not a directive any more')

    def test_cells(self):
        text = br.notebook_markdown(nb(
            {'cell_type': 'raw', 'metadata': {}, 'source': '---\ntitle: x\n---'},
            md('# Title\n\n> summary'),
            code('#| hide\nsecret = 1'),
            code('#| include: false\nalso_hidden = 1', display('text/markdown', 'HIDDEN')),
            code('#| echo: false\nshow()', display('text/markdown', '| a |\n|---|\n| 1 |')),
            code('print(2)', {'output_type': 'stream', 'name': 'stdout', 'text': ['2\n']},
                 {'output_type': 'stream', 'name': 'stderr', 'text': ['warning\n']}),
            code('#| output: false\nquiet()', display('text/plain', 'NOT SHOWN'))))
        self.assertTrue(text.startswith(br.HEADER))
        body = text[len(br.HEADER):]
        self.assertNotIn('title: x', body)
        self.assertNotIn('secret', body); self.assertNotIn('HIDDEN', body); self.assertNotIn('NOT SHOWN', body)
        self.assertNotIn('show()', body)
        self.assertIn('| a |\n|---|\n| 1 |', body)
        self.assertIn('```python\nprint(2)\n```\n\n```\n2\n```', body)
        self.assertNotIn('warning', body)
        self.assertIn('```python\nquiet()\n```', body)

    def test_links(self):
        out = br.rewrite_links('[a](00_data.ipynb) ![f](pipeline.svg) [b](https://x.org/y) [c](#anchor) [d](/abs)\n'
                               '`[code](x.ipynb)` <img src="pic.png">\n```\n[fenced](x.ipynb)\n```')
        self.assertIn('[a](nbs/00_data.ipynb)', out); self.assertIn('![f](nbs/pipeline.svg)', out)
        self.assertIn('[b](https://x.org/y)', out); self.assertIn('[c](#anchor)', out); self.assertIn('[d](/abs)', out)
        self.assertIn('`[code](x.ipynb)`', out); self.assertIn('<img src="nbs/pic.png">', out)
        self.assertIn('[fenced](x.ipynb)', out)

    def test_callouts(self):
        out = br.callouts_to_alerts('before\n\n::: {.callout-warning title="Careful"}\nline one\n\nline two\n:::\nafter')
        self.assertEqual(out, 'before\n\n> [!WARNING]\n> **Careful**\n>\n> line one\n>\n> line two\nafter')
        self.assertIn('> [!TIP]', br.callouts_to_alerts('::: {.callout-tip}\n## Title\ntext\n:::'))

    def test_image_and_error_outputs_fail(self):
        with self.assertRaisesRegex(ValueError, 'save the figure as a file'):
            br.notebook_markdown(nb(code('plot()', display('image/png', 'iVBOR'))))
        with self.assertRaisesRegex(ValueError, 'error output'):
            br.notebook_markdown(nb(code('1/0', {'output_type': 'error', 'ename': 'ZeroDivisionError', 'evalue': 'x', 'traceback': []})))


class TestCheck(unittest.TestCase):
    "build() then check() agree; a stale README or stale outputs are both caught."
    def test_roundtrip_and_drift(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            (d / 'value.txt').write_text('one')
            index, readme = d / 'index.ipynb', d / 'README.md'
            index.write_text(json.dumps(nb(md('# T'), code('#| echo: false\nfrom pathlib import Path\n'
                                                            'from IPython.display import Markdown\n'
                                                            "Markdown(Path('value.txt').read_text())"))))
            fresh = br.run_notebook(index)
            index.write_text(json.dumps(fresh))
            readme.write_text(br.notebook_markdown(fresh))
            self.assertEqual(br.check(index, readme), [])
            self.assertIn('one', readme.read_text())
            readme.write_text(readme.read_text() + 'edited by hand\n')
            problems = br.check(index, readme)
            self.assertEqual(len(problems), 1); self.assertIn('README.md differs', problems[0])
            readme.write_text(br.notebook_markdown(fresh))
            (d / 'value.txt').write_text('two')  # the data behind an output changed: the saved output is stale
            problems = br.check(index, readme)
            self.assertEqual(len(problems), 1); self.assertIn('stale', problems[0]); self.assertIn('+two', problems[0])


if __name__ == '__main__':
    unittest.main()
