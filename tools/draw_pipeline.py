"""Draw the pipeline figure of the home page, `nbs/pipeline.svg`, with matplotlib (boxes and arrows, no data).

Usage: python tools/draw_pipeline.py [--out nbs/pipeline.svg]

The figure is committed; run this again after changing the stages below. The SVG is written deterministically (fixed
hash salt, no date), so an unchanged drawing gives an unchanged file.
"""
import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (x, y, width, height, title, lines, colour) in axes units: 0..12.8 wide, 0..6 high
STAGES = {
    'data':  (0.1, 2.45, 2.1, 1.3, 'Images', ['ALL blood smears', 'or synthetic'], '#e8eef7'),
    'split': (2.6, 2.45, 2.3, 1.3, '00_data', ['audit duplicates', 'grouped split', 'manifest.csv'], '#dbe7f5'),
    'cnn':   (5.3, 3.75, 2.3, 1.3, '01_cnn', ['ResNet50 fine-tuning', 'P_cnn per image'], '#dff0e1'),
    'vlm':   (5.3, 1.15, 2.3, 1.3, '02_qwen', ['Qwen3-VL scores', 'P_vlm per image'], '#f6e9d8'),
    'fuse':  (8.0, 2.45, 2.1, 1.3, '03_ensemble', ['fusion fitted', 'on validation'], '#ece2f3'),
    'eval':  (10.5, 2.45, 2.2, 1.3, '04_evaluation', ['test used once:', 'metrics, report'], '#f3e2e6'),
}
ARROWS = [('data', 'split'), ('split', 'cnn'), ('split', 'vlm'), ('cnn', 'fuse'), ('vlm', 'fuse'), ('fuse', 'eval')]
FOOTER = ['05_pipeline: run | demo | predict-fused   (every stage in one resumable run folder)',
          '06_cli: leukemia-detection split | train | predict | vlm | fuse | run | demo | predict-fused']

def draw(out: Path) -> Path:
    "Draw the stages and arrows into an SVG at `out`."
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch
    plt.rcParams.update({'svg.hashsalt': 'leukemia_detection-pipeline', 'svg.fonttype': 'none',
                         'font.family': 'sans-serif', 'font.size': 10})
    fig, ax = plt.subplots(figsize=(10.7, 5.2))
    ax.set_xlim(0, 12.8); ax.set_ylim(0, 6); ax.axis('off')
    centre = {}
    for name, (x, y, w, h, title, lines, colour) in STAGES.items():
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle='round,pad=0.04,rounding_size=0.12',
                                    facecolor=colour, edgecolor='#34495e', linewidth=1.2))
        ax.text(x + w / 2, y + h - 0.28, title, ha='center', va='center', fontsize=11, fontweight='bold', color='#1b2631')
        ax.text(x + w / 2, y + (h - 0.45) / 2, '\n'.join(lines), ha='center', va='center', fontsize=9,
                color='#1b2631', linespacing=1.35)
        centre[name] = (x, y, w, h)
    for a, b in ARROWS:
        xa, ya, wa, ha = centre[a]; xb, yb, wb, hb = centre[b]
        ax.annotate('', xy=(xb - 0.05, yb + hb / 2), xytext=(xa + wa + 0.05, ya + ha / 2),
                    arrowprops=dict(arrowstyle='-|>', color='#34495e', linewidth=1.4, shrinkA=0, shrinkB=0,
                                    connectionstyle='arc3,rad=0'))
    ax.text(6.4, 5.55, 'leukemia_detection: Benign / Early / Pre / Pro from a blood-smear image', ha='center',
            fontsize=12, fontweight='bold', color='#1b2631')
    for i, line in enumerate(FOOTER):
        ax.text(6.4, 0.55 - 0.4 * i, line, ha='center', fontsize=9.5, color='#34495e', family='monospace')
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format=out.suffix[1:], bbox_inches='tight', metadata={'Date': None, 'Creator': None})
    plt.close(fig)
    return out


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', type=Path, default=ROOT / 'nbs' / 'pipeline.svg')
    print(draw(p.parse_args().out))
