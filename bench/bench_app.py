"""Benchmark: the web app's `/predict` API under 50 concurrent requests, on a demo run.

Makes a demo run (or uses `--run`), starts `leukemia_detection.app.serve` on a free port of 127.0.0.1, and sends
`--requests` requests at once from as many threads with `gradio_client` (one image each, the run's synthetic images in
turn). Checks every answer against `predict_fused` for its image (same class, prediction set and refer flag where the
run has them, probabilities within 1e-9), and prints the p50 and p95 latency (send to answer, per request), the wall
time and the throughput, and the machine load before and after. The queue batches concurrent requests (`max_batch_size`), so one pass of the models answers several.

    OMP_NUM_THREADS=1 python bench/bench_app.py --out runs/bench_app
    OMP_NUM_THREADS=1 python bench/bench_app.py --run runs/bench_app/demo --requests 50 --rounds 3
"""
import argparse, os, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default='runs/bench_app', help='folder for the demo run (when --run is not given)')
    ap.add_argument('--run', help='an existing run folder to serve (default: make a demo run under --out)')
    ap.add_argument('--requests', type=int, default=50, help='concurrent requests per round')
    ap.add_argument('--rounds', type=int, default=3, help='rounds of concurrent requests (the first one is timed too)')
    a = ap.parse_args(argv)
    from gradio_client import Client, handle_file
    from leukemia_detection.app import answers, free_port, serve
    from leukemia_detection.pipeline import demo, predict_fused
    run = Path(a.run) if a.run else Path(a.out) / 'demo'
    if not a.run and not (run / 'fusion' / 'fusion.json').is_file(): demo(run, log=lambda *x: None)
    images = sorted((run / 'synthetic_data').rglob('*.jpg'))
    chosen = [images[i * len(images) // a.requests] for i in range(a.requests)]
    expected = answers(predict_fused(run, chosen, all_models=True))
    print(f'load before: {os.getloadavg()}; OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS")}; run {run}')
    port = free_port()
    app = serve(run, port=port, wait=False)
    try:
        client = Client(f'http://127.0.0.1:{port}/', verbose=False)
        def ask(p):
            t0 = time.perf_counter()
            r = client.predict(handle_file(str(p)), api_name='/predict')
            return r, time.perf_counter() - t0
        latencies, walls, wrong = [], [], 0
        for _ in range(a.rounds):
            t0 = time.perf_counter()
            with ThreadPoolExecutor(a.requests) as ex: got = list(ex.map(ask, chosen))
            walls.append(time.perf_counter() - t0)
            for (r, s), want in zip(got, expected):
                latencies.append(s)
                ok = (len(r) == 1 and all(r[0].get(k) == want.get(k) for k in ('file', 'pred', 'prediction_set',
                                                                               'refer_to_expert')) and all(
                      abs(r[0]['probabilities'][m][c] - p) < 1e-9 for m, ps in want['probabilities'].items()
                      for c, p in ps.items()))
                wrong += not ok
        lat = np.array(latencies)
        print(f'{a.rounds} rounds of {a.requests} concurrent requests: {len(lat) - wrong}/{len(lat)} answers equal '
              f'predict_fused')
        print(f'latency p50 {np.percentile(lat, 50):.2f} s, p95 {np.percentile(lat, 95):.2f} s, max {lat.max():.2f} s; '
              f'round wall time {np.median(walls):.2f} s (median), throughput {a.requests / np.median(walls):.1f} '
              f'requests/s')
    finally: app.close()
    print(f'load after: {os.getloadavg()}')
    return 1 if wrong else 0


if __name__ == '__main__': sys.exit(main())
