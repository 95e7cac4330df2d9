"""Cost of fine-tuning and scoring Qwen3-VL-2B: LoRA step time and peak memory at batch 1 and 4, with and without
gradient checkpointing, and `score`'s seconds per image with and without the end-of-answer token; the memory a 16 GB
T4 would need, estimated from the measured sizes.

    OMP_NUM_THREADS=1 python bench/bench_vlm_finetune.py --out runs/bench_vlm_finetune       # real architecture, ~21 min
    python bench/bench_vlm_finetune.py --arch tiny --out runs/bench_vlm_finetune_smoke        # tiny random model, ~1 min
    python bench/bench_vlm_finetune.py --device cuda --out runs/bench_vlm_finetune_gpu        # on a GPU: measured, not estimated

`--arch real` is Qwen/Qwen3-VL-2B-Instruct's published architecture with random weights (`bench_vlm.real_architecture`):
nothing is downloaded, and time and memory do not depend on the weights' values. Each configuration runs in a fresh
process, so that its peak memory is its own (CPU: the process's peak resident set, `ru_maxrss`; CUDA:
`torch.cuda.max_memory_allocated`). A LoRA step is the library's own: `answer_batch`, `answer_loss`, backward, AdamW
step, with the adapter of `add_lora` (rank `--rank`, every linear layer of `LORA_TARGETS`) on a 224 px synthetic image
(64 image tokens after Qwen3-VL's preprocessing). Precision is `training_precision`'s: fp32 on a CPU, bf16 or fp16 on a
GPU. Step times are the best of `--steps` steps after one warm-up step.

The T4 line is an estimate wherever no T4 was used, and says so: fp16 weights (2 bytes per parameter), the adapter with
its gradient and AdamW moments in fp32 (16 bytes per LoRA parameter), and the activations measured here in fp32 (the
peak minus the memory held after the model, adapter and optimizer were built), counted from half (fp16 activations)
to whole (as measured), plus 0.5 GiB for the CUDA context. Writes OUT/bench_vlm_finetune.json.
"""
import argparse, json, platform, resource, subprocess, sys, tempfile, time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_vlm import real_architecture   # noqa: E402  (bench/ is not a package)

from leukemia_detection.data import CLASSES, load_rgb, make_synthetic_dataset   # noqa: E402
from leukemia_detection.qwen import (PROMPTS, add_lora, answer_batch, answer_loss, build_tiny_qwen3vl,   # noqa: E402
                                     encode_conversations, build_conversation, score_batch, to_model,
                                     training_precision)

GiB = 2 ** 30
CONFIGS = {'lora_b1_ckpt': dict(batch=1, ckpt=True), 'lora_b4_ckpt': dict(batch=4, ckpt=True),
           'lora_b1_no_ckpt': dict(batch=1, ckpt=False), 'score': dict()}
T4_CONTEXT_GIB, T4_GIB = 0.5, 15.0   # CUDA context and kernels (estimate); a T4's usable memory (15.1 GiB reported)


def peak_bytes(device) -> int:
    "The process's peak memory so far: CUDA's allocator peak, or the peak resident set size on a CPU."
    if device.type == 'cuda': return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # KiB on Linux


def current_bytes(device) -> int:
    if device.type == 'cuda': return torch.cuda.memory_allocated(device)
    return int(Path('/proc/self/statm').read_text().split()[1]) * resource.getpagesize()


def build(arch: str, device, dtype):
    if arch == 'real': return real_architecture(device, dtype)
    vlm = build_tiny_qwen3vl(); vlm.model.to(device=device, dtype=dtype)
    return vlm


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)


def run_config(name: str, args) -> dict:
    "Measure one configuration in this process (a fresh one: see `main`)."
    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    precision = training_precision(device)
    dtype = dict(bf16=torch.bfloat16, fp16=torch.float16, fp32=torch.float32)[precision]
    images = [load_rgb(p) for p in sorted((make_synthetic_dataset(Path(tempfile.mkdtemp()), n_per_class=1, size=224)
                                           / 'Original').glob('*/*.jpg'))]
    t0 = time.perf_counter()
    vlm = build(args.arch, device, dtype)
    build_s = time.perf_counter() - t0
    params = sum(p.numel() for p in vlm.model.parameters())
    enc = encode_conversations(vlm, [build_conversation(images[0], PROMPTS['morphology'])])
    info = dict(config=name, arch=args.arch, device=str(device), precision=precision, parameters=params,
                tokens_per_sequence=int(enc['input_ids'].shape[1]),
                image_tokens=int((enc['input_ids'] == vlm.model.config.image_token_id).sum()), build_seconds=build_s)
    if name == 'score':
        vlm.model.eval()
        for end in (True, False):
            with torch.inference_mode():
                score_batch(vlm, images[:1], PROMPTS['morphology'], end=end)   # warm-up
                times = []
                for im in images[:args.score_images]:
                    sync(device); t0 = time.perf_counter()
                    score_batch(vlm, [im], PROMPTS['morphology'], end=end)
                    sync(device); times.append(time.perf_counter() - t0)
            info[f'score_seconds_per_image_end_{end}'] = min(times)
        info['peak_bytes'] = peak_bytes(device)
        return info
    cfg = CONFIGS[name]
    net = add_lora(vlm.model, 'qwen3-vl-2b-architecture', rank=args.rank)
    if cfg['ckpt']: net.gradient_checkpointing_enable(dict(use_reentrant=False))
    net.train()
    trainable = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    for p in trainable: p.grad = torch.zeros_like(p)   # gradients and AdamW moments exist before the baseline
    optimizer.step(); optimizer.zero_grad(set_to_none=False)
    held, built_peak = current_bytes(device), peak_bytes(device)
    if device.type == 'cuda': torch.cuda.reset_peak_memory_stats(device)
    batch_images, labels = images[:cfg['batch']], list(CLASSES[:cfg['batch']])   # one synthetic image per class
    half = dtype if precision != 'fp32' else None
    times = []
    for step in range(args.steps + 1):   # step 0 warms up
        enc, target = answer_batch(vlm, batch_images, PROMPTS['morphology'], labels)
        enc, target = to_model(enc, vlm), target.to(device)
        sync(device); t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=half or torch.float32, enabled=half is not None):
            loss = answer_loss(net, enc, target)
        loss.backward(); optimizer.step(); optimizer.zero_grad(set_to_none=False)
        sync(device)
        if step: times.append(time.perf_counter() - t0)
    peak = peak_bytes(device)
    return dict(info, batch=cfg['batch'], gradient_checkpointing=cfg['ckpt'], rank=args.rank,
                lora_parameters=sum(p.numel() for p in trainable), step_seconds=min(times), steps_timed=len(times),
                held_bytes=held, peak_bytes_before_training=built_peak, peak_bytes=peak, transient_bytes=max(0, peak - held))


def t4_estimate(r: dict) -> tuple[float, float]:
    "GiB a T4 would need for a LoRA configuration measured in fp32 on a CPU: (fp16 activations, fp32 activations)."
    fixed = r['parameters'] * 2 + r['lora_parameters'] * 16
    return tuple((fixed + r['transient_bytes'] * f) / GiB + T4_CONTEXT_GIB for f in (0.5, 1.0))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--arch', choices=['tiny', 'real'], default='real')
    ap.add_argument('--out', default='runs/bench_vlm_finetune')
    ap.add_argument('--configs', nargs='+', choices=list(CONFIGS), default=list(CONFIGS))
    ap.add_argument('--device', default=None, help='cpu or cuda (default: cuda when there is one)')
    ap.add_argument('--rank', type=int, default=8, help='LoRA rank (finetune_vlm default)')
    ap.add_argument('--steps', type=int, default=2, help='timed LoRA steps per configuration (after one warm-up)')
    ap.add_argument('--score-images', type=int, default=3, help='images timed by score, each way')
    ap.add_argument('--one', default=None, help=argparse.SUPPRESS)   # internal: measure one configuration, print JSON
    args = ap.parse_args(argv)
    if args.one:
        print('RESULT ' + json.dumps(run_config(args.one, args)), flush=True)
        return
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.configs:
        cmd = [sys.executable, __file__, '--one', name, '--arch', args.arch, '--rank', str(args.rank),
               '--steps', str(args.steps), '--score-images', str(args.score_images)] + (['--device', args.device] if args.device else [])
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        lines = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
        if p.returncode or not lines:
            print(f'{name}: failed (exit {p.returncode})\n{p.stderr[-3000:]}', flush=True)
            results.append(dict(config=name, error=p.stderr[-3000:])); continue
        results.append(json.loads(lines[-1][7:]))
        print(f'{name}: done in {time.perf_counter() - t0:.0f} s', flush=True)
        (out / 'bench_vlm_finetune.json').write_text(json.dumps(results, indent=1))   # kept after each configuration
    ok = [r for r in results if 'error' not in r]
    if not ok: sys.exit(1)
    r0 = ok[0]
    print(f'\narch={args.arch}: {r0["parameters"]:,} parameters, {r0["tokens_per_sequence"]} tokens per sequence '
          f'({r0["image_tokens"]} image tokens), device={r0["device"]} [{platform.processor() or platform.machine()}], '
          f'precision={r0["precision"]}, torch {torch.__version__}, {torch.get_num_threads()} thread(s)')
    for r in ok:
        if r['config'] == 'score':
            a, b = r['score_seconds_per_image_end_True'], r['score_seconds_per_image_end_False']
            print(f'  score, batch 1: {a:.2f} s/image with the end token, {b:.2f} without ({a / b:.1f}x); '
                  f'peak {r["peak_bytes"] / GiB:.2f} GiB')
            continue
        lo, hi = t4_estimate(r) if r['device'] == 'cpu' else (r['peak_bytes'] / GiB,) * 2
        label = 'T4 ESTIMATE' if r['device'] == 'cpu' else 'measured on this GPU'
        print(f'  LoRA r{r["rank"]} ({r["lora_parameters"]:,} trainable), batch {r["batch"]}, gradient checkpointing '
              f'{"on " if r["gradient_checkpointing"] else "off"}: {r["step_seconds"]:.1f} s/step, peak '
              f'{r["peak_bytes"] / GiB:.2f} GiB (activations {r["transient_bytes"] / GiB:.2f} GiB); '
              f'{label} {lo:.2f}-{hi:.2f} GiB{" (fits a T4)" if hi <= T4_GIB else ""}')


if __name__ == '__main__':
    main()
