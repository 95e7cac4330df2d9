"""Tests of tools/check_notebooks.py on a stand-in dataset of generated pictures (no real image is needed or written):
copies of a dataset picture are caught however they are shown, other pictures pass; the Colab checks."""
import base64, hashlib, io, json, sys, tempfile, unittest
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import check_notebooks as cn  # noqa: E402

SETTINGS = {'user': 'someone', 'repo': 'proj', 'branch': 'main', 'lib_name': 'proj'}


def texture(seed: int, size: int = 224) -> Image.Image:
    "A random smear-like picture: round cells, some with a dark nucleus, on a grainy background."
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    a = np.full((size, size, 3), 200.0) + rng.normal(0, 6, (size, size, 3))
    for _ in range(60):
        cx, cy, r = rng.uniform(0, size, 2).tolist() + [rng.uniform(5, 14)]
        a[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = rng.uniform(60, 230, 3)
        if rng.random() < 0.3: a[(xx - cx) ** 2 + (yy - cy) ** 2 < (r / 2) ** 2] = rng.uniform(20, 90, 3)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def png(img) -> bytes:
    b = io.BytesIO(); img.save(b, 'PNG'); return b.getvalue()


def heatmap(size: int = 224) -> np.ndarray:
    "A smooth blob, as Grad-CAM draws over a picture."
    yy, xx = np.mgrid[0:size, 0:size]
    return np.exp(-((xx - 0.55 * size) ** 2 + (yy - 0.4 * size) ** 2) / (2 * (0.18 * size) ** 2))


def figure_png(pictures, overlay=None) -> bytes:
    "A matplotlib figure showing pictures in a grid with titles and axes, as a notebook would."
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axs = plt.subplots(1, len(pictures), figsize=(3 * len(pictures), 3.2))
    for ax, p in zip(np.atleast_1d(axs), pictures):
        ax.imshow(p); ax.set_title('Pro (pred Pre)', fontsize=8)
        if overlay is not None: ax.imshow(overlay, cmap='jet', alpha=0.5)
    b = io.BytesIO(); fig.savefig(b, format='png', dpi=80); plt.close(fig)
    return b.getvalue()


class TestImages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        root = Path(cls.tmp.name)
        lines = []
        for i in range(12):
            p = root / 'Original' / cn.CLASSES[i % 4] / f'img-{i:03d}.jpg'
            p.parent.mkdir(parents=True, exist_ok=True)
            texture(i).save(p, quality=90)
            lines.append(f'{hashlib.md5(p.read_bytes()).hexdigest()}  {p.relative_to(root).as_posix()}')
        (root / 'MD5SUMS').write_text('\n'.join(lines) + '\n')
        cls.root, cls.index = root, cn.DatasetIndex(root)
        cls.pic = Image.open(root / 'Original' / 'Early' / 'img-005.jpg').convert('RGB')

    @classmethod
    def tearDownClass(cls): cls.tmp.cleanup()

    def flagged(self, data: bytes) -> list[str]: return cn.image_problems('x', data, self.index)

    def test_copies_are_caught(self):
        self.assertIn('same bytes', self.flagged((self.root / 'Original' / 'Early' / 'img-005.jpg').read_bytes())[0])
        b = io.BytesIO(); self.pic.resize((150, 150)).save(b, 'JPEG', quality=60)
        for name, data in [('re-encoded, resized', b.getvalue()),
                           ('mirrored and turned 7°', png(self.pic.transpose(Image.FLIP_LEFT_RIGHT).rotate(7))),
                           ('a panel of a figure', figure_png([texture(100), self.pic, texture(101)])),
                           ('under a Grad-CAM-like heatmap', figure_png([self.pic], overlay=heatmap()))]:
            with self.subTest(name):
                problems = self.flagged(data)
                self.assertEqual(len(problems), 1, name)
                self.assertIn('img-005.jpg', problems[0])

    def test_other_pictures_pass(self):
        self.assertEqual(self.flagged(png(texture(999))), [])
        self.assertEqual(self.flagged(figure_png([texture(200), texture(201)])), [])
        import matplotlib; matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(); ax.imshow(np.arange(16).reshape(4, 4), cmap='Blues'); ax.plot([0, 3], [0, 3])
        b = io.BytesIO(); fig.savefig(b, format='png'); plt.close(fig)
        self.assertEqual(self.flagged(b.getvalue()), [])
        self.assertEqual(cn.image_problems('x', b'<svg/>', self.index), [])

    def test_images_found_everywhere_in_a_notebook(self):
        data = base64.b64encode(png(self.pic)).decode()
        nb = {'cells': [
            {'cell_type': 'code', 'source': '', 'outputs': [{'output_type': 'display_data', 'data': {'image/png': data}}]},
            {'cell_type': 'code', 'source': '', 'outputs': [{'output_type': 'display_data',
                                                            'data': {'text/html': f'<img src="data:image/png;base64,{data}">'}}]},
            {'cell_type': 'markdown', 'source': '![x](attachment:a.png)', 'attachments': {'a.png': {'image/png': data}}}]}
        found = cn.notebook_images(nb)
        self.assertEqual(len(found), 3)
        self.assertTrue(all(self.flagged(d) for _, d in found))


class TestColab(unittest.TestCase):
    badge = ('[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]'
             '(https://colab.research.google.com/github/someone/proj/blob/main/nbs/01_x.ipynb)')
    install = ("import sys, subprocess\nIN_COLAB = 'google.colab' in sys.modules\nif IN_COLAB:\n"
               "    subprocess.run([sys.executable, '-m', 'pip', 'install', 'proj @ git+https://github.com/someone/proj'])")

    def problems(self, *cells):
        nb = {'cells': [{'cell_type': t, 'source': s} for t, s in cells]}
        return cn.colab_problems(nb, 'nbs/01_x.ipynb', SETTINGS)

    def test_good(self):
        self.assertEqual(self.problems(('markdown', '# X'), ('markdown', self.badge), ('code', self.install),
                                       ('code', 'from proj.core import *')), [])

    def test_badge_pointing_elsewhere(self):
        p = self.problems(('markdown', self.badge.replace('01_x', '00_other')), ('code', self.install))
        self.assertEqual(len(p), 1); self.assertIn('pointing at itself', p[0]); self.assertIn('00_other', p[0])

    def test_no_install_cell_or_unguarded_or_late(self):
        self.assertIn('no install cell', self.problems(('markdown', self.badge))[0])
        unguarded = self.install.replace('if IN_COLAB:\n    ', '')
        self.assertIn('only on Colab', self.problems(('markdown', self.badge), ('code', unguarded))[0])
        late = self.problems(('markdown', self.badge), ('code', '#| export\nimport proj.core'), ('code', self.install))
        self.assertIn('before the Colab install cell', late[0])

    def test_check_on_files(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d); (d / 'nbs').mkdir()
            good = {'cells': [{'cell_type': 'markdown', 'source': self.badge}, {'cell_type': 'code', 'source': self.install,
                                                                               'outputs': []}]}
            (d / 'nbs' / '01_x.ipynb').write_text(json.dumps(good))
            (d / 'nbs' / 'index.ipynb').write_text(json.dumps({'cells': [{'cell_type': 'markdown', 'source': '# Home'}]}))
            fails, warns = cn.check(sorted((d / 'nbs').glob('*.ipynb')), None, SETTINGS, root=d)
            self.assertEqual((fails, warns), ([], []))  # index.ipynb needs no badge


if __name__ == '__main__':
    unittest.main()
