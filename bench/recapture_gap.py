"""How much easier are the test images whose field has a re-capture in train? Accuracy on them against the others.

    python bench/recapture_gap.py --split runs/split_random42 --runs runs/ls/random_s0 runs/ls/random_s1 runs/ls/random_s2

For each run folder (written by `train_cnn` on the split's manifest): its accuracy on the test images whose duplicate
group also has an image in train (`data.duplicate_in_split`) and on the others, and the gap. Then the gap of the runs'
mean correctness (the seeds average the training noise, not the test set's) with a 95% percentile interval from a
bootstrap over the test images' duplicate groups (`--n-boot` draws), so that re-captures of one field are resampled
together. On the grouped split no test image has a re-capture in train, and the script says so.
"""
import argparse, json
from pathlib import Path
import numpy as np, pandas as pd
from leukemia_detection.data import duplicate_in_split


def correct_by_image(manifest: pd.DataFrame, runs, split: str) -> tuple[pd.DataFrame, np.ndarray]:
    "The split's rows of the manifest (path, group, leaked) and a runs × images array of 1 where a run was right."
    rows = manifest[manifest.split == split].assign(leaked=duplicate_in_split(manifest, split, 'train'))
    right = []
    for run in runs:
        p = pd.read_csv(Path(run) / f'predictions_{split}.csv')
        p = rows[['path']].merge(p, on='path', how='left', validate='1:1')
        if p.pred.isna().any():
            raise SystemExit(f'{run}: predictions_{split}.csv lacks {int(p.pred.isna().sum())} of the split\'s images '
                             f'(e.g. {p.path[p.pred.isna()].iloc[0]}); fix: pass runs trained on this split')
        right.append((p.label == p.pred).to_numpy(float))
    return rows.reset_index(drop=True), np.stack(right)


def gap(right: np.ndarray, leaked: np.ndarray, weights: np.ndarray) -> np.ndarray:
    "Weighted accuracy on leaked images minus that on the others; `weights`: draws × images (or one row)."
    def acc(mask): return (weights * right * mask).sum(-1) / (weights * mask).sum(-1)
    return acc(leaked) - acc(~leaked)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--split', required=True, help='folder of manifest.csv (from `leukemia-detection split`)')
    ap.add_argument('--runs', nargs='+', required=True, help='run folders trained on that split')
    ap.add_argument('--images', default='test', choices=['val', 'test'], help='the images of this split')
    ap.add_argument('--n-boot', type=int, default=4000)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', help='write the figures to this JSON file')
    a = ap.parse_args(argv)
    rows, right = correct_by_image(pd.read_csv(Path(a.split) / 'manifest.csv'), a.runs, a.images)
    leaked = rows.leaked.to_numpy()
    if leaked.all() or not leaked.any():
        raise SystemExit(f'{a.split}: {int(leaked.sum())} of {len(leaked)} {a.images} images have a re-capture in '
                         f'train; no gap to measure (a grouped split leaks none)')
    ones = np.ones(len(rows))
    per_run = [dict(run=str(r), leaked=float(right[i][leaked].mean()), others=float(right[i][~leaked].mean()),
                    gap=float(gap(right[i], leaked, ones))) for i, r in enumerate(a.runs)]
    for r in per_run:
        print(f"{r['run']}: {r['leaked']:.1%} of {leaked.sum()} with a re-capture in train, {r['others']:.1%} of the "
              f"other {(~leaked).sum()}: gap {100 * r['gap']:+.1f} points")
    units, inverse = np.unique(rows.group, return_inverse=True)
    draws = np.random.default_rng(a.seed).integers(0, len(units), (a.n_boot, len(units)))
    weights = np.stack([np.bincount(d, minlength=len(units)) for d in draws])[:, inverse]   # draws × images
    mean_right = right.mean(0)
    with np.errstate(invalid='ignore'): boot = gap(mean_right, leaked, weights)
    boot = boot[~np.isnan(boot)]                      # a draw with no leaked (or no other) image has no gap
    lo, hi = np.quantile(boot, [0.025, 0.975])
    point = float(gap(mean_right, leaked, ones))
    print(f'mean of {len(a.runs)} runs: gap {100 * point:+.1f} points, 95% interval {100 * lo:+.1f} to {100 * hi:+.1f} '
          f'(bootstrap over {len(units)} duplicate groups, {len(boot)} of {a.n_boot} draws with both kinds of image)')
    if a.out:
        result = dict(vars(a), n_leaked=int(leaked.sum()), n_others=int((~leaked).sum()), per_run=per_run, gap=point,
                      gap_ci95=[float(lo), float(hi)], draws_used=len(boot))
        Path(a.out).write_text(json.dumps(result, indent=2) + '\n')


if __name__ == '__main__':
    main()
