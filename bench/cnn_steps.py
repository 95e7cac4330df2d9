"""Single CNN training steps in this process, each with its seconds, minor page faults and system CPU seconds.

A second method for `bench_cnn.py`'s images/s ratio (the steps alone, without data loading or validation) and the
measurement behind `cpu_memory_reuse`'s exit values. Run each case in a fresh process, one thread:

    OMP_NUM_THREADS=1 python bench/cnn_steps.py --way reference                   # fp32, NCHW, glibc as it starts
    OMP_NUM_THREADS=1 python bench/cnn_steps.py --way library                     # bf16 autocast, channels_last, memory kept
    OMP_NUM_THREADS=1 python bench/cnn_steps.py --way reference --after initial   # after a block left at 128 kB thresholds
    OMP_NUM_THREADS=1 python bench/cnn_steps.py --way reference --after library   # after a `cpu_memory_reuse` block
    OMP_NUM_THREADS=1 python bench/cnn_steps.py --way library --profile --steps 8 # where the last step's time goes
    OMP_NUM_THREADS=1 python bench/cnn_steps.py --way library --compile --steps 6 # torch.compile (inductor) first

`--way reference` is the reference notebook's step (fp32, NCHW, Adam 1e-4, no memory settings); `--way library` is
`train_cnn`'s on a CPU (bf16 autocast where the CPU has it, channels_last, inside `cpu_memory_reuse`). `--after`
enters and leaves a memory-reuse block first: `library` is `cpu_memory_reuse` as it is, `initial` the same block
then setting glibc's thresholds to their initial 128 kB (what `cpu_memory_reuse` left before 2026-12-04).
"""
import argparse
from contextlib import nullcontext

import torch, torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from child_process import measured
from leukemia_detection.cnn import (_M_MMAP_THRESHOLD, _M_TRIM_THRESHOLD, _mallopt, build_cnn, cpu_memory_reuse,
                                    cpu_supports_bf16)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--way', choices=('reference', 'library'), required=True)
    ap.add_argument('--after', choices=('none', 'initial', 'library'), default='none')
    ap.add_argument('--arch', default='resnet50')
    ap.add_argument('--img-size', type=int, default=224)
    ap.add_argument('--batch-size', type=int, default=32)
    ap.add_argument('--steps', type=int, default=4)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--profile', action='store_true', help="the last step's time by operator (torch.profiler; "
                    'its own memory adds page faults to that step, which land in BatchNorm\'s backward)')
    ap.add_argument('--compile', action='store_true', help='torch.compile the model (inductor); step 0 compiles it')
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.after != 'none':
        with cpu_memory_reuse(): pass
        if a.after == 'initial':   # glibc's initial thresholds, with its own adjustment left switched off
            _mallopt(_M_MMAP_THRESHOLD, 128 << 10); _mallopt(_M_TRIM_THRESHOLD, 128 << 10)
    library = a.way == 'library'
    layout = torch.channels_last if library else torch.contiguous_format
    model = build_cnn(a.arch, None, 4).to(memory_format=layout).train()
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    x = torch.randn(a.batch_size, 3, a.img_size, a.img_size).contiguous(memory_format=layout)
    y = torch.randint(0, 4, (a.batch_size,))
    bf16 = library and cpu_supports_bf16()
    print(f'{a.arch} {a.img_size}px, batch {a.batch_size}, {a.threads} thread(s), way {a.way} '
          f'({"bf16" if bf16 else "fp32"}), after {a.after}{", compiled" if a.compile else ""}', flush=True)
    forward = torch.compile(model) if a.compile else model
    with (cpu_memory_reuse() if library else nullcontext()):
        for i in range(a.steps):
            last = a.profile and i == a.steps - 1
            with measured() as u, (profile(activities=[ProfilerActivity.CPU]) if last else nullcontext()) as prof:
                with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16): out = forward(x)
                F.cross_entropy(out.float(), y).backward(); opt.step(); opt.zero_grad()
            print(f'step {i}: {u["seconds"]:.2f} s ({a.batch_size / u["seconds"]:.2f} img/s), '
                  f'{u["minor_faults"]:,} minor page faults, {u["system_seconds"]:.2f} s system', flush=True)
    if a.profile: print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=12))


if __name__ == '__main__':
    main()
