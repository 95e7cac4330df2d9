"""Benchmark: the reference notebook's CNN loop against `train_cnn`'s default recipe, several seeds each, on one split.

(a) reference -- the loop of the reference notebook (Priyanshu0512/Leukemia-Detection-Qwen3-VL), rewritten here:
    torchvision `ImageFolder` over the split's `dataset/{train,val,test}/{Class}/` tree; every step decodes each JPEG
    with PIL and applies Resize, RandomHorizontalFlip, RandomRotation(10), ToTensor, Normalize; fp32; Adam(1e-4);
    cross-entropy; batch 32, shuffled; validation accuracy after every epoch; the weights of the best validation
    epoch predict the test split. Not from the reference: no ImageNet weights (none offline), `--arch` any ResNet,
    DataLoader workers 0 (the reference used 2 on Colab; 0 keeps both arms on one core).
(b) library -- `leukemia_detection.cnn.train_cnn(manifest, out, arch, weights='none', img_size, epochs, seed=...)`
    with every other setting at its default.

Both arms train for the same number of epochs, seeds `--seeds`. Within a seed the two alternate epoch by epoch (a
library epoch, then a reference epoch, ...; the benchmark wraps `train_one_epoch`, so `train_cnn` runs unchanged in
one call, while the reference runs in a process of its own), so that other jobs on a shared machine slow both alike.
The reference's own process gives it its own random streams and glibc's default malloc settings (`train_cnn` changes
them for its whole call, `cnn.cpu_memory_reuse`), so each arm trains as it would alone. Printed: mean ± sd over seeds
of test accuracy and macro-F1 of the epoch each arm chose, training images/s and their ratio, and the wall time (set-up,
decoding, training, validation, checkpoints) each run needs to first reach the reference's mean best validation
accuracy.

    OMP_NUM_THREADS=1 python bench/bench_cnn_recipe.py --split runs/split_grouped --out runs/bench_recipe
    # seeds in two processes, one per core, then one table over all of them:
    OMP_NUM_THREADS=1 python bench/bench_cnn_recipe.py --split runs/split_grouped --out runs/bench_recipe_s01 --seeds 0 1 &
    OMP_NUM_THREADS=1 python bench/bench_cnn_recipe.py --split runs/split_grouped --out runs/bench_recipe_s2 --seeds 2
    wait; python bench/bench_cnn_recipe.py --out runs/bench_recipe --merge runs/bench_recipe_s01/bench_cnn_recipe.json runs/bench_recipe_s2/bench_cnn_recipe.json
    python bench/bench_cnn_recipe.py --split runs/split_grouped --out runs/bench_smoke --limit 64 --epochs 2 --seeds 0

Writes OUT/bench_cnn_recipe.json; the runs stay in OUT/library_s{seed}/ (and OUT/subset/ with --limit).
"""
import argparse, copy, json, os, platform, statistics as st, sys, time
from pathlib import Path

import numpy as np, pandas as pd, torch, torchvision
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from child_process import InChildProcess
import leukemia_detection.cnn as cnn
from leukemia_detection.data import (CLASSES, IMAGENET_MEAN, IMAGENET_STD, classification_metrics, limit_manifest,
                                     link_tree, load_manifest, manifest_data_root, prediction_table)


def load() -> str:
    return ' '.join(f'{x:.2f}' for x in os.getloadavg())


def split_tree(split: Path, out: Path, limit: int | None, seed: int = 42) -> tuple[Path, Path]:
    "The manifest and its `{split}/{Class}/` image tree: the split's own, or those of a `limit`ed subset under `out`."
    manifest = split / 'manifest.csv'
    if not limit and (split / 'dataset' / 'train').is_dir(): return manifest, split / 'dataset'
    root = manifest_data_root(manifest)
    df = limit_manifest(load_manifest(manifest), limit, seed)
    sub = out / 'subset'; sub.mkdir(parents=True, exist_ok=True)
    df[['path', 'label', 'group', 'split', 'md5']].to_csv(sub / 'manifest.csv', index=False, lineterminator='\n')
    (sub / 'manifest.json').write_text(json.dumps({'data_root': str(root), 'subset_of': str(manifest), 'limit': limit}))
    link_tree(df, root, sub / 'dataset')
    return sub / 'manifest.csv', sub / 'dataset'


def reference_epochs(folder: Path, arch: str, size: int, epochs: int, seed: int, batch_size: int = 32,
                     lr: float = 1e-4, num_workers: int = 0):
    "The reference loop, one epoch per `next()` (a dict per epoch); one more `next()` gives its test predictions."
    t0 = time.perf_counter()
    torch.manual_seed(seed); np.random.seed(seed)
    norm = transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    plain = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(), norm])
    tf = {'train': transforms.Compose([transforms.Resize((size, size)), transforms.RandomHorizontalFlip(),
                                       transforms.RandomRotation(10), transforms.ToTensor(), norm]),
          'val': plain, 'test': plain}
    ds = {s: datasets.ImageFolder(str(folder / s), tf[s]) for s in ('train', 'val', 'test')}
    dl = {s: DataLoader(ds[s], batch_size=batch_size, shuffle=(s == 'train'), num_workers=num_workers) for s in ds}
    model = torchvision.models.get_model(arch, weights=None)
    model.fc = nn.Linear(model.fc.in_features, len(ds['train'].classes))
    criterion, optimizer = nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=lr)
    best_acc, best_wts, best_epoch = 0.0, copy.deepcopy(model.state_dict()), 0
    setup = time.perf_counter() - t0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        model.train(); loss_sum = correct = 0
        for inputs, labels in dl['train']:
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, labels)
            loss.backward(); optimizer.step()
            loss_sum += loss.item() * inputs.size(0); correct += (outputs.argmax(1) == labels).sum().item()
        train_s = time.perf_counter() - t0
        model.eval(); val_correct = 0
        with torch.no_grad():
            for inputs, labels in dl['val']: val_correct += (model(inputs).argmax(1) == labels).sum().item()
        val_acc = val_correct / len(ds['val'])
        if val_acc > best_acc: best_acc, best_wts, best_epoch = val_acc, copy.deepcopy(model.state_dict()), epoch + 1
        n = len(ds['train'])
        yield dict(epoch=epoch + 1, train_loss=loss_sum / n, train_acc=correct / n, val_acc=val_acc,
                   train_seconds=train_s, train_images_per_s=n / train_s,
                   seconds=time.perf_counter() - t0 + (setup if epoch == 0 else 0.0))
    model.load_state_dict(best_wts); model.eval(); probs, labels = [], []
    with torch.no_grad():
        for inputs, y in dl['test']: probs.append(model(inputs).softmax(1)); labels += y.tolist()
    classes = ds['train'].classes
    assert classes == CLASSES, classes
    table = prediction_table([p for p, _ in ds['test'].samples], [classes[i] for i in labels], torch.cat(probs).numpy())
    yield dict(best_epoch=best_epoch, best_val_acc=best_acc, test=classification_metrics(table))


def run_pair(manifest: Path, folder: Path, out: Path, seed: int, a) -> tuple[dict, dict]:
    "One library run and one reference run with `seed`, alternating epochs; per-epoch rows with cumulative seconds."
    ref = InChildProcess(reference_epochs, folder, a.arch, a.img_size, a.epochs, seed, num_workers=a.ref_workers,
                         threads=a.threads)
    ref_rows, ref_time, entries, inside = [], [0.0], [], []
    real_epoch = cnn.train_one_epoch

    def one_reference_epoch() -> float:
        t = time.perf_counter(); row = next(ref); took = time.perf_counter() - t; ref_time[0] += took
        row.update(minor_faults=ref.usage['minor_faults'], system_seconds=ref.usage['system_seconds'])
        ref_rows.append(row)
        print(f'  seed {seed} epoch {row["epoch"]} reference: {row["train_images_per_s"]:6.1f} img/s, '
              f'val acc {row["val_acc"]:.3f}, {row["minor_faults"]:,} page faults (load {load()})', flush=True)
        return took

    def alternating_epoch(*args, **kwargs):
        # the reference epoch runs inside the library epoch's timed span (`seconds` of its history row): recorded, so
        # that it can be taken out of the library's clock
        inside.append(one_reference_epoch() if entries else 0.0)
        entries.append(time.perf_counter() - t_start - ref_time[0])      # library time before this epoch
        return real_epoch(*args, **kwargs)

    cnn.train_one_epoch = alternating_epoch
    try:
        with ref:
            t_start = time.perf_counter()
            run = cnn.train_cnn(manifest, out / f'library_s{seed}', arch=a.arch, weights='none', img_size=a.img_size,
                                epochs=a.epochs, seed=seed, resume=False, progress=False)
            lib_total = time.perf_counter() - t_start - ref_time[0]
            while len(ref_rows) < a.epochs: one_reference_epoch()
            ref_result = next(ref)
    finally: cnn.train_one_epoch = real_epoch
    hist = pd.read_csv(run / 'history.csv').to_dict('records')
    for h, entry, ref_s in zip(hist, entries, inside):
        h['seconds'] -= ref_s; h['cumulative_seconds'] = entry + h['seconds']   # the library's own seconds
    for h in hist: print(f'  seed {seed} epoch {h["epoch"]} library:   {h["train_images_per_s"]:6.1f} img/s, '
                         f'val acc {h["val_acc"]:.3f}', flush=True)
    cum = 0.0
    for r in ref_rows: cum += r['seconds']; r['cumulative_seconds'] = cum
    metrics = json.loads((run / 'metrics.json').read_text())
    cfg = json.loads((run / 'config.json').read_text())
    lib = dict(history=hist, test=metrics['test'], best_epoch=metrics['best_epoch'], total_seconds=lib_total,
               best_val_acc=max(h['val_acc'] for h in hist), mixed_precision=cfg['mixed_precision'],
               recipe={k: cfg.get(k) for k in ('lr', 'schedule', 'label_smoothing', 'batch_size', 'mixed_precision',
                                               'tta')})
    ref_out = dict(history=ref_rows, test=ref_result['test'], best_epoch=ref_result['best_epoch'],
                   best_val_acc=ref_result['best_val_acc'], total_seconds=cum)
    return lib, ref_out


def first_reach(history: list[dict], target: float) -> float | None:
    "Cumulative seconds at the end of the first epoch whose validation accuracy reaches `target` (None: never)."
    # the library's accuracies come from history.csv, which keeps 6 significant digits (up to 5e-7 below the exact
    # value); distinct accuracies of a validation split differ by 1/len(val), far more than this tolerance
    return next((h['cumulative_seconds'] for h in history if h['val_acc'] >= target - 1e-6), None)


def training_arguments(doc: str, out: str, split_required: bool = True) -> argparse.ArgumentParser:
    "The options of the CNN training benchmarks: split, output, model, image size, epochs, seeds, subset, threads."
    ap = argparse.ArgumentParser(description=doc.split('\n\n')[0])
    ap.add_argument('--split', required=split_required, help='folder of manifest.csv and dataset/ (from `split`)')
    ap.add_argument('--out', default=out)
    ap.add_argument('--arch', default='resnet18')
    ap.add_argument('--img-size', type=int, default=128)
    ap.add_argument('--epochs', type=int, default=8)
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--limit', type=int, default=None, help='at most N images per split (smoke tests)')
    ap.add_argument('--threads', type=int, default=1, help='torch CPU threads (each arm, each run)')
    return ap


SETTINGS = dict.fromkeys(('device', 'arch', 'img_size', 'epochs', 'limit', 'recipe'))   # what merged results share


def read_same_settings(paths, settings: dict, missing: str, settings_of=lambda result: result) -> list[dict]:
    """The results (JSON) in `paths`; a file whose `settings` differ from the first's is refused, naming it. `settings`:
    name -> the value of a file without it; `missing`: what to run again to fill the gap (the fix); `settings_of`: where
    a result keeps its settings (default: at its top level)."""
    parts = [json.loads(Path(p).read_text()) for p in paths]
    first = settings_of(parts[0])
    for p, r in zip(paths[1:], map(settings_of, parts[1:])):
        differ = [k for k, v in settings.items() if r.get(k, v) != first.get(k, v)]
        if differ: raise SystemExit(f'{p}: its {", ".join(differ)} differ from those of {paths[0]}; merge runs of one '
                                    f'setting only (fix: run the missing {missing} with the same options)')
    return parts


def merge_results(paths) -> tuple[dict, dict]:
    "The settings (seeds included) and runs of several `bench_cnn_recipe.json`: other seeds, run in other processes."
    parts = read_same_settings(paths, SETTINGS, 'seeds')
    seeds = [s for r in parts for s in r['seeds']]
    if len(set(seeds)) < len(seeds): raise SystemExit(f'{", ".join(map(str, paths))}: a seed appears twice ({seeds})')
    runs = {arm: [run for r in parts for run in r['runs'][arm]] for arm in ('library', 'reference')}
    return dict({k: parts[0].get(k) for k in SETTINGS}, seeds=seeds), runs


def summarise(settings: dict, runs: dict) -> dict:
    "Mean ± sd over seeds, training images/s, and seconds to the reference's mean best validation accuracy."
    target = st.mean(r['best_val_acc'] for r in runs['reference'])

    def ips(rs):   # all training images of all epochs and seeds over all their training seconds
        hs = [h for r in rs for h in r['history']]
        return sum(h['train_images_per_s'] * h['train_seconds'] for h in hs) / sum(h['train_seconds'] for h in hs)
    summary = {}
    for arm, rs in runs.items():
        reach = [first_reach(r['history'], target) for r in rs]
        # a reference run that never reaches the target counts its whole run: a lower bound, which favours the reference
        reach_bound = [t if t is not None else r['total_seconds'] for t, r in zip(reach, rs)]
        summary[arm] = dict(test_accuracy=[r['test']['accuracy'] for r in rs],
                            test_macro_f1=[r['test']['macro_f1'] for r in rs],
                            best_val_acc=[r['best_val_acc'] for r in rs], best_epoch=[r['best_epoch'] for r in rs],
                            train_images_per_s=ips(rs), seconds_to_target=reach,
                            mean_seconds_to_target=(st.mean(reach_bound) if arm == 'reference' or None not in reach
                                                    else None),
                            total_seconds=[r['total_seconds'] for r in rs])
    L, R = summary['library'], summary['reference']
    speedup = (R['mean_seconds_to_target'] / L['mean_seconds_to_target']) if L['mean_seconds_to_target'] else None
    return dict(settings, target_val_acc=target, images_per_s_ratio=L['train_images_per_s'] / R['train_images_per_s'],
                speedup_to_target=speedup, summary=summary, runs=runs)


def print_table(res: dict):
    "The benchmark's table (Markdown) of a `summarise` result."
    L, R = res['summary']['library'], res['summary']['reference']
    def ms(v): return f'{st.mean(v):.4f} ± {st.stdev(v) if len(v) > 1 else 0.0:.4f}'
    print(f'{res["arch"]} {res["img_size"]}px from scratch, {res["epochs"]} epochs, seeds {res["seeds"]}; '
          f'library recipe {res["recipe"]}')
    print(f'target = reference mean best val accuracy {res["target_val_acc"]:.4f}')
    print("| | reference loop | library default |\n|---|---|---|")
    print(f"| test accuracy (mean ± sd) | {ms(R['test_accuracy'])} | {ms(L['test_accuracy'])} |")
    print(f"| test macro-F1 (mean ± sd) | {ms(R['test_macro_f1'])} | {ms(L['test_macro_f1'])} |")
    print(f"| best val accuracy (mean ± sd) | {ms(R['best_val_acc'])} | {ms(L['best_val_acc'])} |")
    print(f"| chosen epochs | {R['best_epoch']} | {L['best_epoch']} |")
    print(f"| training images/s | {R['train_images_per_s']:.1f} | {L['train_images_per_s']:.1f} "
          f"({res['images_per_s_ratio']:.2f}×) |")
    fmt = lambda v: ', '.join('never' if t is None else f'{t:.0f}' for t in v)
    print(f"| seconds to the target, per seed | {fmt(R['seconds_to_target'])} | {fmt(L['seconds_to_target'])} |")
    lib_mean = ('never (some seeds)' if res['speedup_to_target'] is None
                else f"{L['mean_seconds_to_target']:.0f} ({res['speedup_to_target']:.2f}× faster)")
    print(f"| mean seconds to the target | {R['mean_seconds_to_target']:.0f} | {lib_mean} |")
    print(f"| seconds per run (mean) | {st.mean(R['total_seconds']):.0f} | {st.mean(L['total_seconds']):.0f} |")


def main(argv=None):
    ap = training_arguments(__doc__, 'runs/bench_cnn_recipe', split_required=False)
    ap.add_argument('--ref-workers', type=int, default=0, help="the reference's DataLoader workers (Colab used 2)")
    ap.add_argument('--merge', nargs='+', metavar='JSON', help='summarise these bench_cnn_recipe.json together (runs '
                    'of other seeds with the same options) instead of training; --split is then unused')
    a = ap.parse_args(argv)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    if a.merge: settings, runs = merge_results(a.merge)
    elif not a.split: ap.error('--split is required (or --merge)')
    else:
        torch.set_num_threads(a.threads)
        manifest, folder = split_tree(Path(a.split), out, a.limit)
        dev = (torch.cuda.get_device_name(0) if torch.cuda.is_available() else
               f'CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
               f'{torch.backends.cpu.get_cpu_capability()}, bf16: {cnn.cpu_supports_bf16()})')
        print(f'{a.arch} {a.img_size}px, {a.epochs} epochs, seeds {a.seeds}, torch {torch.__version__}, '
              f'{torch.get_num_threads()} threads, {dev}; load before: {load()}', flush=True)
        runs = {'library': [], 'reference': []}
        for seed in a.seeds:
            lib, ref = run_pair(manifest, folder, out, seed, a)
            runs['library'].append(lib); runs['reference'].append(ref)
        settings = dict(device=dev, arch=a.arch, img_size=a.img_size, epochs=a.epochs, limit=a.limit,
                        recipe=runs['library'][0]['recipe'], seeds=a.seeds)
        print(f'\nload after: {load()}')
    res = summarise(settings, runs)
    (out / 'bench_cnn_recipe.json').write_text(json.dumps(res, indent=2, default=float) + '\n')
    print_table(res)
    print(f'wrote {out / "bench_cnn_recipe.json"}')


if __name__ == '__main__':
    sys.exit(main())
