"""A second, independent re-capture detector, to measure the package's groups from outside (issue 9): recall of its
groups, the pairs it misses, and the leakage of a split by this method's own groups.

    python bench/recall_recaptures.py --data ../shared/data/leukemia-all --split SPLIT [--work DIR] [--classes ...]

Pixels, not keypoints: each `Original/` image at half resolution (112 px), band-passed (minus a Gaussian blur), the
scale-bar rectangle masked out; for every pair of images of one class, the normalised cross-correlation of the two
frames over their common unmasked area at every shift that leaves at least 8% of the frame in common (masked NCC
computed with FFTs, after Padfield, "Masked object registration in the Fourier domain", IEEE TIP 2012); the best
shift is kept. A pair is a re-capture by this method when its NCC is at least --ncc over at least --min-overlap of
the frame. All 1.4 M within-class pairs of the 3,256 images take about 29 CPU-minutes; each class's table is written to
--work and reused.
"""
from __future__ import annotations
import argparse, time
from pathlib import Path
import numpy as np, pandas as pd, cv2, torch

H = 112                                  # working size: half of the 224-px frame
BOX = (188 // 2 - 2, 186 // 2 - 2)       # the scale-bar rectangle at half resolution, with a 2-px margin


def band_passed(path) -> np.ndarray:
    "The image as a float grey `H`x`H` array minus its Gaussian blur (sigma 8 px): cells, not illumination."
    g = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if g is None: raise SystemExit(f'cannot read {path}')
    g = cv2.resize(g.astype(np.float32), (H, H), interpolation=cv2.INTER_AREA)
    return g - cv2.GaussianBlur(g, (0, 0), 8)


def valid_mask() -> np.ndarray:
    "1 where a pixel is compared, 0 on the scale-bar rectangle."
    m = np.ones((H, H), np.float32); m[BOX[0]:, BOX[1]:] = 0
    return m


def correlate(Fa, Fb):
    "c(s) = sum_p a(p) b(p + s) for every shift s in [-H, H) (wrapped), from zero-padded spectra."
    return torch.fft.irfft2(Fa.conj() * Fb, s=(2 * H, 2 * H))


def best_shifts(paths, min_overlap: float = 0.08, keep: float = 0.3, block: int = 128) -> pd.DataFrame:
    "Best masked NCC, its shift (full-resolution px, b = a + shift) and overlap for every pair a < b with NCC >= keep."
    m = valid_mask()
    x = torch.from_numpy(np.stack([band_passed(p) for p in paths]) * m)
    F1, F2 = torch.fft.rfft2(x, s=(2 * H, 2 * H)), torch.fft.rfft2(x * x, s=(2 * H, 2 * H))
    Fm = torch.fft.rfft2(torch.from_numpy(m), s=(2 * H, 2 * H))
    N = correlate(Fm, Fm)                                    # pixels in common at each shift
    Sb_all, Sbb_all = correlate(Fm[None], F1), correlate(Fm[None], F2)
    Nc = N.clamp(min=1)
    rows = []
    for a in range(len(paths) - 1):
        Sa, Saa = correlate(F1[a], Fm), correlate(F2[a], Fm)
        for s in range(a + 1, len(paths), block):
            bs = torch.arange(s, min(s + block, len(paths)))
            Sb, Sbb = Sb_all[bs], Sbb_all[bs]
            num = correlate(F1[a][None], F1[bs]) - Sa * Sb / Nc
            den = torch.sqrt((Saa - Sa * Sa / Nc).clamp(min=1e-6) * (Sbb - Sb * Sb / Nc).clamp(min=1e-6))
            ncc = torch.where(N >= min_overlap * H * H, num / den, torch.tensor(-1.0))
            v, k = ncc.flatten(1).max(1)
            dy, dx = k // (2 * H), k % (2 * H)
            dy = torch.where(dy >= H, dy - 2 * H, dy); dx = torch.where(dx >= H, dx - 2 * H, dx)
            for b, vv, sx, sy, o in zip(bs.tolist(), v.tolist(), (2 * dx).tolist(), (2 * dy).tolist(),
                                        (N.flatten()[k] / (H * H)).tolist()):
                if vv >= keep: rows.append((a, b, vv, sx, sy, o))
    return pd.DataFrame(rows, columns=['a', 'b', 'ncc', 'shift_x', 'shift_y', 'overlap'])


def class_table(root: Path, names: list[str], cls: str, work: Path) -> pd.DataFrame:
    "`best_shifts` of one class's images (paths relative to `root`), read from `work` when computed before."
    f = work / f'ncc_{cls}_{len(names)}.csv'
    if f.is_file(): return pd.read_csv(f)
    t = time.process_time()
    df = best_shifts([root / n for n in names])
    df['a'] = [names[i] for i in df.a]; df['b'] = [names[i] for i in df.b]
    df.to_csv(f, index=False)
    print(f'{cls}: {len(names) * (len(names) - 1) // 2} pairs in {time.process_time() - t:.0f} s CPU', flush=True)
    return df


def union_groups(names, pairs) -> dict:
    "name -> group id, joining `pairs` (union-find)."
    parent = {n: n for n in names}
    def find(n):
        while parent[n] != n: parent[n] = parent[parent[n]]; n = parent[n]
        return n
    for a, b in pairs: parent[find(a)] = find(b)
    return {n: find(n) for n in names}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', required=True, help='dataset folder holding Original/<Class>/')
    ap.add_argument('--split', required=True, help='folder written by `leukemia-detection split` (manifest.csv)')
    ap.add_argument('--work', default='runs/recall_recaptures', help='where the per-class NCC tables are kept')
    ap.add_argument('--classes', nargs='*', default=None, help='default: every class of the manifest')
    ap.add_argument('--ncc', type=float, default=0.85, help='NCC that makes a pair a re-capture by this method')
    ap.add_argument('--min-overlap', type=float, default=0.10, help='share of the frame in common it needs')
    a = ap.parse_args(argv)
    torch.set_num_threads(1); cv2.setNumThreads(1)
    root, work = Path(a.data) / 'Original', Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    m = pd.read_csv(Path(a.split) / 'manifest.csv', dtype=str)
    classes = a.classes or sorted(m.label.unique())
    ncc = pd.concat([class_table(root, sorted(m.path[m.label == c]), c, work).assign(label=c) for c in classes],
                    ignore_index=True)
    pos = ncc[(ncc.ncc >= a.ncc) & (ncc.overlap >= a.min_overlap)]
    group = dict(zip(m.path, m.group))
    same = np.array([group[x] == group[y] for x, y in zip(pos.a, pos.b)], bool)
    print(f'second method: {len(pos)} pairs with NCC >= {a.ncc} over >= {a.min_overlap:.0%} of the frame in '
          f'{", ".join(classes)}; in one group of the split: {int(same.sum())} '
          f'(recall {same.mean():.1%}); missed: {int((~same).sum())}')
    for c in classes:
        s = same[(pos.label == c).to_numpy()]
        print(f'  {c}: {int(s.sum())} / {len(s)}')
    if (~same).any(): print(pos[~same].round(3).to_string(index=False))
    mine = union_groups(list(m.path), zip(pos.a, pos.b))
    train = {mine[p] for p in m.path[m.split == 'train']}
    for s in ('val', 'test'):
        sub = m.path[m.split == s]
        print(f'{s}: {sum(mine[p] in train for p in sub) / len(sub):.1%} of images have a re-capture in train by the '
              'second method')
    pos.assign(same_group=same).to_csv(work / 'second_method_pairs.csv', index=False)


if __name__ == '__main__': main()
