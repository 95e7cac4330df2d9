"""Check the committed notebooks: no image of the ALL dataset anywhere in them, and the Colab path of each one.

    python tools/check_notebooks.py [NOTEBOOK ...]     # default: nbs/*.ipynb; exit 1 on any failure

Fails when
- an image in a notebook (an output, an image embedded in SVG/HTML/Markdown, a Markdown attachment), or an image file
  in the repository, is byte-identical to a dataset file (the dataset's MD5SUMS) or is a decoded copy of a dataset
  image: the whole picture, or a panel of a figure or a grid, resized, re-encoded, flipped or recoloured;
- a numbered notebook lacks the "Open in Colab" badge pointing at itself in the repository named in settings.ini
  (`user`, `repo`, `branch`), or lacks the install cell that acts only on Colab, or imports the package before it.
The dataset is found as the package finds it ($LEUKEMIA_DATA, else shared/data/leukemia-all beside a parent folder);
where it is absent (GitHub Actions) the image comparison is skipped with a note, and the other checks still run.
"""
import argparse, ast, base64, configparser, hashlib, io, json, os, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ('Benign', 'Early', 'Pre', 'Pro')
IMAGE_MIMES = ('image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/bmp')
IMAGE_EXTS = {'.png', '.jpg', '.jpeg', '.gif', '.webp', '.bmp', '.tif', '.tiff'}
THUMB = 32                          # side of the signatures compared (see `signature`)
CENTRE = 0.7                        # the share of each side of a picture its signature looks at
ANGLES = (-10, -7.5, -5, -2.5, 0, 2.5, 5, 7.5, 10)  # rotations tried back: the reference augmentation is ±10°
BLUR = 2                            # the high-pass filter of `signature`: the picture minus its Gaussian blur (pixels)
MATCH = 0.75                        # correlation above which a picture is taken for a copy of a dataset image
# Measured on the real dataset: copies resized, re-encoded, mirrored, turned ±10°, ImageNet-normalised, in a figure
# grid or a make_grid score 0.81-0.99; under a 30-60% Grad-CAM-style heatmap 0.82-0.95; the package's synthetic
# images and unrelated figures score below 0.45.
_re_data_uri = re.compile(r'data:image/(?:png|jpe?g|gif|webp);base64,([A-Za-z0-9+/=\s]+)')


# ------------------------------------------------------------------ settings and the dataset

def read_settings(root: Path = ROOT) -> dict:
    "settings.ini's [DEFAULT] section."
    cfg = configparser.ConfigParser(delimiters=['='])
    cfg.read(root / 'settings.ini', encoding='utf-8')
    return dict(cfg['DEFAULT'])


def find_dataset(root: Path = ROOT) -> Path | None:
    "The local ALL dataset: $LEUKEMIA_DATA, else shared/data/leukemia-all beside the repository or a folder above it."
    if os.environ.get('LEUKEMIA_DATA'):
        p = Path(os.environ['LEUKEMIA_DATA']).expanduser()
        return p if p.is_dir() else None
    for d in [root, *root.parents]:
        p = d / 'shared' / 'data' / 'leukemia-all'
        if p.is_dir(): return p
    return None


def dataset_files(data: Path) -> dict:
    "{md5: relative path} of the dataset, from its MD5SUMS when present, else by hashing its JPEGs."
    sums = data / 'MD5SUMS'
    if sums.exists():
        out = {}
        for line in sums.read_text(encoding='utf-8').splitlines():
            if line.strip():
                md5, name = line.split(None, 1)
                out[md5.lower()] = name.lstrip('*').strip()
        return out
    return {hashlib.md5(p.read_bytes()).hexdigest(): str(p.relative_to(data)) for p in sorted(data.rglob('*.jp*g'))}


def signature(img) -> 'np.ndarray':
    "What two copies of one picture share: the fine detail (a high-pass filter) of the central 70% of its grayscale "
    "version, as a zero-mean, unit-norm THUMB×THUMB vector. Resizing, re-encoding, normalisation, colour maps and "
    "smooth overlays (a Grad-CAM heatmap) change it little; unrelated pictures correlate below ~0.5."
    import numpy as np
    from PIL import Image, ImageFilter
    g = img.convert('L')
    w, h = g.size
    m = (1 - CENTRE) / 2
    c = g.crop((round(w * m), round(h * m), round(w * (1 - m)), round(h * (1 - m)))).resize((2 * THUMB, 2 * THUMB), Image.BOX)
    a = np.asarray(c, np.float32) - np.asarray(c.filter(ImageFilter.GaussianBlur(BLUR)), np.float32)
    a = a.reshape(THUMB, 2, THUMB, 2).mean((1, 3)).ravel()
    a -= a.mean()
    n = np.linalg.norm(a)
    return a / n if n > 1e-3 else np.zeros_like(a)


def variants(img) -> list:
    "A picture as it may have been shown: mirrored or not, turned back by each angle of a ±10° augmentation."
    from PIL import Image
    small = img.convert('L')
    if max(small.size) > 160: small = small.resize((160, round(160 * small.size[1] / small.size[0])) if small.size[0] >= small.size[1]
                                                   else (round(160 * small.size[0] / small.size[1]), 160), Image.BOX)
    return [f.rotate(a, resample=Image.BILINEAR) for f in (small, small.transpose(Image.FLIP_LEFT_RIGHT)) for a in ANGLES]


class DatasetIndex:
    "The dataset's md5s and the signatures of its images, to recognise copies."
    def __init__(self, data: Path):
        import numpy as np
        from PIL import Image
        self.data, self.md5s = data, dataset_files(data)
        names, sigs = [], []
        for name in sorted(set(self.md5s.values())):
            if Path(name).suffix.lower() not in IMAGE_EXTS or not (data / name).exists(): continue
            with Image.open(data / name) as im:
                im.draft('L', (3 * THUMB, 3 * THUMB))  # decode JPEGs at a reduced scale: fast
                sigs.append(signature(im))
            names.append(name)
        self.names = names
        self.sigs = np.stack(sigs) if sigs else np.zeros((0, THUMB * THUMB), np.float32)

    def __len__(self): return len(self.names)

    def closest(self, img) -> tuple[float, str]:
        "The best correlation of a picture (in any of its `variants`) with a dataset image, and that image's name."
        import numpy as np
        if not self.names: return 0.0, ''
        sims = np.stack([signature(v) for v in variants(img)]) @ self.sigs.T
        i, j = np.unravel_index(sims.argmax(), sims.shape)
        return float(sims[i, j]), self.names[j]


# ------------------------------------------------------------------ finding pictures inside a picture

def candidate_regions(img, min_side: int = 32) -> list[tuple]:
    "Boxes (left, top, right, bottom) that may hold one picture: the whole image, each roughly square blob on the "
    "background (a panel of a matplotlib figure), and each cell of a grid split by uniform lines (torchvision's make_grid)."
    import numpy as np
    from scipy import ndimage
    a = np.asarray(img.convert('RGB'), dtype=np.int16)
    h, w = a.shape[:2]
    boxes = [(0, 0, w, h)]
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    colours, counts = np.unique(border, axis=0, return_counts=True)
    background = colours[counts.argmax()]
    mask = np.abs(a - background).max(2) > 12
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3)))
    for sl in ndimage.find_objects(labels):
        if sl is None: continue
        top, bottom, left, right = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
        top, bottom, left, right = _trim(mask, top, bottom, left, right)
        if min(bottom - top, right - left) < min_side: continue
        boxes.append((left, top, right, bottom))
        boxes += _grid_cells(a, left, top, right, bottom, min_side)
    square = [b for b in boxes if 0.75 <= (b[2] - b[0]) / max(1, b[3] - b[1]) <= 1.33]
    return list(dict.fromkeys(square))


def _trim(mask, top, bottom, left, right, density=0.3):
    "Shrink a box while its edge rows/columns are mostly background (tick marks, stray labels)."
    while bottom - top > 2 and mask[top, left:right].mean() < density: top += 1
    while bottom - top > 2 and mask[bottom - 1, left:right].mean() < density: bottom -= 1
    while right - left > 2 and mask[top:bottom, left].mean() < density: left += 1
    while right - left > 2 and mask[top:bottom, right - 1].mean() < density: right -= 1
    return top, bottom, left, right


def _runs(flags) -> list[tuple[int, int]]:
    "The [start, stop) runs where `flags` is False."
    out, start = [], None
    for i, f in enumerate(list(flags) + [True]):
        if not f and start is None: start = i
        if f and start is not None: out.append((start, i)); start = None
    return out


def _grid_cells(a, left, top, right, bottom, min_side) -> list[tuple]:
    "The cells of a grid of pictures separated by uniform rows and columns of pixels."
    crop = a[top:bottom, left:right]
    rows = crop.std(axis=(1, 2)) < 2.0
    cols = crop.std(axis=(0, 2)) < 2.0
    if not rows.any() and not cols.any(): return []
    out = []
    for r0, r1 in _runs(rows):
        for c0, c1 in _runs(cols):
            if min(r1 - r0, c1 - c0) >= min_side: out.append((left + c0, top + r0, left + c1, top + r1))
    return out if len(out) > 1 else []


# ------------------------------------------------------------------ images in notebooks

def notebook_images(nb: dict) -> list[tuple[str, bytes]]:
    "Every image a notebook holds, as (where, bytes): outputs, images embedded in text outputs, attachments, data URIs."
    found = []
    for i, cell in enumerate(nb.get('cells', [])):
        where = f'cell {i}'
        for name, bundle in (cell.get('attachments') or {}).items():
            for mime, b64 in bundle.items():
                if mime.startswith('image/') and mime != 'image/svg+xml': found.append((f'{where} attachment {name}', _b64(b64)))
        texts = [''.join(cell.get('source', ''))]
        for k, out in enumerate(cell.get('outputs', [])):
            data = out.get('data', {})
            for mime, value in data.items():
                value = ''.join(value) if isinstance(value, list) else value
                if mime in IMAGE_MIMES: found.append((f'{where} output {k} ({mime})', _b64(value)))
                elif isinstance(value, str): texts.append(value)
        for t in texts:
            for m in _re_data_uri.finditer(t): found.append((f'{where} (embedded data URI)', _b64(m.group(1))))
    return found


def _b64(s) -> bytes:
    s = ''.join(s) if isinstance(s, list) else s
    try: return base64.b64decode(re.sub(r'\s+', '', s))
    except ValueError: return b''


def image_problems(where: str, data: bytes, index: 'DatasetIndex | None') -> list[str]:
    "Why an image must not be committed: it is a dataset file, or shows a dataset image; [] when it is fine."
    if index is None: return []
    md5 = hashlib.md5(data).hexdigest()
    if md5 in index.md5s: return [f'{where}: is the dataset file {index.md5s[md5]} (same bytes)']
    from PIL import Image
    try:
        img = Image.open(io.BytesIO(data)); img.load()
    except Exception:
        return []  # not a raster picture PIL can read (an SVG, say): nothing to compare
    if img.mode in ('RGBA', 'LA', 'P'):  # transparent parts of a figure are its background: white
        bg = Image.new('RGBA', img.size, (255, 255, 255, 255)); img = Image.alpha_composite(bg, img.convert('RGBA'))
    img = img.convert('RGB')
    hits = [(*index.closest(img.crop(b)), b) for b in candidate_regions(img)]
    hits = [h for h in hits if h[0] >= MATCH]
    if not hits: return []
    s, name, b = max(hits)
    return [f'{where}: shows the dataset image {name} (signature correlation {s:.3f} in the region {b}; '
            f'{len(hits)} matching region(s)). Commit this cell without outputs, or use synthetic images']


# ------------------------------------------------------------------ the Colab path

def colab_url(settings: dict, nb_rel: str) -> str:
    "The Open-in-Colab address of a notebook at `nb_rel` (relative to the repository root)."
    return f"https://colab.research.google.com/github/{settings['user']}/{settings['repo']}/blob/{settings['branch']}/{nb_rel}"


def colab_problems(nb: dict, nb_rel: str, settings: dict) -> list[str]:
    "A numbered notebook needs its own Colab badge and an install cell that acts on Colab only, before any package import."
    problems, want = [], colab_url(settings, nb_rel)
    markdown = '\n'.join(''.join(c.get('source', '')) for c in nb['cells'] if c['cell_type'] == 'markdown')
    badges = re.findall(r'\]\((https://colab\.research\.google\.com/github/[^)\s]+)\)', markdown)
    if want not in badges:
        problems.append(f'no Open-in-Colab badge pointing at itself: want [![Open In Colab]'
                        f'(https://colab.research.google.com/assets/colab-badge.svg)]({want})'
                        + (f'; found {", ".join(badges)}' if badges else ''))
    elif 'colab-badge.svg' not in markdown:
        problems.append('the Colab link has no badge image (https://colab.research.google.com/assets/colab-badge.svg)')
    code = [(i, ''.join(c.get('source', ''))) for i, c in enumerate(nb['cells']) if c['cell_type'] == 'code']
    repo = f"github.com/{settings['user']}/{settings['repo']}"
    install = next((i for i, s in code if 'google.colab' in s and re.search(r'pip', s) and repo in s), None)
    if install is None:
        problems.append(f"no install cell for Colab: a code cell that checks `'google.colab' in sys.modules` and only then "
                        f"pip-installs the package from git+https://{repo}")
    else:
        src = dict(code)[install]
        guarded = re.search(r'^\s*if\s+[^\n]*(IN_COLAB|google\.colab)', src, re.M)
        if not guarded: problems.append(f'cell {install}: the install cell does not act only on Colab (no `if IN_COLAB:`)')
        lib = settings.get('lib_name', 'leukemia_detection')
        first_import = next((i for i, s in code if _imports(s, lib)), None)
        if first_import is not None and first_import < install:
            problems.append(f'cell {first_import} imports {lib} before the Colab install cell (cell {install})')
    return problems


def _imports(source: str, lib: str) -> bool:
    "Whether a cell's code imports `lib` (directives and magics ignored)."
    code = '\n'.join(l for l in source.splitlines() if not l.lstrip().startswith(('%', '!')))
    try: tree = ast.parse(code)
    except SyntaxError: return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split('.')[0] == lib for a in node.names): return True
        if isinstance(node, ast.ImportFrom) and (node.module or '').split('.')[0] == lib: return True
    return False


# ------------------------------------------------------------------ the whole check

def repo_image_files(root: Path = ROOT) -> list[Path]:
    "Image files git would commit: tracked, or untracked and not ignored."
    try:
        names = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'], cwd=root,
                               capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return []
    return [root / n for n in names if Path(n).suffix.lower() in IMAGE_EXTS and (root / n).is_file()]


def check(notebooks: list[Path], index: 'DatasetIndex | None', settings: dict, root: Path = ROOT,
          image_files: list[Path] = ()) -> tuple[list[str], list[str]]:
    "(failures, warnings) for the notebooks and image files."
    fails, warns = [], []
    for path in notebooks:
        rel = path.resolve().relative_to(root.resolve()).as_posix() if path.resolve().is_relative_to(root.resolve()) else path.name
        try: nb = json.loads(path.read_text(encoding='utf-8'))
        except (OSError, ValueError) as e:
            fails.append(f'{rel}: cannot be read as a notebook: {e}'); continue
        for where, data in notebook_images(nb):
            fails += [f'{rel} {p}' for p in image_problems(where, data, index)]
        if re.match(r'\d', path.name):
            fails += [f'{rel}: {p}' for p in colab_problems(nb, rel, settings)]
        for i, c in enumerate(nb['cells']):
            if any(o.get('output_type') == 'error' for o in c.get('outputs', [])):
                warns.append(f'{rel}: cell {i} was committed with an error output')
    for f in image_files:
        fails += image_problems(f.relative_to(root).as_posix(), f.read_bytes(), index)
    return fails, warns


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('notebooks', nargs='*', type=Path, help='default: nbs/*.ipynb')
    args = p.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / 'nbs').glob('*.ipynb'))
    data = find_dataset()
    index = DatasetIndex(data) if data else None
    if index is None:
        print('notebook check: NOTE the ALL dataset is not here ($LEUKEMIA_DATA or ../shared/data/leukemia-all): '
              'images are not compared with it')
    fails, warns = check(notebooks, index, read_settings(), image_files=[] if args.notebooks else repo_image_files())
    for w in warns: print(f'notebook check: WARN {w}')
    for f in fails: print(f'notebook check: FAIL {f}')
    n_img = f', compared with {len(index)} dataset images' if index else ''
    print(f'notebook check: {len(notebooks)} notebook(s){n_img}: {len(fails)} failure(s), {len(warns)} warning(s)')
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
