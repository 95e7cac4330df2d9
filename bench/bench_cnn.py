"""Benchmark: the reference notebook's CNN training loop against `leukemia_detection.cnn.train_cnn`, same model, same data.

(a) reference: torchvision `ImageFolder` over a split folder; every step decodes each JPEG with PIL and applies
    Resize, RandomHorizontalFlip, RandomRotation(10), ToTensor, Normalize per image; fp32; a plain PyTorch loop
    (Adam, cross-entropy), batch 32, `DataLoader(num_workers=0)`; validation accuracy after every epoch.
(b) library: `train_cnn` -- images decoded once into a uint8 tensor in memory, flip/rotation applied to whole batches
    on the device (`BatchAugment`), bf16 autocast where the hardware has it, channels_last, Hugging Face Accelerate.

Both start from the same randomly initialised model (no ImageNet weights needed) and see the same train and val
images (a class-stratified subset of a split made by `leukemia-detection split`). Prints training images/second for
both (the training loop of each epoch, data loading included), their ratio, the end-to-end time (decoding included),
and validation accuracy after each epoch. The two alternate epoch by epoch (a reference epoch runs before each
library epoch after the first, while the one `train_cnn` call waits), so that other jobs on a shared machine slow both
alike. The reference runs in a process of its own, as it would in its notebook: `train_cnn` changes glibc's malloc
settings for its whole call (`cnn.cpu_memory_reuse`), which a reference epoch run inside it would profit from. Each
epoch's minor page faults and system CPU seconds are printed for both arms (the reference's training and validation,
the library's training loop).

    python bench/bench_cnn.py --split runs/split_grouped --limit 320 --epochs 3
    python bench/bench_cnn.py --data ../shared/data/leukemia-all --limit 320   # makes the split first
    python bench/bench_cnn.py --split runs/split_grouped --threads 1           # on a CPU shared with other jobs

Results are written to OUT/bench_cnn.json. On a shared machine, compare the load averages printed before and after.
"""
import argparse, json, os, platform, sys, time
from pathlib import Path

import pandas as pd, torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms as T

from child_process import InChildProcess, measured
from leukemia_detection.data import (IMAGENET_MEAN, IMAGENET_STD, limit_manifest, link_tree, load_manifest,
                                     manifest_data_root, prepare_split)
import leukemia_detection.cnn as cnn
from leukemia_detection.cnn import build_cnn, cpu_supports_bf16, train_cnn


def load() -> str:
    return ' '.join(f'{x:.2f}' for x in os.getloadavg())


def make_subset(manifest: Path, out: Path, limit: int, seed: int) -> Path:
    "A train+val subset of the manifest, with a manifest.json and a dataset/{split}/{Class}/ link tree."
    root = manifest_data_root(manifest)
    df = limit_manifest(load_manifest(manifest), limit, seed)
    df = df[df.split.isin(['train', 'val'])].reset_index(drop=True)
    out.mkdir(parents=True, exist_ok=True)
    df[['path', 'label', 'group', 'split', 'md5']].to_csv(out / 'manifest.csv', index=False, lineterminator='\n')
    (out / 'manifest.json').write_text(json.dumps({'data_root': str(root), 'subset_of': str(manifest), 'limit': limit}))
    link_tree(df, root, out / 'dataset')
    return out / 'manifest.csv'


class ReferenceLoop:
    "The reference notebook's loop, on CPU or the first GPU, fp32; one call of `epoch()` trains and validates one epoch."
    def __init__(self, folder: Path, arch: str, size: int, batch_size: int, lr: float, seed: int):
        self.device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
        norm = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
        train_tf = T.Compose([T.Resize((size, size)), T.RandomHorizontalFlip(), T.RandomRotation(10), T.ToTensor(), norm])
        eval_tf = T.Compose([T.Resize((size, size)), T.ToTensor(), norm])
        t0 = time.perf_counter()
        self.train_ds, self.val_ds = datasets.ImageFolder(folder / 'train', train_tf), datasets.ImageFolder(folder / 'val', eval_tf)
        torch.manual_seed(seed)
        self.model = build_cnn(arch, weights=None).to(self.device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.crit = nn.CrossEntropyLoss()
        self.train_dl = DataLoader(self.train_ds, batch_size=batch_size, shuffle=True)
        self.val_dl = DataLoader(self.val_ds, batch_size=batch_size)
        self.setup_seconds, self.history = time.perf_counter() - t0, []

    def sync(self):
        if self.device.type == 'cuda': torch.cuda.synchronize()

    def epoch(self) -> dict:
        model, t0 = self.model, time.perf_counter()
        model.train(); loss_sum = correct = n = 0
        for x, y in self.train_dl:
            x, y = x.to(self.device), y.to(self.device)
            self.opt.zero_grad(); out = model(x); loss = self.crit(out, y); loss.backward(); self.opt.step()
            loss_sum += loss.item() * len(y); correct += (out.argmax(1) == y).sum().item(); n += len(y)
        self.sync(); train_s = time.perf_counter() - t0
        model.eval(); vc = vn = 0
        with torch.no_grad():
            for x, y in self.val_dl:
                vc += (model(x.to(self.device)).argmax(1).cpu() == y).sum().item(); vn += len(y)
        row = dict(epoch=len(self.history) + 1, train_loss=loss_sum / n, train_acc=correct / n, val_acc=vc / vn,
                   train_seconds=train_s, train_images_per_s=n / train_s, seconds=time.perf_counter() - t0)
        self.history.append(row)
        return row

    def summary(self) -> dict:
        return dict(history=self.history, setup_seconds=self.setup_seconds, n_train=len(self.train_ds),
                    n_val=len(self.val_ds))


def library_run(manifest: Path, out: Path, a, between_epochs) -> tuple[list[dict], float]:
    "One `train_cnn` run, calling `between_epochs()` before each epoch after the first; its history and own seconds."
    real_epoch, spent, calls = cnn.train_one_epoch, [0.0], []
    def alternating_epoch(*args, **kwargs):
        if calls:
            t = time.perf_counter(); between_epochs(); spent[0] += time.perf_counter() - t
        with measured() as usage: result = real_epoch(*args, **kwargs)
        calls.append(dict(minor_faults=usage['minor_faults'], system_seconds=usage['system_seconds']))
        return result
    cnn.train_one_epoch = alternating_epoch          # train_cnn looks its steps up in the module: one run, unchanged
    try:
        t0 = time.perf_counter()
        train_cnn(manifest, out, arch=a.arch, weights='none', img_size=a.img_size, epochs=a.epochs,
                  batch_size=a.batch_size, lr=a.lr, seed=a.seed, resume=False, progress=False)
        total = time.perf_counter() - t0 - spent[0]
    finally: cnn.train_one_epoch = real_epoch
    history = pd.read_csv(out / 'history.csv').to_dict('records')
    for row, usage in zip(history, calls): row.update(usage)
    return history, total


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument('--split', help='folder with manifest.csv (from `leukemia-detection split`)')
    src.add_argument('--data', help='dataset folder; a grouped split is made first under OUT/split')
    ap.add_argument('--out', default='runs/bench_cnn')
    ap.add_argument('--arch', default='resnet50')
    ap.add_argument('--img-size', type=int, default=224)
    ap.add_argument('--epochs', type=int, default=3)
    ap.add_argument('--batch-size', type=int, default=32)
    ap.add_argument('--lr', type=float, default=1e-4)
    ap.add_argument('--limit', type=int, default=320, help='images per split (train and val)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=None,
                    help="torch CPU threads for both arms (default: torch's choice). On a CPU shared with other jobs, "
                         "1 avoids the stalls of waiting for a descheduled second OpenMP thread at every operation")
    a = ap.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    out = Path(a.out)
    if a.data:
        prepare_split(a.data, out / 'split', tree=False)
        a.split = out / 'split'
    manifest = make_subset(Path(a.split) / 'manifest.csv', out / 'subset', a.limit, a.seed)
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f'CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, bf16: {cpu_supports_bf16()})'
    print(f'{a.arch} {a.img_size}px, {a.epochs} epochs, batch {a.batch_size}, lr {a.lr}, torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads, device: {dev}')
    print(f'load average before: {load()}', flush=True)
    # the two arms alternate epoch by epoch, so that other jobs on a shared machine slow both alike
    with InChildProcess(ReferenceLoop, out / 'subset' / 'dataset', a.arch, a.img_size, a.batch_size, a.lr, a.seed,
                        threads=a.threads) as child:
        usage = []
        def reference_epoch():
            r = child.call('epoch'); usage.append(child.usage)
            print(f'  epoch {r["epoch"]} reference: {r["train_images_per_s"]:6.1f} img/s, train loss {r["train_loss"]:.4f}, '
                  f'val acc {r["val_acc"]:.3f}, {child.usage["minor_faults"]:,} page faults, '
                  f'{child.usage["system_seconds"]:.1f} s system (load {load()})', flush=True)
        lib_hist, lib_total = library_run(manifest, out / 'library_run', a, reference_epoch)
        while len(usage) < a.epochs: reference_epoch()
        ref = child.call('summary')
    for row, u in zip(ref['history'], usage): row.update(minor_faults=u['minor_faults'], system_seconds=u['system_seconds'])
    for row in lib_hist:
        print(f'  epoch {row["epoch"]} library:   {row["train_images_per_s"]:6.1f} img/s, train loss {row["train_loss"]:.4f}, '
              f'val acc {row["val_acc"]:.3f}, {row["minor_faults"]:,} page faults, {row["system_seconds"]:.1f} s system',
              flush=True)
    cfg = json.loads((out / 'library_run' / 'config.json').read_text())
    lib = dict(history=lib_hist, total_seconds=lib_total,
               mixed_precision=cfg['mixed_precision'], n_train=cfg['n_images']['train'], n_val=cfg['n_images']['val'])
    ref = dict(history=ref['history'], total_seconds=ref['setup_seconds'] + sum(h['seconds'] for h in ref['history']),
               n_train=ref['n_train'], n_val=ref['n_val'])
    print(f'load average after: {load()}', flush=True)
    assert ref['n_train'] == lib['n_train'] and ref['n_val'] == lib['n_val'], (ref['n_train'], lib['n_train'])

    def ips(r): return r['n_train'] * len(r['history']) / sum(h['train_seconds'] for h in r['history'])
    def last(r): return r['history'][-1]['train_images_per_s']
    def e2e(r): return r['n_train'] * len(r['history']) / r['total_seconds']
    res = dict(device=dev, arch=a.arch, img_size=a.img_size, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr,
               n_train=ref['n_train'], n_val=ref['n_val'], library_mixed_precision=lib['mixed_precision'],
               reference=ref, library=lib,
               train_images_per_s={'reference': ips(ref), 'library': ips(lib)},
               speedup_train=ips(lib) / ips(ref), speedup_last_epoch=last(lib) / last(ref),
               speedup_end_to_end=e2e(lib) / e2e(ref),
               val_acc={'reference': ref['history'][-1]['val_acc'], 'library': lib['history'][-1]['val_acc']})
    (out / 'bench_cnn.json').write_text(json.dumps(res, indent=2) + '\n')
    print(f"\n{a.arch} {a.img_size}px, {ref['n_train']} train / {ref['n_val']} val images, {a.epochs} epochs, batch {a.batch_size}")
    print(f"{'':24}{'reference':>12}{'library':>12}{'ratio':>8}")
    print(f"{'train images/s (all)':24}{ips(ref):12.1f}{ips(lib):12.1f}{res['speedup_train']:7.2f}x")
    print(f"{'train images/s (last)':24}{last(ref):12.1f}{last(lib):12.1f}{res['speedup_last_epoch']:7.2f}x")
    print(f"{'end-to-end seconds':24}{ref['total_seconds']:12.1f}{lib['total_seconds']:12.1f}{res['speedup_end_to_end']:7.2f}x")
    def faults(r): return sum(h['minor_faults'] for h in r['history']) / len(r['history'])
    print(f"{'page faults per epoch':24}{faults(ref):12,.0f}{faults(lib):12,.0f}")
    for e in range(a.epochs):
        print(f"{'val accuracy, epoch ' + str(e + 1):24}{ref['history'][e]['val_acc']:12.3f}{lib['history'][e]['val_acc']:12.3f}")
    print(f"library precision: {lib['mixed_precision']}; wrote {out / 'bench_cnn.json'}")


if __name__ == '__main__':
    sys.exit(main())
