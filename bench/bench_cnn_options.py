"""Benchmark: changes to `train_cnn`'s default from-scratch recipe (label smoothing, AdamW, warm-up), several seeds.

Item 4 of the CNN issue asks for a default recipe chosen by measurement. Each variant is the library's default run,
`train_cnn(manifest, out, arch, weights='none', img_size, epochs, seed=SEED)` (or `--weights imagenet`, as in
`bench_cnn_lr.py`), with one change, through `train_cnn`'s own option or made from outside (the library has no option
for the others until one earns its place):

    default             the library as it is: Adam at `default_lr`, cosine schedule, label smoothing 0.1
    no_label_smoothing  `train_cnn(label_smoothing=0.0)`: plain cross-entropy (the default until label smoothing
                        measured better on the whole grouped split, where this bench ran it as its `label_smoothing` arm)
    adamw               AdamW (decoupled weight decay 0.05) instead of Adam, at the same learning rate
    warmup              the learning rate rises linearly over the first epoch, then the cosine schedule as usual

Printed per variant: mean ± sd over seeds of test accuracy and macro-F1 of the epoch chosen on validation, best
validation accuracy, the epochs chosen, and the mean seconds per run. The `default` rows are the same runs as
`bench_cnn_lr.py`'s row at the default learning rate (same subset, seeds and settings; the runs are deterministic).

    OMP_NUM_THREADS=1 python bench/bench_cnn_options.py --split runs/split_grouped --out runs/bench_cnn_options --limit 600
    python bench/bench_cnn_options.py --split runs/split_grouped --out runs/bench_opt_smoke --limit 48 --epochs 1 --img-size 64 --seeds 0

Writes OUT/bench_cnn_options.json; the runs stay in OUT/{variant}_s{SEED}/ (and the subset in OUT/subset/ with --limit).
Variants or seeds run in other processes make one table with `--merge`, as in `bench_cnn_lr.py` (the library arm of a
`bench_cnn_recipe.json` is the `default` row).
"""
import contextlib, json, math, sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_cnn_lr import arms_arguments, arms_result, merged_table, parse_arms, prepare_bench, train_arms
import leukemia_detection.cnn as cnn

WEIGHT_DECAY = 0.05


@contextlib.contextmanager
def patched(module, name: str, value):
    "Set `module.name` to `value` for the duration."
    old = getattr(module, name); setattr(module, name, value)
    try: yield
    finally: setattr(module, name, old)


def adamw_optimizer(model, lr: float, schedule: str, total_steps: int):
    "`cnn.build_optimizer` with AdamW (decoupled weight decay) in place of Adam."
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=WEIGHT_DECAY)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, cnn.lr_schedule(schedule, total_steps))


def warmup_schedule(epochs: int):
    "A `cnn.lr_schedule` whose factor rises linearly over the first epoch's steps, times the usual schedule."
    usual = cnn.lr_schedule
    def schedule(name: str, total_steps: int):
        factor, warm = usual(name, total_steps), max(1, math.ceil(total_steps / epochs))
        return lambda step: min(1.0, (step + 1) / warm) * factor(step)
    return schedule


def variant(name: str, epochs: int):
    "The patch that makes the default run into variant `name` (none for the variants `train_cnn` has an option for)."
    if name in ARGUMENTS: return contextlib.nullcontext()
    if name == 'adamw': return patched(cnn, 'build_optimizer', adamw_optimizer)
    if name == 'warmup': return patched(cnn, 'lr_schedule', warmup_schedule(epochs))
    raise ValueError(f'unknown variant {name!r}')


ARGUMENTS = {'default': {}, 'no_label_smoothing': {'label_smoothing': 0.0}}   # train_cnn's keywords per variant
VARIANTS = ('default', 'no_label_smoothing', 'adamw', 'warmup')


def main(argv=None):
    ap = arms_arguments(__doc__, 'runs/bench_cnn_options')
    ap.add_argument('--variants', nargs='+', default=list(VARIANTS))
    a = parse_arms(ap, argv)
    if a.merge: result = merged_table(a, lambda recipe: 'default', 'variant', VARIANTS.index)
    else:
        for v in a.variants: variant(v, a.epochs)                      # unknown names fail before any work
        arms = {v: (ARGUMENTS.get(v, {}), lambda v=v: variant(v, a.epochs)) for v in a.variants}
        out, manifest = prepare_bench(a, f'variants {a.variants}')
        runs = train_arms(arms, manifest, out, a)
        result = arms_result(a, arms, runs, 'variant')
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    (out / 'bench_cnn_options.json').write_text(json.dumps(dict(result, weight_decay=WEIGHT_DECAY), indent=2) + '\n')


if __name__ == '__main__':
    main()
