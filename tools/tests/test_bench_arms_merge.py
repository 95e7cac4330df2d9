"Tests of --merge in bench/bench_cnn_lr.py and bench/bench_cnn_options.py: arms and seeds run in separate processes."
import io, json, sys, tempfile, unittest
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'bench'))
import bench_cnn_lr, bench_cnn_options  # noqa: E402
from bench_cnn_lr import arm_run, merge_arms  # noqa: E402

SAME = dict(arch='resnet18', img_size=128, epochs=2, limit=None)


def history(val_accs, lr=3e-4):
    return [dict(epoch=i + 1, val_acc=v, lr=lr, cumulative_seconds=30.0 * (i + 1)) for i, v in enumerate(val_accs)]


def metrics_of(acc): return dict(accuracy=acc, macro_f1=acc - 0.01)


def arms_file(folder: Path, name: str, arm_seed_acc, **change) -> Path:
    "An arms benchmark's JSON (as `bench_cnn_lr.py` or `bench_cnn_options.py` write it) with one run per (arm, seed)."
    runs = [arm_run(arm, seed, metrics_of(acc), 2, history([acc - 0.05, acc - 0.02]), 60.0) for arm, seed, acc in arm_seed_acc]
    path = folder / f'{name}.json'; path.write_text(json.dumps(dict(SAME, seeds=[0], runs=runs, **change))); return path


def recipe_file(folder: Path, seeds, accs, **recipe) -> Path:
    "A `bench_cnn_recipe.json` whose library arm ran the default recipe (Adam 3e-4, and `recipe`) for `seeds`."
    lib = [dict(history=history([a - 0.04, a - 0.03]), test=metrics_of(a), best_epoch=2, total_seconds=61.0) for a in accs]
    path = folder / 'recipe.json'
    path.write_text(json.dumps(dict(SAME, device='CPU', recipe=dict(lr=3e-4, **recipe), seeds=list(seeds),
                                    runs=dict(library=lib, reference=[])))); return path


class TestMergeArms(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(); self.dir = Path(self.tmp.name)
    def tearDown(self): self.tmp.cleanup()

    def test_rates_from_other_processes_and_the_recipe_runs_make_one_table(self):
        a = arms_file(self.dir, 'a', [('lr0.001', s, 0.90 + s / 100) for s in range(3)])
        b = arms_file(self.dir, 'b', [('lr0.0001', s, 0.80 + s / 100) for s in range(3)])
        r = recipe_file(self.dir, [0, 1, 2], [0.95, 0.96, 0.94])
        settings, runs = merge_arms([a, b, r], lambda recipe: f"lr{recipe['lr']:g}")
        self.assertEqual(settings, dict(SAME, weights='none', label_smoothing=0.0))   # files from before these options
        lib = [x for x in runs if x['arm'] == 'lr0.0003']
        self.assertEqual([(x['seed'], x['test_accuracy'], x['seconds']) for x in lib],
                         [(0, 0.95, 61.0), (1, 0.96, 61.0), (2, 0.94, 61.0)])
        self.assertAlmostEqual(lib[0]['best_val_acc'], 0.92)
        with redirect_stdout(io.StringIO()) as printed:
            bench_cnn_lr.main(['--out', str(self.dir / 'm'), '--merge', str(a), str(b), str(r)])
        rows = [line.split(' | ')[0] for line in printed.getvalue().splitlines() if line.startswith('| lr')]
        self.assertEqual(rows, ['| lr0.0001', '| lr0.0003', '| lr0.001'])          # ordered by rate
        self.assertIn('| lr0.0003 | 0.9500 ± 0.0100 |', printed.getvalue())
        saved = json.loads((self.dir / 'm' / 'bench_cnn_lr.json').read_text())
        self.assertEqual(saved['summary']['lr0.001']['test_accuracy'], [0.90, 0.91, 0.92])

    def test_the_recipe_runs_are_the_default_variant(self):
        a = arms_file(self.dir, 'a', [('warmup', 0, 0.9), ('no_label_smoothing', 0, 0.91)])
        r = recipe_file(self.dir, [0], [0.95])
        with redirect_stdout(io.StringIO()) as printed:
            bench_cnn_options.main(['--out', str(self.dir / 'o'), '--merge', str(a), str(r)])
        rows = [line.split(' | ')[0] for line in printed.getvalue().splitlines() if line.startswith('| ')][1:]   # after the header
        self.assertEqual(rows, ['| default', '| no_label_smoothing', '| warmup'])     # the variants' own order

    def test_other_settings_or_a_run_given_twice_are_refused_naming_the_file(self):
        a = arms_file(self.dir, 'a', [('lr0.001', 0, 0.9)])
        b = arms_file(self.dir, 'b', [('lr0.0001', 0, 0.8)], epochs=8)
        with self.assertRaises(SystemExit) as e: merge_arms([a, b], str)
        self.assertIn(str(b), str(e.exception)); self.assertIn('epochs', str(e.exception))
        d = arms_file(self.dir, 'd', [('lr0.0001', 1, 0.8)], weights='imagenet')
        with self.assertRaises(SystemExit) as e: merge_arms([a, d], str)
        self.assertIn('weights', str(e.exception))
        c = arms_file(self.dir, 'c', [('lr0.001', 0, 0.7), ('lr0.001', 1, 0.7)])
        with self.assertRaises(SystemExit) as e: merge_arms([a, c], str)
        self.assertIn("('lr0.001', 0)", str(e.exception)); self.assertNotIn("('lr0.001', 1)", str(e.exception))

    def test_arms_of_another_loss_than_the_recipe_runs_are_refused(self):
        plain = arms_file(self.dir, 'plain', [('lr0.001', 0, 0.9)])                  # from before label smoothing
        smoothed = recipe_file(self.dir, [0], [0.95], label_smoothing=0.1)
        with self.assertRaises(SystemExit) as e: merge_arms([plain, smoothed], str)
        self.assertIn(str(smoothed), str(e.exception)); self.assertIn('label_smoothing', str(e.exception))
        with self.assertRaises(SystemExit) as e: merge_arms([smoothed, plain], str)   # either order
        self.assertIn(str(plain), str(e.exception)); self.assertIn('label_smoothing', str(e.exception))
        same = arms_file(self.dir, 'same', [('lr0.001', 0, 0.9)], label_smoothing=0.1)
        settings, runs = merge_arms([same, smoothed], lambda recipe: f"lr{recipe['lr']:g}")
        self.assertEqual(settings['label_smoothing'], 0.1)
        self.assertEqual(sorted(r['arm'] for r in runs), ['lr0.0003', 'lr0.001'])

    def test_a_result_records_the_loss_its_arms_start_from(self):
        a = bench_cnn_lr.parse_arms(bench_cnn_lr.arms_arguments('', 'x'), ['--split', 's', '--seeds', '0'])
        runs = [arm_run('lr0.001', 0, metrics_of(0.9), 2, history([0.8, 0.85]), 60.0)]
        with redirect_stdout(io.StringIO()):
            result = bench_cnn_lr.arms_result(a, ['lr0.001'], runs, 'Adam lr')
        self.assertEqual(result['label_smoothing'], bench_cnn_lr.default_label_smoothing())
        self.assertGreater(result['label_smoothing'], 0)             # the library's default loss is smoothed
        self.assertEqual(result['summary']['lr0.001']['test_accuracy'], [0.9])

    def test_training_needs_a_split(self):
        for script in (bench_cnn_lr, bench_cnn_options):
            with redirect_stderr(io.StringIO()) as err, self.assertRaises(SystemExit):
                script.main(['--out', str(self.dir / 'x')])
            self.assertIn('--split is required', err.getvalue())


if __name__ == '__main__':
    unittest.main()
