"""Throughput of `classify` on one core over the labelled set: docs/s and p50/p99 ms per doc.

Usage: python bench/bench_classify.py [--rules-only] [--model PATH] [--repeat N]
Batch throughput uses `classify_many` in chunks of 1024 (what `finwatch classify` does);
per-document latency times `classify_text` one document at a time. Pin to one core with
`taskset -c 0` (the script also caps BLAS/OpenMP threads to 1).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nlp.classifier import RuleClassifier, load_classifier  # noqa: E402
from nlp.paths import labeled_path  # noqa: E402


def main() -> int:
    """Run the benchmark and print one summary line per measure."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rules-only", action="store_true")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--input", type=Path, default=None)
    args = ap.parse_args()
    path = args.input or labeled_path()
    with path.open(encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh if line.strip()]
    clf = RuleClassifier() if args.rules_only else load_classifier(args.model)
    clf.classify_many(texts[:64])  # warm up (jieba dictionary, caches)
    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for i in range(0, len(texts), 1024):
            clf.classify_many(texts[i : i + 1024])
        best = min(best, time.perf_counter() - t0)
    lat = []
    for t in texts:
        t0 = time.perf_counter()
        clf.classify_text(t)
        lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
    mean_len = sum(map(len, texts)) / len(texts)
    print(f"classifier      {clf.name_version}")
    print(f"documents       {len(texts)} (mean {mean_len:.0f} chars) from {path.name}")
    print(f"batch           {len(texts) / best:,.0f} docs/s (best of {args.repeat}, one process)")
    print(f"single-doc      p50 {p50:.3f} ms, p99 {p99:.3f} ms per doc ({1000 / p50:,.0f} docs/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
