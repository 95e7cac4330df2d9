"""Seconds per image of the two ways to get Qwen3-VL class probabilities, on the same images in one run:
`sample` (the reference notebook's method: 6 sampled answers, temperature 0.9, top-p 0.95, <= 8 new tokens) and
`score` (this library's default: one forward pass, exact probability of each full class name).

    python bench/bench_vlm.py                                   # tiny random Qwen3-VL (offline, any CPU, seconds)
    python bench/bench_vlm.py --arch real                       # the real Qwen3-VL-2B architecture, random weights
    python bench/bench_vlm.py --arch real --device cpu --dtype bfloat16 --images 2 --batch-size 2 --repeats 1

`--arch real` builds Qwen/Qwen3-VL-2B-Instruct's published architecture (config values below) with random weights and
Qwen3-VL's image preprocessing (a 224 px image -> 256 px -> 64 image tokens), so nothing is downloaded. Its tokenizer
is the offline byte-level one of `tiny_qwen_tokenizer`, made to split the class names as Qwen's does (Ben+ign, Early,
Pre, Pro: one scoring row per image) and the prompt's words into single tokens (about Qwen's prompt length).
Random weights never emit <|im_end|>, so `sample` always runs all 8 decoding steps; a trained model answering
"Benign<|im_end|>" stops after 3, so the `sample, 3 new tokens` line estimates the trained model's case.
The last line times `sample` as the reference notebook ran it: one image at a time, one `generate` call per answer.
Images are synthetic (leukemia_detection.data.make_synthetic_dataset). Timings exclude a warm-up batch.
"""
import argparse, platform, tempfile, time
from pathlib import Path

import torch

from leukemia_detection.data import CLASSES, load_rgb, make_synthetic_dataset
from leukemia_detection.qwen import (MATCHERS, PROMPTS, SAMPLE_SETUPS, VLM, answer_end_id, answer_probs,
                                     attention_implementation, build_conversation, build_tiny_qwen3vl, classify_images,
                                     default_device_dtype, encode_conversations,
                                     label_contexts, label_token_ids, qwen3vl_config_for, qwen3vl_processor,
                                     sample_batch, sample_setup, tiny_qwen_tokenizer)

# Qwen/Qwen3-VL-2B-Instruct config.json (published with the checkpoint; transformers 4.57 format).
QWEN3_VL_2B_CONFIG = {
    'architectures': ['Qwen3VLForConditionalGeneration'], 'model_type': 'qwen3_vl',
    'image_token_id': 151655, 'video_token_id': 151656, 'vision_start_token_id': 151652, 'vision_end_token_id': 151653,
    'tie_word_embeddings': True,
    'text_config': {
        'attention_bias': False, 'attention_dropout': 0.0, 'bos_token_id': 151643, 'eos_token_id': 151645,
        'dtype': 'bfloat16', 'head_dim': 128, 'hidden_act': 'silu', 'hidden_size': 2048, 'initializer_range': 0.02,
        'intermediate_size': 6144, 'max_position_embeddings': 262144, 'model_type': 'qwen3_vl_text',
        'num_attention_heads': 16, 'num_hidden_layers': 28, 'num_key_value_heads': 8, 'rms_norm_eps': 1e-06,
        'rope_scaling': {'mrope_interleaved': True, 'mrope_section': [24, 20, 20], 'rope_type': 'default'},
        'rope_theta': 5000000, 'tie_word_embeddings': True, 'use_cache': True, 'vocab_size': 151936},
    'vision_config': {
        'deepstack_visual_indexes': [5, 11, 17], 'depth': 24, 'hidden_act': 'gelu_pytorch_tanh', 'hidden_size': 1024,
        'in_channels': 3, 'initializer_range': 0.02, 'intermediate_size': 4096, 'model_type': 'qwen3_vl',
        'num_heads': 16, 'num_position_embeddings': 2304, 'out_hidden_size': 2048, 'patch_size': 16,
        'spatial_merge_size': 2, 'temporal_patch_size': 2},
}
# Qwen3-VL's preprocessor_config.json: size {shortest_edge: 65536, longest_edge: 16777216}, patch 16, merge 2.
QWEN3_VL_MIN_PIXELS, QWEN3_VL_MAX_PIXELS = 65536, 16777216


def real_architecture(device, dtype, seed: int = 0) -> VLM:
    "Qwen3-VL-2B-Instruct's architecture with random weights, built on `device` in `dtype`."
    from transformers import GenerationConfig, Qwen3VLForConditionalGeneration
    tok = tiny_qwen_tokenizer(extra_words=['Early', 'Pre', 'Pro', 'Ben'])
    processor = qwen3vl_processor(tok, QWEN3_VL_MIN_PIXELS, QWEN3_VL_MAX_PIXELS)
    text = {k: v for k, v in QWEN3_VL_2B_CONFIG['text_config'].items()
            if k not in ('rope_scaling', 'rope_theta', 'model_type', 'dtype', 'bos_token_id', 'eos_token_id', 'tie_word_embeddings')}
    text['rope_parameters'] = dict(QWEN3_VL_2B_CONFIG['text_config']['rope_scaling'], rope_theta=QWEN3_VL_2B_CONFIG['text_config']['rope_theta'])
    vision = {k: v for k, v in QWEN3_VL_2B_CONFIG['vision_config'].items() if k != 'model_type'}
    config = qwen3vl_config_for(tok, text, vision, tie_word_embeddings=True)   # vocab_size stays 151,936
    config._attn_implementation = attention_implementation(device, dtype)
    torch.manual_seed(seed)
    with torch.device(device):
        model = Qwen3VLForConditionalGeneration._from_config(config, dtype=dtype).eval()
    ids = tok.convert_tokens_to_ids
    model.generation_config = GenerationConfig(pad_token_id=ids('<|endoftext|>'), eos_token_id=[ids('<|im_end|>'), ids('<|endoftext|>')])
    return VLM(model, processor, 'qwen3-vl-2b-architecture-random-weights')


def timed(fn, device, repeats: int) -> float:
    "Best wall time of `repeats` calls of `fn` (the minimum is the least disturbed by other load on the machine)."
    times = []
    for _ in range(repeats):
        if device.type == 'cuda': torch.cuda.synchronize()
        t0 = time.perf_counter(); fn()
        if device.type == 'cuda': torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--arch', choices=['tiny', 'real'], default='tiny')
    ap.add_argument('--images', type=int, default=8, help='images scored by each method (default 8)')
    ap.add_argument('--batch-size', type=int, default=4)
    ap.add_argument('--prompt', default='reference', choices=sorted(PROMPTS))
    ap.add_argument('--samples', type=int, default=6)
    ap.add_argument('--device', default=None)
    ap.add_argument('--dtype', default=None, help='default: bf16/fp16 on CUDA, fp32 on CPU')
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--no-reference-loop', action='store_true',
                    help="skip timing the reference's loop (one image at a time, one generate call per answer)")
    args = ap.parse_args(argv)

    device, dtype = default_device_dtype(args.device, args.dtype)
    t0 = time.perf_counter()
    if args.arch == 'tiny':
        vlm = build_tiny_qwen3vl(); vlm.model.to(device=device, dtype=dtype)
    else:
        vlm = real_architecture(device, dtype)
    build_s = time.perf_counter() - t0
    n_params = sum(p.numel() for p in vlm.model.parameters())

    tmp = Path(tempfile.mkdtemp())
    root = make_synthetic_dataset(tmp / 'synth', n_per_class=max(1, -(-args.images // 4)), seed=0)
    paths = sorted((root / 'Original').glob('*/*.jpg'))[:args.images]
    enc = encode_conversations(vlm, [build_conversation(load_rgb(paths[0]), PROMPTS[args.prompt])])
    label_ids = label_token_ids(vlm.tokenizer, CLASSES)
    contexts, _ = label_contexts([ids + [answer_end_id(vlm.tokenizer)] for ids in label_ids])   # score_end=True
    contexts_no_end, _ = label_contexts(label_ids)
    image_tokens = int((enc['input_ids'] == vlm.model.config.image_token_id).sum())

    setup = sample_setup(args.prompt)   # the reference prompt samples with the reference's matcher and top_k
    top_k = SAMPLE_SETUPS[setup]['top_k']

    def run(method, **kw):
        return lambda: classify_images(paths, vlm, method, args.prompt, batch_size=args.batch_size, progress=False,
                                       n_samples=args.samples, **kw)
    def reference_loop():   # as the reference notebook ran it: per image, `samples` separate generate calls
        for i, p in enumerate(paths):
            image = load_rgb(p)
            answers = [sample_batch(vlm, [image], PROMPTS[args.prompt], [i * 100 + s], n_samples=1, top_k=top_k)[0][0]
                       for s in range(args.samples)]
            answer_probs(answers, matcher=MATCHERS[setup])
    methods = {'score': run('score'),
               'score, label tokens only (score_end=False)': run('score', score_end=False),
               f'sample ({args.samples} answers, 8 new tokens)': run('sample'),
               f'sample ({args.samples} answers, 3 new tokens)': run('sample', max_new_tokens=3)}
    if not args.no_reference_loop:
        methods[f'sample, reference loop ({args.samples} x generate)'] = reference_loop
    warm_up = paths[:args.batch_size]
    classify_images(warm_up, vlm, 'score', args.prompt, batch_size=args.batch_size, progress=False)
    classify_images(warm_up, vlm, 'sample', args.prompt, batch_size=args.batch_size, progress=False, max_new_tokens=2)

    seconds = {name: timed(fn, device, args.repeats) / len(paths) for name, fn in methods.items()}
    gpu = torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or platform.machine()
    print(f'arch={args.arch} ({n_params / 1e6:,.1f} M parameters, built in {build_s:.1f} s) device={device} [{gpu}] '
          f'dtype={str(dtype).replace("torch.", "")} attention={vlm.model.config._attn_implementation} '
          f'threads={torch.get_num_threads()}')
    print(f'{len(paths)} images, batch {args.batch_size}, prompt {args.prompt!r}: {enc["input_ids"].shape[1]} tokens per '
          f'sequence ({image_tokens} image tokens); score uses {len(contexts)} row(s) per image '
          f'({len(contexts_no_end)} without the end token); best of {args.repeats}')
    for name, s in seconds.items(): print(f'  {name:<42} {s:8.4f} s/image  {1 / s:8.2f} images/s')
    base = seconds['score']
    for name, s in seconds.items():
        if name != 'score': print(f'  {name} / score = {s / base:.1f}x')


if __name__ == '__main__':
    main()
