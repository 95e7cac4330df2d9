"""An independent audit of a split's leakage: re-captures of one smear field found by a method the package does not
use yet (issue 9), so that the share of val/test images with a re-capture in train is measured from outside.

    python bench/audit_recaptures.py --data ../shared/data/leukemia-all --manifest SPLIT/manifest.csv [...] [--cache DIR]

Re-capture detector for the ALL smear images: SIFT keypoints with the scale-bar overlay removed, candidate partners
by approximate nearest neighbours voting for one shift, verification by exact matching and a translation-only
consensus. Small functions, one concern each, so they can move into notebook cells."""
from __future__ import annotations
import hashlib, json, os, threading, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import numpy as np, pandas as pd, cv2

# ---------------------------------------------------------------- overlay
OVERLAY_BOX = (188, 186)  # (y0, x0) of the bottom-right rectangle that holds every scale-bar style, in 224-px frames


def overlay_mask(shape, box=OVERLAY_BOX, ref: int = 224) -> np.ndarray:
    "uint8 mask (255 = overlay) of the bottom-right scale-bar rectangle, scaled from a `ref`-px frame to `shape`."
    h, w = shape[:2]
    m = np.zeros((h, w), np.uint8)
    m[int(round(box[0] * h / ref)):, int(round(box[1] * w / ref)):] = 255
    return m


def remove_overlay(grey: np.ndarray, box=OVERLAY_BOX, sigma: float = 10.0, feather: float = 8.0) -> np.ndarray:
    "The grey image with the overlay rectangle replaced by a blur of its surroundings, blended in over `feather` px."
    m = (overlay_mask(grey.shape, box) == 0).astype(np.float32)
    g = grey.astype(np.float32)
    fill = cv2.GaussianBlur(g * m, (0, 0), sigma) / np.maximum(cv2.GaussianBlur(m, (0, 0), sigma), 1e-3)
    dist = cv2.distanceTransform((m > 0).astype(np.uint8), cv2.DIST_L2, 3)  # px from the rectangle, 0 inside
    alpha = np.clip(1 - dist / feather, 0, 1)
    return (g * (1 - alpha) + fill * alpha).clip(0, 255).astype(np.uint8)


# ---------------------------------------------------------------- features
SIFT_PARAMS = dict(nfeatures=0, nOctaveLayers=3, contrastThreshold=0.04, edgeThreshold=10, sigma=1.6)
FEATURE_VERSION = 'sift4'  # bump when the extraction changes: the cache key includes it


def read_grey(path, size: int = 224) -> np.ndarray:
    "Image as a uint8 grey array of `size`x`size` (resized when the file has another size)."
    g = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if g is None: raise ValueError(f'cannot read {path}')
    if g.shape != (size, size): g = cv2.resize(g, (size, size), interpolation=cv2.INTER_AREA)
    return g


def stretch_contrast(grey: np.ndarray, lo: float = 0.5, hi: float = 99.5) -> np.ndarray:
    "Grey levels mapped linearly so that the `lo` and `hi` percentiles span 0-255 (pale smears get full contrast)."
    a, b = np.percentile(grey, [lo, hi])
    return np.clip((grey.astype(np.float32) - a) * (255 / max(b - a, 1.0)), 0, 255).astype(np.uint8)


def sift_features(grey: np.ndarray, box=OVERLAY_BOX, margin: float = 4.0) -> dict:
    "SIFT keypoints of `grey` with the overlay filled in and none within `margin` px of it: xy, size, angle, desc."
    g = stretch_contrast(remove_overlay(grey, box))
    kps, desc = cv2.SIFT_create(**SIFT_PARAMS).detectAndCompute(g, None)
    xy = np.array([k.pt for k in kps], np.float32).reshape(-1, 2)
    keep = ~((xy[:, 1] > box[0] * grey.shape[0] / 224 - margin) & (xy[:, 0] > box[1] * grey.shape[1] / 224 - margin))
    desc = np.zeros((0, 128), np.uint8) if desc is None else np.clip(np.round(desc), 0, 255).astype(np.uint8)
    return dict(xy=xy[keep], size=np.array([k.size for k in kps], np.float32)[keep],
                angle=np.array([k.angle for k in kps], np.float32)[keep], desc=desc[keep])


def feature_cache_dir(cache_root) -> Path:
    "Folder of cached features for this extractor version and parameters (a change of either starts a new folder)."
    key = hashlib.md5(json.dumps([FEATURE_VERSION, SIFT_PARAMS, OVERLAY_BOX], sort_keys=True).encode()).hexdigest()[:8]
    return Path(cache_root) / f'{FEATURE_VERSION}-{key}'


def load_or_compute(path, md5: str, cache: Path | None) -> dict:
    "Features of one image, read from `cache/<md5>.npz` when present, else computed and written there."
    f = None if cache is None else Path(cache) / f'{md5}.npz'
    if f is not None and f.is_file():
        with np.load(f, allow_pickle=False) as z: return {k: z[k] for k in z.files}
    feats = sift_features(read_grey(path))
    if f is not None:
        tmp = f.with_name(f'.{f.stem}.{os.getpid()}.{threading.get_ident()}.tmp.npz')
        np.savez(tmp, **feats); os.replace(tmp, f)
    return feats


def image_features(paths, md5s, cache_root=None, workers: int = 2) -> list[dict]:
    "Features of every image (threads; OpenCV releases the GIL), each distinct file once, cached by md5 when asked."
    cache = None
    if cache_root is not None:
        cache = feature_cache_dir(cache_root); cache.mkdir(parents=True, exist_ok=True)
    first = {}
    for p, m in zip(paths, md5s): first.setdefault(m, p)
    cv2.setNumThreads(1)
    with ThreadPoolExecutor(workers) as ex:
        done = dict(zip(first, ex.map(lambda m: load_or_compute(first[m], m, cache), first)))
    return [done[m] for m in md5s]


# ---------------------------------------------------------------- pair verification
def rootsift(desc: np.ndarray) -> np.ndarray:
    "RootSIFT descriptors (square root of the L1-normalised SIFT histogram): unit L2 norm, compared by dot product."
    d = desc.astype(np.float32)
    return np.sqrt(d / (d.sum(1, keepdims=True) + 1e-7))


def mutual_matches(da: np.ndarray, db: np.ndarray, min_sim: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    "Index pairs (i in a, j in b) that are each other's most similar descriptor, with similarity >= `min_sim`."
    if len(da) == 0 or len(db) == 0: return np.zeros(0, int), np.zeros(0, int)
    S = da @ db.T
    j = S.argmax(1); i = np.arange(len(da))
    ok = (S.argmax(0)[j] == i) & (S[i, j] >= min_sim)
    return i[ok], j[ok]


def same_shape(fa: dict, fb: dict, i, j, max_log_scale: float = 0.25, max_angle: float = 20.0) -> np.ndarray:
    "Matches whose keypoints have the same size and orientation (a pure translation keeps both)."
    ls = np.abs(np.log(fb['size'][j] / fa['size'][i]))
    da = np.abs((fb['angle'][j] - fa['angle'][i] + 180) % 360 - 180)
    return (ls <= max_log_scale) & (da <= max_angle)


def translation_consensus(xa: np.ndarray, xb: np.ndarray, tol: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    "Largest set of matches agreeing on one shift (within `tol` px): inlier mask and the median shift (dx, dy)."
    if len(xa) == 0: return np.zeros(0, bool), np.zeros(2, np.float32)
    s = xb - xa
    agree = np.abs(s[:, None, :] - s[None, :, :]).max(-1) <= tol
    best = agree.sum(1).argmax()
    shift = np.median(s[agree[best]], 0)
    inl = np.abs(s - shift).max(1) <= tol
    return inl, np.median(s[inl], 0)


def distinct_points(xy: np.ndarray, cell: float = 2.0) -> int:
    "Number of distinct positions among `xy` (SIFT repeats a keypoint once per dominant orientation)."
    q = np.floor(xy / cell).astype(np.int64)
    return len(np.unique(q[:, 0] * 100003 + q[:, 1]))


def overlap_fraction(dx: float, dy: float, size: int = 224) -> float:
    "Share of the frame that two captures shifted by (dx, dy) have in common."
    return float(max(0.0, size - abs(dx)) * max(0.0, size - abs(dy)) / size ** 2)


def similarity_fit(xa: np.ndarray, xb: np.ndarray) -> tuple[float, float]:
    "Scale and rotation (degrees) of the least-squares similarity mapping the inlier points `xa` onto `xb`."
    if len(xa) < 3: return float('nan'), float('nan')
    a, b = xa - xa.mean(0), xb - xb.mean(0)
    za, zb = a[:, 0] + 1j * a[:, 1], b[:, 0] + 1j * b[:, 1]
    den = float((np.conj(za) @ za).real)
    if den < 1e-6: return float('nan'), float('nan')
    z = (np.conj(za) @ zb) / den
    return float(abs(z)), float(np.degrees(np.angle(z)))


def verify_pair(fa: dict, fb: dict, tol: float = 1.5, min_sim: float = 0.0) -> dict:
    "Evidence that images a and b show the same field shifted: inliers, shift (dx, dy: b = a + shift), overlap, fit."
    i, j = mutual_matches(fa['rs'], fb['rs'], min_sim)
    ok = same_shape(fa, fb, i, j); i, j = i[ok], j[ok]
    inl, (dx, dy) = translation_consensus(fa['xy'][i], fb['xy'][j], tol)
    pa, pb = fa['xy'][i][inl], fb['xy'][j][inl]
    scale, rot = similarity_fit(pa, pb)
    return dict(inliers=distinct_points(pa), matches=int(len(i)), shift_x=float(dx), shift_y=float(dy),
                overlap=overlap_fraction(dx, dy), spread=float(np.sqrt(pa.var(0).sum())) if len(pa) else 0.0,
                scale=scale, rotation=rot)


# ---------------------------------------------------------------- candidate partners
def stack_features(feats: list[dict]) -> dict:
    "All keypoints of a list of images in one table: image index, xy, size, angle and RootSIFT descriptor."
    n = [len(f['xy']) for f in feats]
    return dict(img=np.repeat(np.arange(len(feats)), n), xy=np.concatenate([f['xy'] for f in feats]),
                size=np.concatenate([f['size'] for f in feats]), angle=np.concatenate([f['angle'] for f in feats]),
                rs=np.concatenate([f['rs'] for f in feats]))


def pca_basis(x: np.ndarray, dims: int, sample: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    "Mean and top `dims` principal axes of the rows of `x` (from a seeded sample), for a faster neighbour index."
    rng = np.random.default_rng(seed)
    s = x[rng.choice(len(x), min(sample, len(x)), replace=False)]
    mu = s.mean(0)
    _, _, vt = np.linalg.svd(s - mu, full_matrices=False)
    return mu, vt[:dims]


def neighbour_pairs(x: np.ndarray, k: int = 4, trees: int = 1, checks: int = 8, seed: int = 0):
    "Approximate `k` nearest neighbours of every row of `x` (FLANN k-d forest, seeded): arrays (row, neighbour row)."
    x = np.ascontiguousarray(x, dtype=np.float32)
    cv2.setRNGSeed(seed)  # the k-d forest picks split dimensions at random: seed this thread's OpenCV RNG
    index = cv2.flann_Index(x, dict(algorithm=1, trees=trees))
    nn, _ = index.knnSearch(x, k + 1, params=dict(checks=checks))
    q = np.repeat(np.arange(len(x)), k + 1)
    return q, nn.ravel().astype(np.int64)


def cross_image_pairs(img: np.ndarray, q: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    "Neighbour pairs of keypoints of two different images, each once, ordered so that img[q] < img[r]."
    sw = img[q] > img[r]
    q, r = np.where(sw, r, q), np.where(sw, q, r)
    keep = img[q] != img[r]
    u = np.unique(q[keep] * len(img) + r[keep])
    return u // len(img), u % len(img)


def shift_votes(st: dict, q: np.ndarray, r: np.ndarray, n_img: int, bin_px: float = 8.0, offset: float = 0.0):
    "Count, per image pair and shift bin, the keypoint pairs (img[q] < img[r]) with the same size and angle."
    a, b = st['img'][q], st['img'][r]
    ls = np.abs(np.log(st['size'][r] / st['size'][q]))
    da = np.abs((st['angle'][r] - st['angle'][q] + 180) % 360 - 180)
    keep = (ls <= 0.25) & (da <= 20)
    q, r, a, b = q[keep], r[keep], a[keep], b[keep]
    s = np.floor((st['xy'][r] - st['xy'][q] + offset) / bin_px).astype(np.int64) + 64
    key = ((a * n_img + b) * 128 + s[:, 0]) * 128 + s[:, 1]
    u, c = np.unique(key, return_counts=True)
    return u // (128 * 128), c


def candidate_pairs(feats: list[dict], min_votes: int = 2, k: int = 4, dims: int = 32, checks: int = 8,
                    bin_px: float = 8.0) -> pd.DataFrame:
    "Image pairs (i < j) whose keypoint neighbours vote at least `min_votes` times for one shift bin."
    if len(feats) < 2: return pd.DataFrame(columns=['i', 'j', 'votes'])
    st = stack_features(feats)
    mu, basis = pca_basis(st['rs'], dims)
    q, r = cross_image_pairs(st['img'], *neighbour_pairs((st['rs'] - mu) @ basis.T, k=k, checks=checks))
    n = len(feats)
    best = {}
    for off in (0.0, bin_px / 2):  # two shifted grids: a cluster cut by one grid's bin edge is whole in the other
        pair, c = shift_votes(st, q, r, n, bin_px, off)
        s = pd.Series(c).groupby(pair).max()
        for p, v in s[s >= min_votes].items(): best[p] = max(best.get(p, 0), int(v))
    out = pd.DataFrame({'i': [p // n for p in best], 'j': [p % n for p in best], 'votes': list(best.values())})
    return out.sort_values(['i', 'j']).reset_index(drop=True)


# ---------------------------------------------------------------- groups
MIN_INLIERS = 10  # twice the most inliers seen in 298,022 unrelated pairs (5)


def with_rootsift(feats: list[dict]) -> list[dict]:
    "The features with their RootSIFT descriptors added as `rs`."
    return [dict(f, rs=rootsift(f['desc'])) for f in feats]


def identical_pairs(md5s, labels) -> pd.DataFrame:
    "Pairs (i < j) of byte-identical files: each later copy against the first, with `same_class`."
    first, rows = {}, []
    for j, m in enumerate(md5s):
        i = first.setdefault(m, j)
        if i != j: rows.append((i, j, labels[i] == labels[j]))
    return pd.DataFrame(rows, columns=['i', 'j', 'same_class'])


def verify_candidates(feats: list[dict], cands: pd.DataFrame, idx) -> pd.DataFrame:
    "Evidence for every candidate pair; `idx` maps the class-local indices of `cands` to global indices."
    rows = []
    for i, j, v in zip(cands.i, cands.j, cands.votes):
        rows.append(dict(i=int(idx[i]), j=int(idx[j]), votes=int(v), **verify_pair(feats[i], feats[j])))
    return pd.DataFrame(rows, columns=['i', 'j', 'votes', 'inliers', 'matches', 'shift_x', 'shift_y', 'overlap',
                                       'spread', 'scale', 'rotation'])


def union_find_groups(n: int, pairs) -> np.ndarray:
    "Component index of each of `n` items joined by `pairs`, numbered by each component's first item."
    parent = list(range(n))
    def find(i):
        while parent[i] != i: parent[i] = parent[parent[i]]; i = parent[i]
        return i
    for i, j in pairs:
        ri, rj = find(int(i)), find(int(j))
        if ri != rj: parent[max(ri, rj)] = min(ri, rj)
    roots = [find(i) for i in range(n)]
    ids = {r: k for k, r in enumerate(sorted(set(roots)))}
    return np.array([ids[r] for r in roots])


def recapture_pairs(feats: list[dict], labels, workers: int = 2, **cand_kw) -> pd.DataFrame:
    "Verified evidence for the candidate pairs of each class (never across classes); classes run on `workers` threads."
    labels = np.asarray(labels)
    def one(c):
        idx = np.flatnonzero(labels == c)
        fc = [feats[k] for k in idx]
        return verify_candidates(fc, candidate_pairs(fc, **cand_kw), idx)
    classes = sorted(set(labels), key=lambda c: -int((labels == c).sum()))  # largest first: balanced threads
    with ThreadPoolExecutor(workers) as ex: out = list(ex.map(one, classes))
    return pd.concat(out, ignore_index=True).sort_values(['i', 'j']).reset_index(drop=True)


def find_groups(paths, labels, md5s, cache_root=None, min_inliers: int = MIN_INLIERS, workers: int = 2,
                **cand_kw) -> tuple[np.ndarray, pd.DataFrame, dict]:
    "Group per image (same field, same class), the evidence table of the joining pairs, and timings."
    t = {'start': time.perf_counter(), 'cpu': time.process_time()}
    labels = list(labels); md5s = list(md5s)
    feats = with_rootsift(image_features(paths, md5s, cache_root, workers))
    t['features'] = time.perf_counter() - t['start']
    same = identical_pairs(md5s, labels)
    ev = recapture_pairs(feats, labels, workers, **cand_kw)
    t['pairs'] = time.perf_counter() - t['start'] - t['features']
    ev = ev.assign(kind='shifted')
    ident = same.assign(kind=np.where(same.same_class, 'identical', 'identical, two classes')).drop(columns='same_class')
    keep = ev[ev.inliers >= min_inliers]
    joined = pd.concat([ident[ident.kind == 'identical'], keep], ignore_index=True)
    groups = union_find_groups(len(labels), list(zip(joined.i, joined.j)))
    t['wall'] = time.perf_counter() - t.pop('start'); t['cpu'] = time.process_time() - t['cpu']
    return groups, pd.concat([ident, ev], ignore_index=True), t


def cross_class_pairs(feats: list[dict], labels, **cand_kw) -> pd.DataFrame:
    "Verified evidence for candidate pairs of images under two different classes (to report, never to join)."
    labels = np.asarray(labels)
    c = candidate_pairs(feats, **cand_kw)
    c = c[labels[c.i.to_numpy()] != labels[c.j.to_numpy()]] if len(c) else c
    return verify_candidates(feats, c, np.arange(len(feats)))


def leakage(manifest, group_of: dict) -> dict:
    "Share of val and test images of a manifest with a re-capture (same group, another image) in train."
    m = pd.read_csv(manifest, dtype=str)
    g = m.path.map(group_of)
    if g.isna().any(): raise SystemExit(f'{manifest}: {int(g.isna().sum())} paths not among the audited images')
    train = set(g[m.split == 'train'])
    return {s: float(g[m.split == s].isin(train).mean()) for s in ('val', 'test')}


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', required=True, help='dataset folder holding Original/<Class>/*.jpg')
    ap.add_argument('--manifest', nargs='*', default=[], help='manifest.csv files written by `leukemia-detection split`')
    ap.add_argument('--cache', default=None, help='folder for the per-image features (.npz by md5)')
    ap.add_argument('--min-inliers', type=int, default=MIN_INLIERS)
    ap.add_argument('--out', default=None, help='write the evidence table (CSV) here')
    a = ap.parse_args(argv)
    root = Path(a.data) / 'Original'
    paths = sorted(p for p in root.glob('*/*') if p.suffix.lower() in ('.jpg', '.jpeg', '.png'))
    rel = [p.relative_to(root).as_posix() for p in paths]
    labels = [p.parent.name for p in paths]
    md5s = [hashlib.md5(p.read_bytes()).hexdigest() for p in paths]
    groups, ev, t = find_groups(paths, labels, md5s, a.cache, a.min_inliers)
    sizes = pd.Series(groups).value_counts()
    multi = sizes[sizes > 1]
    print(f'{len(paths)} images; {len(multi)} groups of re-captures covering {int(multi.sum())} images; '
          f'largest {int(sizes.max())}; {int((ev.inliers >= a.min_inliers).sum() if "inliers" in ev else 0)} shifted '
          f'pairs with >= {a.min_inliers} inliers; {int((ev.kind == "identical").sum())} identical pairs; '
          f'{int((ev.kind == "identical, two classes").sum())} identical across classes')
    print(f'time: {t["wall"]:.1f} s wall, {t["cpu"]:.1f} s CPU (features {t["features"]:.1f} s)')
    if a.out: ev.to_csv(a.out, index=False)
    group_of = dict(zip(rel, groups))
    for mf in a.manifest:
        lk = leakage(mf, group_of)
        print(f'{mf}: val {100 * lk["val"]:.1f}%, test {100 * lk["test"]:.1f}% of images have a re-capture in train')


if __name__ == '__main__': main()
