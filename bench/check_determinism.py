"""Check: do two `train_cnn` runs with the same seed give bit-identical weights and predictions on this machine?

01_cnn says which settings are deterministic where; this script is how that is checked on a machine (a CUDA GPU
above all, where cuDNN and cuBLAS may choose non-deterministic kernels). Each case trains twice, each run in a fresh
process, with every setting equal (seed 0, from scratch):

    no                fp32 (`mixed_precision='no'`), nothing else set
    no_deterministic  fp32 with `torch.use_deterministic_algorithms(True)` and `CUBLAS_WORKSPACE_CONFIG=:4096:8`
    no_warn_only      the same with `warn_only=True` (ops with no deterministic kernel warn instead of raising)
    auto              the default precision (bf16 where the hardware has it)

Printed per case: whether the two `best.safetensors` are the same bytes, how many test predictions differ, the largest
difference of a test probability, or the error a run raised. Writes OUT/check_determinism.json.

    python bench/check_determinism.py --split runs/split --out runs/determinism
    python bench/check_determinism.py --split runs/split --out runs/determinism_smoke --limit 32 --img-size 64 --epochs 1 --cases no auto
"""
import argparse, json, os, subprocess, sys, traceback
from pathlib import Path

CASES = ('no', 'no_deterministic', 'no_warn_only', 'auto')
DETERMINISTIC = ('no_deterministic', 'no_warn_only')   # torch.use_deterministic_algorithms


def train_once(a, case: str, out: Path):
    "One run of `case` in this process (called in a fresh process by `run_case`)."
    import torch
    from leukemia_detection.cnn import train_cnn
    if case in DETERMINISTIC:
        torch.use_deterministic_algorithms(True, warn_only=case == 'no_warn_only')
    train_cnn(a.split, out, arch=a.arch, weights='none', img_size=a.img_size, epochs=a.epochs, seed=0, resume=False,
              progress=False, limit=a.limit, mixed_precision='auto' if case == 'auto' else 'no')


def run_case(a, case: str, i: int) -> subprocess.Popen:
    "Start run `i` of `case` in a fresh process; its output goes to OUT/{case}_{i}.log."
    out = Path(a.out) / f'{case}_{i}'
    env = dict(os.environ, **({'CUBLAS_WORKSPACE_CONFIG': ':4096:8'} if case in DETERMINISTIC else {}))
    env.setdefault('OMP_NUM_THREADS', str(max(1, (os.cpu_count() or 1) // (2 * len(a.cases)))))   # all run at once
    args = [sys.executable, __file__, '--one', case, '--split', a.split, '--out', str(out), '--arch', a.arch,
            '--img-size', str(a.img_size), '--epochs', str(a.epochs)] + (['--limit', str(a.limit)] if a.limit else [])
    return subprocess.Popen(args, env=env, stdout=open(f'{out}.log', 'w'), stderr=subprocess.STDOUT)


def compare(a, case: str, codes: list[int]) -> dict:
    "Whether the two runs of `case` agree, bit for bit."
    import numpy as np
    from leukemia_detection.data import PROB_COLUMNS, file_md5, read_predictions
    runs = [Path(a.out) / f'{case}_{i}' for i in (0, 1)]
    if any(codes):
        logs = [Path(f'{r}.log').read_text().strip().splitlines() for r in runs]
        return dict(case=case, error=next((l[-1] for l, c in zip(logs, codes) if c), ''))
    p = [read_predictions(r / 'predictions_test.csv') for r in runs]
    probs = [t[PROB_COLUMNS].to_numpy() for t in p]
    return dict(case=case, same_weights=file_md5(runs[0] / 'best.safetensors') == file_md5(runs[1] / 'best.safetensors'),
                predictions_differ=int((p[0].pred != p[1].pred).sum()), n_test=len(p[0]),
                max_abs_prob_diff=float(np.abs(probs[0] - probs[1]).max()),
                mixed_precision=json.loads((runs[0] / 'config.json').read_text())['mixed_precision'])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--split', required=True, help='folder of manifest.csv (from `leukemia-detection split`)')
    ap.add_argument('--out', default='runs/check_determinism')
    ap.add_argument('--arch', default='resnet18')
    ap.add_argument('--img-size', type=int, default=128)
    ap.add_argument('--epochs', type=int, default=2)
    ap.add_argument('--limit', type=int, default=256, help='at most N images per split')
    ap.add_argument('--cases', nargs='+', choices=CASES, default=list(CASES))
    ap.add_argument('--one', choices=CASES, help=argparse.SUPPRESS)   # one run, in the process `run_case` starts
    a = ap.parse_args(argv)
    if a.one:
        try: train_once(a, a.one, Path(a.out))
        except Exception: traceback.print_exc(); sys.exit(1)
        return
    Path(a.out).mkdir(parents=True, exist_ok=True)
    procs = {(c, i): run_case(a, c, i) for c in a.cases for i in (0, 1)}   # all at once: each is small
    codes = {k: p.wait() for k, p in procs.items()}
    import torch
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'CPU'
    results = [compare(a, c, [codes[c, 0], codes[c, 1]]) for c in a.cases]
    print(f'{a.arch} {a.img_size}px, {a.epochs} epochs, limit {a.limit}, torch {torch.__version__}, {device}\n')
    print('| case | precision | same weights (bytes) | test predictions that differ | largest test-probability difference |')
    print('|---|---|---|---|---|')
    for r in results:
        if 'error' in r: print(f"| {r['case']} | | error: {r['error'][:200]} | | |")
        else: print(f"| {r['case']} | {r['mixed_precision']} | {r['same_weights']} | "
                    f"{r['predictions_differ']} of {r['n_test']} | {r['max_abs_prob_diff']:.3g} |")
    (Path(a.out) / 'check_determinism.json').write_text(json.dumps(dict(vars(a), device=device,
                                                                        torch=torch.__version__, results=results),
                                                                   indent=2) + '\n')


if __name__ == '__main__':
    main()
