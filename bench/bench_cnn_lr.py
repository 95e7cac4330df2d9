"""Benchmark: `train_cnn` from scratch at several Adam learning rates, several seeds each, on one split.

Chooses the library's default learning rate for a network trained from scratch (`cnn.LEARNING_RATES['scratch']`):
every run is `train_cnn(manifest, out, arch, weights='none', img_size, epochs, lr=LR, seed=SEED)` with every other
setting at its default. `--weights imagenet` measures the rates of a fine-tuned network where torchvision's ImageNet
weights can be downloaded (Colab; `cnn.LEARNING_RATES['pretrained']`). Printed per rate: mean ± sd over seeds of test
accuracy and macro-F1 of the epoch chosen on validation, best validation accuracy, the epochs chosen, and the mean
seconds per run.

    OMP_NUM_THREADS=1 python bench/bench_cnn_lr.py --split runs/split_grouped --out runs/bench_cnn_lr --limit 600
    python bench/bench_cnn_lr.py --split runs/split_grouped --out runs/bench_lr_smoke --limit 48 --epochs 1 --img-size 64 --seeds 0 --lrs 1e-3

Writes OUT/bench_cnn_lr.json; the runs stay in OUT/lr{LR}_s{SEED}/ (and the subset in OUT/subset/ with --limit).
Rates or seeds run in other processes make one table with `--merge` (the library arm of a `bench_cnn_recipe.json` is
its default rate's row; files of other settings (the loss `label_smoothing` among them: files without it are from
plain cross-entropy), or a rate and seed given twice, are refused):

    python bench/bench_cnn_lr.py --out runs/bench_cnn_lr_full --merge runs/a/bench_cnn_lr.json runs/b/bench_cnn_lr.json runs/recipe/bench_cnn_recipe.json
"""
import argparse, contextlib, inspect, json, statistics as st, sys, time
from pathlib import Path

import pandas as pd, torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_cnn_recipe import load, read_same_settings, split_tree, training_arguments   # subset, options, merge check
import leukemia_detection.cnn as cnn


def arms_arguments(doc: str, out: str) -> argparse.ArgumentParser:
    "The options of an arms benchmark: the training benchmarks' own, where each run starts, and `--merge`."
    ap = training_arguments(doc, out, split_required=False)
    ap.add_argument('--weights', default='none', help="where each run starts: 'none' (from scratch), 'imagenet' "
                    "(torchvision's download, e.g. on Colab) or a checkpoint; `train_cnn`'s default rate follows it")
    ap.add_argument('--merge', nargs='+', metavar='JSON', help='one table of these results instead of training')
    return ap


def parse_arms(ap: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    "The parsed options; training (no `--merge`) needs `--split`."
    a = ap.parse_args(argv)
    if not a.merge and not a.split: ap.error('--split is required (or --merge)')
    return a


def prepare_bench(a, what: str) -> tuple[Path, Path]:
    "Threads, output folder and (subset of the) split of a `train_arms` benchmark; prints what runs and the load."
    torch.set_num_threads(a.threads)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    manifest, _ = split_tree(Path(a.split), out, a.limit)
    print(f'{a.arch} {a.img_size}px, weights {a.weights}, {a.epochs} epochs, label smoothing '
          f'{default_label_smoothing()}, {what}, seeds {a.seeds}, '
          f'torch {torch.__version__}, {torch.get_num_threads()} threads, bf16: {cnn.cpu_supports_bf16()}; '
          f'load {load()}', flush=True)
    return out, manifest


def train_arms(arms: dict, manifest: Path, out: Path, a) -> list[dict]:
    """One `train_cnn` run per arm and seed (seeds outermost: a slower hour slows every arm alike). `arms`: name ->
    (keyword arguments of `train_cnn`, a function that makes the context the call runs in); the runs go to
    OUT/{name}_s{seed}/."""
    runs = []
    for seed in a.seeds:
        for name, (kwargs, context) in arms.items():
            t0 = time.perf_counter()
            with context():
                run = cnn.train_cnn(manifest, out / f'{name}_s{seed}', arch=a.arch, weights=a.weights, img_size=a.img_size,
                                    epochs=a.epochs, seed=seed, resume=False, progress=False, **kwargs)
            hist = pd.read_csv(run / 'history.csv')
            m = json.loads((run / 'metrics.json').read_text())
            runs.append(arm_run(name, seed, m['test'], m['best_epoch'], hist.to_dict('records'),
                                time.perf_counter() - t0))
            r = runs[-1]
            print(f'  {name} seed {seed}: test {r["test_accuracy"]:.4f}, best val {r["best_val_acc"]:.4f} '
                  f'(epoch {r["best_epoch"]}), {r["seconds"]:.0f} s (load {load()})', flush=True)
    return runs


def arm_run(arm: str, seed: int, test: dict, best_epoch: int, history: list[dict], seconds: float) -> dict:
    "One run's row of an arms table: its test metrics, best validation accuracy, per-epoch val_acc and lr, seconds."
    return dict(arm=arm, seed=seed, test_accuracy=test['accuracy'], test_macro_f1=test['macro_f1'],
                best_val_acc=max(h['val_acc'] for h in history), best_epoch=best_epoch,
                val_acc=[h['val_acc'] for h in history], lr=[h['lr'] for h in history], seconds=seconds)


ARM_SETTINGS = {'arch': None, 'img_size': None, 'epochs': None, 'limit': None,   # what merged arms benchmarks must
                'weights': 'none', 'label_smoothing': 0.0}                    # share; the value where a file has none
                                                                              # (files from before these options)


def default_label_smoothing() -> float:
    "`train_cnn`'s default label smoothing: the loss of every arm that does not set its own."
    return inspect.signature(cnn.train_cnn).parameters['label_smoothing'].default


def arms_result(a, arms, runs: list[dict], title: str) -> dict:
    "What an arms benchmark writes: its options, the loss its arms start from, the table (printed) and the runs."
    return dict(vars(a), label_smoothing=default_label_smoothing(), summary=arms_table(runs, arms, title), runs=runs)


def arm_settings(result: dict) -> dict:
    "The settings of an arms result; a `bench_cnn_recipe.json` keeps its loss in its recipe."
    if 'recipe' not in result: return result
    return dict(result, label_smoothing=result['recipe'].get('label_smoothing', ARM_SETTINGS['label_smoothing']))


def merge_arms(paths, recipe_arm) -> tuple[dict, list[dict]]:
    """The settings and runs of several arms benchmarks' JSON files (rates, variants or seeds run in other processes).
    A `bench_cnn_recipe.json` gives its library runs, the default recipe, as arm `recipe_arm(its recipe)`."""
    parts = read_same_settings(paths, ARM_SETTINGS, 'arms', arm_settings)
    runs = []
    for r in parts:
        if 'recipe' in r: runs += [arm_run(recipe_arm(r['recipe']), seed, x['test'], x['best_epoch'], x['history'],
                                           x['total_seconds']) for seed, x in zip(r['seeds'], r['runs']['library'])]
        else: runs += r['runs']
    pairs = [(r['arm'], r['seed']) for r in runs]
    twice = sorted({p for p in pairs if pairs.count(p) > 1})
    if twice: raise SystemExit(f'{", ".join(map(str, paths))}: arm and seed {twice} appear twice; merge each run once')
    return {k: arm_settings(parts[0]).get(k, v) for k, v in ARM_SETTINGS.items()}, runs


def arms_table(runs: list[dict], arms, title: str) -> dict:
    "Print mean ± sd over seeds per arm as a Markdown table headed `title`; return the per-seed figures per arm."
    ms = lambda v: f'{st.mean(v):.4f} ± {st.stdev(v) if len(v) > 1 else 0.0:.4f}'
    print(f'\n| {title} | test accuracy | test macro-F1 | best val accuracy | chosen epochs | s/run |\n'
          f'|---|---|---|---|---|---|')
    summary = {}
    for name in arms:
        rs = [r for r in runs if r['arm'] == name]
        summary[name] = {k: [r[k] for r in rs] for k in ('test_accuracy', 'test_macro_f1', 'best_val_acc',
                                                         'best_epoch', 'seconds')}
        print(f"| {name} | {ms([r['test_accuracy'] for r in rs])} | {ms([r['test_macro_f1'] for r in rs])} | "
              f"{ms([r['best_val_acc'] for r in rs])} | {', '.join(str(r['best_epoch']) for r in rs)} | "
              f"{st.mean(r['seconds'] for r in rs):.0f} |")
    return summary


def merged_table(a, recipe_arm, title: str, order=None) -> dict:
    "`--merge`: one table of the runs of `a.merge`, arms in `order` of their names (default: as they come)."
    settings, runs = merge_arms(a.merge, recipe_arm)
    arms = list(dict.fromkeys(r['arm'] for r in runs))
    if order: arms.sort(key=order)
    print(f"{settings['arch']} {settings['img_size']}px, weights {settings['weights']}, {settings['epochs']} epochs, "
          f"label smoothing {settings['label_smoothing']}, limit {settings['limit']}, merged from {len(a.merge)} files")
    return dict(settings, merged=[str(p) for p in a.merge], summary=arms_table(runs, arms, title), runs=runs)


def lr_arm(lr: float) -> str: return f'lr{lr:g}'


def main(argv=None):
    ap = arms_arguments(__doc__, 'runs/bench_cnn_lr')
    ap.add_argument('--lrs', type=float, nargs='+', default=[1e-4, 3e-4, 1e-3])
    a = parse_arms(ap, argv)
    if a.merge: result = merged_table(a, lambda recipe: lr_arm(recipe['lr']), 'Adam lr', lambda arm: float(arm[2:]))
    else:
        out, manifest = prepare_bench(a, f'lrs {a.lrs}')
        arms = {lr_arm(lr): (dict(lr=lr), contextlib.nullcontext) for lr in a.lrs}
        runs = train_arms(arms, manifest, out, a)
        result = arms_result(a, arms, runs, 'Adam lr')
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    (out / 'bench_cnn_lr.json').write_text(json.dumps(result, indent=2) + '\n')


if __name__ == '__main__':
    main()
