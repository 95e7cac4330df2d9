"Tests of bench/recapture_gap.py: accuracy on test images with and without a re-capture in train, and its refusals."
import io, json, sys, tempfile, unittest
from contextlib import redirect_stdout
from pathlib import Path
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'bench'))
import recapture_gap  # noqa: E402

# groups g0, g1 cross into train (leaked test images a, b, c); g2, g3 stay in test (d, e, f, g)
MANIFEST = pd.DataFrame(dict(path=['t0', 't1', 'a', 'b', 'c', 'd', 'e', 'f', 'g'],
                             label=['Pro'] * 9,
                             group=['g0', 'g1', 'g0', 'g0', 'g1', 'g2', 'g2', 'g3', 'g3'],
                             split=['train', 'train'] + ['test'] * 7))


def run_folder(folder: Path, name: str, wrong, images=('a', 'b', 'c', 'd', 'e', 'f', 'g')) -> Path:
    "A run whose test predictions are right except on `wrong`."
    run = folder / name; run.mkdir()
    pd.DataFrame(dict(path=list(images), label='Pro', pred=['Pre' if i in wrong else 'Pro' for i in images])
                 ).to_csv(run / 'predictions_test.csv', index=False)
    return run


class TestRecaptureGap(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(); self.dir = Path(self.tmp.name)
        (self.dir / 'split').mkdir(); MANIFEST.to_csv(self.dir / 'split' / 'manifest.csv', index=False)
    def tearDown(self): self.tmp.cleanup()

    def test_gap_per_run_and_of_the_mean(self):
        r1 = run_folder(self.dir, 'r1', wrong={'d', 'e'})           # leaked 3/3, others 2/4: gap +50 points
        r2 = run_folder(self.dir, 'r2', wrong={'a', 'd'})           # leaked 2/3, others 3/4: gap -8.3 points
        with redirect_stdout(io.StringIO()) as printed:
            recapture_gap.main(['--split', str(self.dir / 'split'), '--runs', str(r1), str(r2),
                                '--n-boot', '200', '--out', str(self.dir / 'gap.json')])
        res = json.loads((self.dir / 'gap.json').read_text())
        self.assertEqual((res['n_leaked'], res['n_others']), (3, 4))
        self.assertAlmostEqual(res['per_run'][0]['gap'], 1.0 - 0.5)
        self.assertAlmostEqual(res['per_run'][1]['gap'], 2 / 3 - 0.75)
        self.assertAlmostEqual(res['gap'], (1.0 + 2 / 3) / 2 - (0.5 + 0.75) / 2)    # the runs' mean correctness
        lo, hi = res['gap_ci95']
        self.assertLessEqual(lo, res['gap']); self.assertGreaterEqual(hi, res['gap'])
        self.assertIn('gap +50.0 points', printed.getvalue())
        self.assertGreater(res['draws_used'], 100)                  # draws without one kind are left out, not NaN

    def test_a_run_of_another_split_or_a_split_without_leaks_is_refused(self):
        short = run_folder(self.dir, 'short', wrong=set(), images=('a', 'b', 'c', 'd'))
        with self.assertRaises(SystemExit) as e:
            recapture_gap.main(['--split', str(self.dir / 'split'), '--runs', str(short)])
        self.assertIn(str(short), str(e.exception)); self.assertIn('lacks 3', str(e.exception))
        grouped = self.dir / 'grouped'; grouped.mkdir()
        MANIFEST.assign(group=['g0', 'g1'] + [f'h{i}' for i in range(7)]).to_csv(grouped / 'manifest.csv', index=False)
        with self.assertRaises(SystemExit) as e:
            recapture_gap.main(['--split', str(grouped), '--runs', str(run_folder(self.dir, 'ok', wrong=set()))])
        self.assertIn('0 of 7 test images', str(e.exception))


if __name__ == '__main__':
    unittest.main()
