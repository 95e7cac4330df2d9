"""Benchmark: `train_cnn` from scratch at several Adam learning rates, several seeds each, on one split.

Chooses the library's default learning rate for a network trained from scratch (`cnn.LEARNING_RATES['scratch']`):
every run is `train_cnn(manifest, out, arch, weights='none', img_size, epochs, lr=LR, seed=SEED)` with every other
setting at its default. Printed per rate: mean ± sd over seeds of test accuracy and macro-F1 of the epoch chosen on
validation, best validation accuracy, the epochs chosen, and the mean seconds per run.

    OMP_NUM_THREADS=1 python bench/bench_cnn_lr.py --split runs/split_grouped --out runs/bench_cnn_lr --limit 600
    python bench/bench_cnn_lr.py --split runs/split_grouped --out runs/bench_lr_smoke --limit 48 --epochs 1 --img-size 64 --seeds 0 --lrs 1e-3

Writes OUT/bench_cnn_lr.json; the runs stay in OUT/lr{LR}_s{SEED}/ (and the subset in OUT/subset/ with --limit).
"""
import contextlib, json, statistics as st, sys, time
from pathlib import Path

import pandas as pd, torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_cnn_recipe import load, split_tree, training_arguments   # the recipe benchmark's subset and options
import leukemia_detection.cnn as cnn


def prepare_bench(a, what: str) -> tuple[Path, Path]:
    "Threads, output folder and (subset of the) split of a `train_arms` benchmark; prints what runs and the load."
    torch.set_num_threads(a.threads)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    manifest, _ = split_tree(Path(a.split), out, a.limit)
    print(f'{a.arch} {a.img_size}px from scratch, {a.epochs} epochs, {what}, seeds {a.seeds}, '
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
                run = cnn.train_cnn(manifest, out / f'{name}_s{seed}', arch=a.arch, weights='none', img_size=a.img_size,
                                    epochs=a.epochs, seed=seed, resume=False, progress=False, **kwargs)
            hist = pd.read_csv(run / 'history.csv')
            m = json.loads((run / 'metrics.json').read_text())
            runs.append(dict(arm=name, seed=seed, test_accuracy=m['test']['accuracy'],
                             test_macro_f1=m['test']['macro_f1'], best_val_acc=float(hist.val_acc.max()),
                             best_epoch=m['best_epoch'], val_acc=hist.val_acc.tolist(), lr=hist.lr.tolist(),
                             seconds=time.perf_counter() - t0))
            r = runs[-1]
            print(f'  {name} seed {seed}: test {r["test_accuracy"]:.4f}, best val {r["best_val_acc"]:.4f} '
                  f'(epoch {r["best_epoch"]}), {r["seconds"]:.0f} s (load {load()})', flush=True)
    return runs


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


def main(argv=None):
    ap = training_arguments(__doc__, 'runs/bench_cnn_lr')
    ap.add_argument('--lrs', type=float, nargs='+', default=[1e-4, 3e-4, 1e-3])
    a = ap.parse_args(argv)
    out, manifest = prepare_bench(a, f'lrs {a.lrs}')
    arms = {f'lr{lr:g}': (dict(lr=lr), contextlib.nullcontext) for lr in a.lrs}
    runs = train_arms(arms, manifest, out, a)
    summary = arms_table(runs, arms, 'Adam lr')
    (out / 'bench_cnn_lr.json').write_text(json.dumps(dict(vars(a), summary=summary, runs=runs), indent=2) + '\n')


if __name__ == '__main__':
    main()
