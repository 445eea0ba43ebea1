"""The embedded local model: load time and Chinese generation speed through its HTTP server,
against calling ``model.generate`` directly in the same process (the baseline, measured in the
same run, so the ratio is the cost of the OpenAI adapter: HTTP, SSE, the streamer thread, the
stop-sequence scanner).

- load: the cached transformers folder (what every start after the first does); with
  ``--convert`` also the one-time GGUF → folder conversion into a temporary cache.
- speed: a 64-token greedy generation from a Chinese prompt; tokens/s from the server's own
  usage counts, time-to-first-chunk for streaming.

Run: ``.venv/bin/python benchmarks/bench_local_model.py [--tokens 64] [--repeat 2] [--convert]``
The machine is shared: figures are best-of-``repeat``.
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from hegui.gateway import local_model as lm

# A raw completion prompt (/v1/completions): in chat form this base model often ends its turn
# after a few tokens, which would not measure a 64-token generation.
PROMPT = "长城是中国古代的军事防御工程，它的历史"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def direct(model: lm.LocalModel, ids: list[int], tokens: int) -> float:
    """Baseline: plain transformers generate, exactly ``tokens`` new tokens; returns tokens/s.

    Run in a fresh thread like the server's generation: on this machine torch's CPU thread pool
    behaves very differently on the main thread under load (2-3 vs 8-10 tokens/s measured), which
    would make the baseline, not the adapter, the thing measured."""
    result: list[float] = []
    t = threading.Thread(target=lambda: result.append(_direct(model, ids, tokens)))
    t.start()
    t.join()
    return result[0]


def _direct(model: lm.LocalModel, ids: list[int], tokens: int) -> float:
    torch = model.torch
    t = time.perf_counter()
    with torch.inference_mode():
        out = model.model.generate(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=tokens,
            min_new_tokens=tokens,
            do_sample=False,
            pad_token_id=model.tokenizer.pad_token_id,
        )
    n = out.shape[1] - len(ids)
    return n / (time.perf_counter() - t)


def served(url: str, tokens: int, stream: bool) -> tuple[float, float, str, int]:
    """Through the server: returns (tokens/s, seconds to first content, text, tokens)."""
    body = {
        "prompt": PROMPT,
        "max_tokens": tokens,
        "temperature": 0,
        "stream": stream,
        "stream_options": {"include_usage": True},
    }
    t = time.perf_counter()
    first = 0.0
    with httpx.Client(timeout=600) as c:
        if not stream:
            d = c.post(url + "/v1/completions", json=body).json()
            dt = time.perf_counter() - t
            n = d["usage"]["completion_tokens"]
            return n / dt, dt, d["choices"][0]["text"], n
        text, usage = "", {}
        with c.stream("POST", url + "/v1/completions", json=body) as r:
            for line in r.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                ev = json.loads(line[6:])
                if ev.get("usage"):
                    usage = ev["usage"]
                for ch in ev.get("choices", []):
                    piece = ch.get("text") or ""
                    if piece and not first:
                        first = time.perf_counter() - t
                    text += piece
        dt = time.perf_counter() - t
        return usage["completion_tokens"] / dt, first, text, usage["completion_tokens"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--convert", action="store_true", help="also time the one-time GGUF conversion")
    args = ap.parse_args()

    if args.convert:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            lm.prepare_model(lm.resolve_source(), cache_root=Path(tmp))
            print(f"first start: GGUF -> transformers folder conversion  {time.perf_counter() - t:6.1f} s")

    t = time.perf_counter()
    folder = lm.prepare_model()
    model = lm.LocalModel(folder)
    print(f"cached start: load tokenizer + float32 weights          {time.perf_counter() - t:6.1f} s")

    ids = model.completion_prompt_ids(PROMPT)
    with model.torch.inference_mode():  # warm-up (first call allocates and picks kernels)
        model.model.generate(input_ids=model.torch.tensor([ids]), max_new_tokens=4, do_sample=False)

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(lm.create_app(model), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    while not server.started:
        time.sleep(0.05)

    base, plain, streamed, ttft, text, counts = 0.0, 0.0, 0.0, 1e9, "", set()
    for _ in range(args.repeat):  # interleaved, so load from other users hits all three alike
        base = max(base, direct(model, ids, args.tokens))
        tps, _, _, n1 = served(url, args.tokens, stream=False)
        plain = max(plain, tps)
        tps, first, text, n2 = served(url, args.tokens, stream=True)
        counts |= {n1, n2}
        streamed, ttft = max(streamed, tps), min(ttft, first)
    server.should_exit = True
    thread.join(10)

    print(
        f"\n{args.tokens}-token Chinese generation (served runs produced {sorted(counts)} tokens), "
        f"greedy, {model.torch.get_num_threads()} torch threads"
    )
    print(f"{'':44}{'tokens/s':>10}{'ratio':>8}")
    print(f"{'baseline: model.generate in a thread':44}{base:10.1f}{1.0:8.2f}")
    print(f"{'server, non-streaming':44}{plain:10.1f}{plain / base:8.2f}")
    print(f"{'server, streaming SSE':44}{streamed:10.1f}{streamed / base:8.2f}")
    print(f"streaming time to first content: {ttft * 1000:.0f} ms")
    print(f"sample answer: {text[:80]!r}")


if __name__ == "__main__":
    main()
