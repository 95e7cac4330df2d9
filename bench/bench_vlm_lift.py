"""Benchmark: how far LoRA fine-tuning lifts the tiny random Qwen3-VL on the demo's synthetic images, over several
seeds, with and without the eight flips and quarter turns (`finetune_vlm(augment=...)`).

The images are those `leukemia-detection demo` makes (100 per class, 128 px, no re-captures), split by `prepare_split`
(grouped, seed 42: 280 train / 60 val / 60 test). Each run is `finetune_vlm(model='tiny', ...)` with the settings
below (02_qwen's slow test uses the same ones with seed 42); its best-validation adapter is scored on the test split
with `classify_images(method='score')`. For comparison, on the same test images: the tiny model zero-shot (`score`),
with 4 random training examples in the prompt, and the reference notebook's set-up (`sample`, reference prompt).
Printed: each run's best validation and test accuracy, and mean ± sd over the seeds for each arm.

    OMP_NUM_THREADS=1 python bench/bench_vlm_lift.py --out runs/bench_vlm_lift             # 4 seeds x 2 arms, ~18 min
    python bench/bench_vlm_lift.py --out runs/bench_vlm_lift_smoke --seeds 0 --epochs 1     # smoke test, ~1 min

Writes OUT/bench_vlm_lift.json; each run's adapter and finetune.json stay in OUT/aug{0,1}_s{seed}/.
"""
import argparse, json, platform, statistics as st, time
from inspect import signature
from pathlib import Path

import torch

from leukemia_detection.data import classification_metrics, load_manifest, make_synthetic_dataset, prepare_split
from leukemia_detection.pipeline import demo
from leukemia_detection.qwen import build_tiny_qwen3vl, classify_images, finetune_vlm, select_shots

SETTINGS = dict(model='tiny', lr=3e-3, rank=16, alpha=32, dropout=0.0, batch_size=8, grad_accum=1)


def test_accuracy(model, test, **kw) -> float:
    "Accuracy of `model` (a VLM or a folder) on the `test` rows of a manifest, by `classify_images`."
    table = classify_images(test.filepath, model, labels=test.label, progress=False, **kw)
    return classification_metrics(table)['accuracy']


def mean_sd(xs) -> str:
    return f'{st.mean(xs):.3f} ± {st.stdev(xs) if len(xs) > 1 else 0.0:.3f}'


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default='runs/bench_vlm_lift')
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 42])
    ap.add_argument('--epochs', type=int, default=20)
    args = ap.parse_args(argv)
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    split = out / 'split'
    if not (split / 'manifest.csv').exists():   # the images `demo` makes, with its own defaults
        n, size, every = (signature(demo).parameters[k].default for k in ('n_per_class', 'image_size', 'recapture_every'))
        prepare_split(make_synthetic_dataset(out / 'data', n, size, seed=0, recapture_every=every), split,
                      tree=False, verbose=False)
    m = load_manifest(split / 'manifest.csv'); test = m[m.split == 'test']
    tiny = build_tiny_qwen3vl()
    baselines = {'zero-shot (score)': test_accuracy(tiny, test),
                 'random few-shot, 4 examples (score)': test_accuracy(tiny, test, shots=select_shots(m, 1, 42)),
                 'reference set-up (sample)': test_accuracy(tiny, test, method='sample', prompt='reference')}
    runs = []
    for seed in args.seeds:
        for augment in (True, False):
            t0 = time.perf_counter()
            report = finetune_vlm(split, out / f'aug{int(augment)}_s{seed}', epochs=args.epochs, augment=augment,
                                  seed=seed, progress=False, **SETTINGS)
            runs.append(dict(seed=seed, augment=augment, best_epoch=report['best_epoch'],
                             best_val_accuracy=report['best_val_accuracy'],
                             test_accuracy=test_accuracy(Path(report['adapter']), test),
                             seconds=time.perf_counter() - t0))
            r = runs[-1]
            print(f'seed {seed:>3} augment {str(augment):<5}: best val {r["best_val_accuracy"]:.3f} (epoch '
                  f'{r["best_epoch"]}), test {r["test_accuracy"]:.3f}  [{r["seconds"]:.0f} s]', flush=True)
    counts = m.split.value_counts()
    print(f'\ntiny Qwen3-VL, demo images ({counts["train"]} train / {counts["val"]} val / {counts["test"]} test), '
          f'{args.epochs} epochs, {SETTINGS}, torch {torch.__version__}, {platform.processor() or platform.machine()}, '
          f'{torch.get_num_threads()} thread(s)')
    for name, acc in baselines.items(): print(f'  {name:<44} test {acc:.3f}')
    summary = {}
    for augment in (True, False):
        arm = [r for r in runs if r['augment'] == augment]
        name = f'LoRA, {"eight flips and turns" if augment else "no augmentation"} ({len(arm)} seeds)'
        summary[name] = dict(best_val=mean_sd([r['best_val_accuracy'] for r in arm]),
                             test=mean_sd([r['test_accuracy'] for r in arm]),
                             test_min=min(r['test_accuracy'] for r in arm))
        print(f'  {name:<44} test {summary[name]["test"]} (lowest {summary[name]["test_min"]:.3f}), '
              f'best val {summary[name]["best_val"]}')
    (out / 'bench_vlm_lift.json').write_text(json.dumps(dict(settings=dict(SETTINGS, epochs=args.epochs), baselines=baselines,
                                                             runs=runs, summary=summary), indent=1))


if __name__ == '__main__':
    main()
