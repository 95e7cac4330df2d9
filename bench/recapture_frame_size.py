"""What the re-capture search gains and loses when SIFT runs on a smaller frame: time, recall, and the null.

    python bench/recapture_frame_size.py --data ../shared/data/leukemia-all --split runs/split_sift42

For each frame size S the package's search runs with `SIFT_FRAME = S`: SIFT sees the overlay-free, contrast-stretched
frame resized to S px (keypoints mapped back to the 224-px frame), and the translation tolerance is 1.5 px of that frame
(1.5 * 224 / S px of the 224-px frame), as the package does for its own `SIFT_FRAME`. Printed
per size: SIFT milliseconds per image (one thread, `--timing` images), keypoints per image, CPU seconds of the candidate
and verification stage, the share of the second method's pairs (`second_method_pairs.csv`, written by
`bench/recall_recaptures.py`) that fall in one group at 8 and at `MIN_INLIERS` distinct inliers, and the most inliers
among `--null` random pairs of two different classes (no true match possible). Features are cached under --work.
"""
import argparse, functools, time
from pathlib import Path
import numpy as np, pandas as pd, cv2
import leukemia_detection.data as D


def recall(tab, md5s, labels, paths, second, threshold) -> tuple[float, int]:
    "Share (and count) of the second method's pairs in one group when pairs with >= `threshold` inliers are joined."
    first = {}
    for k, key in enumerate(zip(md5s, labels)): first.setdefault(key, k)
    j = tab[tab.inliers >= threshold]
    pairs = [(first[(a, l)], first[(b, l)]) for a, b, l in zip(j.md5_a, j.md5_b, j.label)]
    pairs += [(first[key], k) for k, key in enumerate(zip(md5s, labels)) if first[key] != k]   # identical files
    group = dict(zip(paths, D._union_find_groups(len(md5s), pairs)))
    same = np.array([group[a] == group[b] for a, b in zip(second.a, second.b)])
    return same.mean(), int(same.sum())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', required=True, help='dataset folder holding Original/<Class>/')
    ap.add_argument('--split', required=True, help='folder written by `leukemia-detection split` (manifest.csv)')
    ap.add_argument('--second', default='runs/recall_recaptures/second_method_pairs.csv',
                    help='pairs of the second method (written by bench/recall_recaptures.py)')
    ap.add_argument('--sizes', type=int, nargs='+', default=[224, 160, 112])
    ap.add_argument('--work', default='runs/recapture_frame_size')
    ap.add_argument('--null', type=int, default=20000)
    ap.add_argument('--timing', type=int, default=130)
    a = ap.parse_args(argv)
    cv2.setNumThreads(1)
    m = pd.read_csv(Path(a.split) / 'manifest.csv')
    root = Path(a.data) / 'Original'
    paths = [root / p for p in m.path]
    md5s, labels = [D.file_md5(p) for p in paths], m.label.tolist()
    second = pd.read_csv(a.second)
    units = pd.DataFrame({'md5': md5s, 'label': labels}).drop_duplicates().sort_values(['label', 'md5'])
    verify, frame = D.verify_pair, D.SIFT_FRAME
    tol = verify.__defaults__[0] * frame / 224                 # in px of SIFT's own frame
    print('| SIFT frame | ms/image | keypoints | pairs stage CPU s | recall, >= 8 | recall, >= '
          f'{D.MIN_INLIERS} | null max ({a.null} pairs) |\n|---|---|---|---|---|---|---|', flush=True)
    try:
        for size in a.sizes:
            D.SIFT_FRAME = size
            D.verify_pair = functools.partial(verify, tol=tol * 224 / size)
            grey = [D._stretch_contrast(D.remove_overlay(D.read_grey(p))) for p in paths[::len(paths) // a.timing]]
            grey = [g if size == 224 else cv2.resize(g, (size, size), interpolation=cv2.INTER_AREA) for g in grey]
            det = cv2.SIFT_create(**D.SIFT_PARAMS)
            t = time.perf_counter(); n = [len(det.detectAndCompute(g, None)[0]) for g in grey]
            ms = 1000 * (time.perf_counter() - t) / len(grey)
            feats = D.image_features(paths, md5s, Path(a.work) / f'frame{size}', workers=1)
            t = time.process_time()
            tab = D.recapture_table(feats, units, workers=1)
            cpu = time.process_time() - t
            r8 = recall(tab, md5s, labels, m.path, second, 8)
            r = recall(tab, md5s, labels, m.path, second, D.MIN_INLIERS)
            rng, lab, null = np.random.default_rng(0), np.array(labels), []
            while len(null) < a.null:
                i, j = rng.integers(0, len(md5s), 2)
                if lab[i] != lab[j]: null.append(D.verify_pair(feats[md5s[i]], feats[md5s[j]])['inliers'])
            print(f'| {size} px | {ms:.1f} | {np.mean(n):.0f} | {cpu:.0f} | {r8[0]:.1%} ({r8[1]}) | {r[0]:.1%} ({r[1]}) '
                  f'| {max(null)} |', flush=True)
    finally: D.verify_pair, D.SIFT_FRAME = verify, frame
    print(f'{len(second)} pairs of the second method; {len(md5s)} images; tolerance {tol:.2f} px of the SIFT frame')


if __name__ == '__main__': main()
