"Tests of bench/notebook_failures.py: every failing cell of a notebook, where nbdev_test reports only the first."
import json, subprocess, sys, tempfile, unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def notebook(path: Path, sources):
    cells = [dict(cell_type='code', id=f'c{i}', metadata={}, execution_count=None, outputs=[], source=s)
             for i, s in enumerate(sources)]
    path.write_text(json.dumps(dict(cells=cells, nbformat=4, nbformat_minor=5, metadata=dict(
        kernelspec=dict(display_name='python3', language='python', name='python3')))))
    return path


class TestNotebookFailures(unittest.TestCase):
    def test_every_failing_cell_is_listed_and_flagged_cells_are_skipped(self):
        with tempfile.TemporaryDirectory() as tmp:
            bad = notebook(Path(tmp) / 'bad.ipynb', [
                'x = 1', "assert x == 2, 'x is not 2'", "#| slow\nraise ValueError('a slow cell, skipped')",
                'y = 1 / 0', "import os\nassert os.environ['IN_TEST'] == '1'", 'z = x + 1'])
            good = notebook(Path(tmp) / 'good.ipynb', ['a = 1', 'assert a == 1'])
            r = subprocess.run([sys.executable, 'bench/notebook_failures.py', str(bad), str(good)], cwd=ROOT,
                               capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(sorted(r.stdout.splitlines()), [   # each notebook's lines as it ends
            "bad.ipynb cell 2 (assert x == 2, 'x is not 2'): AssertionError: x is not 2",
            'bad.ipynb cell 4 (y = 1 / 0): ZeroDivisionError: division by zero',
            'good.ipynb: every cell ran'])


if __name__ == '__main__':
    unittest.main()
