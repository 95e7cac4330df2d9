"Tests of bench/bench_cnn_recipe.py's --merge: seeds run in separate processes summarised as one run of them all."
import io, json, statistics as st, sys, tempfile, unittest
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'bench'))
from bench_cnn_recipe import SETTINGS, first_reach, main, merge_results, summarise  # noqa: E402


def arm_run(val_accs, seconds_per_epoch, test_acc, images_per_s):
    "One arm's run as `run_pair` records it: per-epoch history with cumulative seconds, test metrics, best epoch."
    hist = [dict(epoch=i + 1, val_acc=v, cumulative_seconds=seconds_per_epoch * (i + 1), train_seconds=10.0,
                 train_images_per_s=images_per_s) for i, v in enumerate(val_accs)]
    best = max(range(len(val_accs)), key=val_accs.__getitem__)
    return dict(history=hist, test=dict(accuracy=test_acc, macro_f1=test_acc - 0.01), best_epoch=best + 1,
                best_val_acc=val_accs[best], total_seconds=seconds_per_epoch * len(val_accs))


SEEDS = {0: (arm_run([0.80, 0.90], 30, 0.93, 40), arm_run([0.70, 0.86], 60, 0.88, 20)),
         1: (arm_run([0.85, 0.92], 30, 0.94, 40), arm_run([0.72, 0.80], 60, 0.86, 20)),
         2: (arm_run([0.88, 0.91], 30, 0.95, 40), arm_run([0.84, 0.83], 60, 0.89, 20))}
SAME = dict(device='CPU', arch='resnet18', img_size=128, epochs=2, limit=None, recipe=dict(lr=3e-4))


def result_file(folder: Path, name: str, seeds, **change) -> Path:
    runs = {'library': [SEEDS[s][0] for s in seeds], 'reference': [SEEDS[s][1] for s in seeds]}
    res = summarise(dict(SAME, seeds=list(seeds), **change), runs)
    (folder / name).mkdir(); path = folder / name / 'bench_cnn_recipe.json'
    path.write_text(json.dumps(res, default=float)); return path


class TestFirstReach(unittest.TestCase):
    def test_an_accuracy_read_back_from_history_csv_reaches_an_equal_target(self):
        target = 458 / 491                              # one reference run's best validation accuracy, exact
        history = [dict(val_acc=float(f'{a:.6g}'), cumulative_seconds=s)   # as history.csv (%.6g) gives them back
                   for a, s in ((457 / 491, 70), (458 / 491, 150), (470 / 491, 210))]
        self.assertLess(history[1]['val_acc'], target)
        self.assertEqual(first_reach(history, target), 150)
        self.assertIsNone(first_reach(history[:1], target))   # one image fewer does not reach it


class TestMerge(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(); self.dir = Path(self.tmp.name)
    def tearDown(self): self.tmp.cleanup()

    def test_merged_runs_summarise_as_one_run_of_all_seeds(self):
        a, b = result_file(self.dir, 'a', [0, 1]), result_file(self.dir, 'b', [2])
        settings, runs = merge_results([a, b])
        self.assertEqual(settings['seeds'], [0, 1, 2])
        self.assertEqual({k: settings[k] for k in SETTINGS}, SAME)
        merged = summarise(settings, runs)
        whole = json.loads(json.dumps(summarise(dict(SAME, seeds=[0, 1, 2]), {
            'library': [SEEDS[s][0] for s in range(3)], 'reference': [SEEDS[s][1] for s in range(3)]}), default=float))
        self.assertEqual(json.loads(json.dumps(merged, default=float)), whole)
        # the target is the mean over all three seeds, not over either part's
        self.assertAlmostEqual(merged['target_val_acc'], st.mean([0.86, 0.80, 0.84]))
        self.assertEqual(merged['summary']['reference']['seconds_to_target'], [120, None, 60])
        self.assertEqual(merged['summary']['library']['seconds_to_target'], [60, 30, 30])
        self.assertAlmostEqual(merged['speedup_to_target'], st.mean([120, 120, 60]) / st.mean([60, 30, 30]))
        self.assertAlmostEqual(merged['images_per_s_ratio'], 2.0)

    def test_main_writes_the_merged_table(self):
        a, b = result_file(self.dir, 'a', [0]), result_file(self.dir, 'b', [1, 2])
        with redirect_stdout(io.StringIO()) as printed: main(['--out', str(self.dir / 'm'), '--merge', str(a), str(b)])
        self.assertIn('| test accuracy (mean ± sd) | 0.8767 ± 0.0153 | 0.9400 ± 0.0100 |', printed.getvalue())
        res = json.loads((self.dir / 'm' / 'bench_cnn_recipe.json').read_text())
        self.assertEqual(res['seeds'], [0, 1, 2])
        self.assertEqual(res['summary']['library']['test_accuracy'], [0.93, 0.94, 0.95])

    def test_other_settings_or_a_repeated_seed_are_refused_naming_the_file(self):
        a, b = result_file(self.dir, 'a', [0, 1]), result_file(self.dir, 'b', [2], epochs=8)
        with self.assertRaises(SystemExit) as e: merge_results([a, b])
        self.assertIn(str(b), str(e.exception)); self.assertIn('epochs', str(e.exception))
        c = result_file(self.dir, 'c', [1])
        with self.assertRaises(SystemExit) as e: merge_results([a, c])
        self.assertIn('seed appears twice', str(e.exception))

    def test_training_needs_a_split(self):
        with redirect_stderr(io.StringIO()) as err, self.assertRaises(SystemExit): main(['--out', str(self.dir / 'x')])
        self.assertIn('--split is required', err.getvalue())


if __name__ == '__main__':
    unittest.main()
