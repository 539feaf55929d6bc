"""LLM access for explainers and scorers: backends, a response cache, bounded async requests.

Backends:
- `OpenAIBackend`: any server speaking the OpenAI chat-completions wire format (vLLM, Ollama,
  llama.cpp server, OpenAI). Requests are async (httpx) with a bound on requests in flight,
  timeouts, and exponential backoff that honours `Retry-After` on 429/503. The API key comes
  from `SAESCOPE_LLM_API_KEY` or `OPENAI_API_KEY` and is never logged or written anywhere.
- `TransformersBackend`: a local causal LM (`smollm2`, the offline default, or any local path
  or hub name) that applies the model's chat template and generates greedily.

`LLM` puts a persistent `ResponseCache` in front of a backend: identical requests (same model,
messages, parameters) are answered from disk, and identical requests in flight at the same
time are sent once.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from saescope.errors import ConfigError, SaescopeError
from saescope.interpret.cache import ResponseCache, request_key
from saescope.safetext import for_terminal

Messages = list[dict[str, str]]

API_KEY_VARS = ("SAESCOPE_LLM_API_KEY", "OPENAI_API_KEY")


class LLMError(SaescopeError):
    """A request that failed for good (after retries, or with a non-retryable status)."""


@dataclass
class Completion:
    """One chat completion."""

    text: str
    """The assistant message."""
    prompt_tokens: int = 0
    """Prompt tokens (as reported by the server, or counted by the local tokenizer)."""
    completion_tokens: int = 0
    """Generated tokens."""
    token_logprobs: list[tuple[str, dict[str, float]]] | None = None
    """Per generated token: (token text, {alternative token text: logprob}), when available."""
    cached: bool = False
    """Answered from the response cache."""

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "token_logprobs": self.token_logprobs,
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> Completion:
        tl = d.get("token_logprobs")
        return Completion(
            text=d["text"],
            prompt_tokens=int(d.get("prompt_tokens", 0)),
            completion_tokens=int(d.get("completion_tokens", 0)),
            token_logprobs=[(t, dict(a)) for t, a in tl] if tl else None,
            cached=True,
        )


class Backend(Protocol):
    model_id: str
    """Identifies the model in cache keys and the manifest."""
    max_concurrency: int
    """Requests this backend can usefully serve at once."""

    async def complete(self, messages: Messages, params: dict[str, Any]) -> Completion: ...

    async def aclose(self) -> None: ...


def api_key_from_env() -> str | None:
    """The first of SAESCOPE_LLM_API_KEY, OPENAI_API_KEY that is set."""
    for var in API_KEY_VARS:
        val = os.environ.get(var)
        if val:
            return val
    return None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date, RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class _Retryable(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait


class _SchemaRejected(Exception):
    """The server refused the request's response_format."""


@dataclass
class OpenAIBackend:
    """Chat completions over HTTP (`POST {base_url}/chat/completions`)."""

    base_url: str
    """Server root ending in /v1 (e.g. http://127.0.0.1:8000/v1)."""
    model: str
    """Model name sent in each request."""
    api_key: str | None = None
    """Bearer token; default from the environment (never logged)."""
    timeout: float = 120.0
    """Total seconds one HTTP request may take (connect, send, the whole answer), then it is
    abandoned and retried: a server trickling bytes cannot hold it longer."""
    max_response_bytes: int = 1 << 20
    """Longest answer read (bytes); a longer one fails the request (not retried)."""
    max_retries: int = 6
    """Retries after the first attempt (429, 5xx, timeouts, broken or malformed bodies)."""
    backoff_base: float = 1.0
    """First backoff in seconds; doubles every retry (with jitter)."""
    backoff_max: float = 60.0
    """Longest backoff (a longer Retry-After is still honoured up to `retry_after_max`)."""
    retry_after_max: float = 600.0
    """Longest Retry-After honoured."""
    max_concurrency: int = 8
    """Requests in flight at once."""
    logprobs: bool = False
    """Ask for token logprobs (top 5) so detection can report an AUROC."""
    json_mode: bool = False
    """Send response_format={"type": "json_object"} when a request carries no JSON schema."""
    structured_output: bool = True
    """Send a request's JSON schema (`params["json_schema"]`) as `response_format` of type
    `json_schema` (OpenAI, vLLM, Ollama, llama.cpp server accept it; servers that ignore it are
    parsed tolerantly). Switched off for the rest of the run when the server rejects it (HTTP
    400/422 naming response_format)."""
    stats: dict[str, int] = field(default_factory=lambda: {"http_requests": 0, "retries": 0})
    """Counts of HTTP requests sent and retries."""

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"--llm-base-url must start with http:// or https:// (got {self.base_url!r})")
        self.base_url = self.base_url.rstrip("/")
        if self.api_key is None:
            self.api_key = api_key_from_env()
        self.model_id = f"openai:{self.base_url}:{self.model}"
        self._client: Any = None

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self.model!r})"

    def _get_client(self) -> Any:
        import httpx

        if self._client is None:
            headers = {"Content-Type": "application/json"}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            self._client = httpx.AsyncClient(
                headers=headers,
                timeout=httpx.Timeout(self.timeout),
                limits=httpx.Limits(max_connections=max(1, self.max_concurrency)),
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def complete(self, messages: Messages, params: dict[str, Any]) -> Completion:
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        body["temperature"] = params.get("temperature", 0.0)
        body["max_tokens"] = params.get("max_tokens", 256)
        # params["prefill"] / params["allowed"] (the format the local backend forces) are not
        # part of the wire format: servers get the instruction alone.
        if "seed" in params:
            body["seed"] = params["seed"]
        if self.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = 5
        schema = params.get("json_schema")
        if schema is not None and self.structured_output:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": True},
            }
        elif self.json_mode:
            body["response_format"] = {"type": "json_object"}
        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            try:
                return await self._once(body)
            except _SchemaRejected:
                self.structured_output = False  # this server does not take schemas: ask plainly
                body.pop("response_format", None)
                continue
            except _Retryable as exc:
                last = str(exc)
                if attempt == self.max_retries:
                    break
                self.stats["retries"] += 1
                backoff = min(self.backoff_max, self.backoff_base * 2**attempt)
                backoff *= 0.5 + random.random() / 2
                wait = backoff if exc.wait is None else min(self.retry_after_max, exc.wait)
                await asyncio.sleep(wait)
        raise LLMError(f"LLM request failed after {self.max_retries + 1} attempts: {last}")

    async def _once(self, body: dict[str, Any]) -> Completion:
        """One HTTP request under a total deadline (httpx's timeouts bound each read, not the
        sum: a server sending a byte every few seconds never trips them)."""
        self.stats["http_requests"] += 1
        try:
            status, headers, raw = await asyncio.wait_for(self._post(body), self.timeout)
        except TimeoutError:
            raise _Retryable(f"no complete answer within {self.timeout:g} s") from None
        if status == 429 or status >= 500 or status == 408:
            raise _Retryable(f"HTTP {status}", parse_retry_after(headers.get("retry-after")))
        text = raw.decode("utf-8", "replace")
        if status in (400, 422) and "response_format" in body and "response_format" in text:
            raise _SchemaRejected(text[:200])
        if status >= 400:
            raise LLMError(f"LLM server answered HTTP {status}: {for_terminal(text[:200])}")
        try:
            data = json.loads(raw)
            choice = data["choices"][0]
            text = choice["message"]["content"]
            if not isinstance(text, str):
                raise TypeError("content is not a string")
        except (ValueError, KeyError, IndexError, TypeError, RecursionError) as exc:
            raise _Retryable(f"malformed response body ({type(exc).__name__})") from None
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return Completion(
            text=text,
            prompt_tokens=_int(usage.get("prompt_tokens")),
            completion_tokens=_int(usage.get("completion_tokens")),
            token_logprobs=_openai_logprobs(choice.get("logprobs")),
        )

    async def _post(self, body: dict[str, Any]) -> tuple[int, Any, bytes]:
        """Status, headers and body of one POST; at most `max_response_bytes` of body are read."""
        import httpx

        client = self._get_client()
        try:
            async with client.stream("POST", f"{self.base_url}/chat/completions", json=body) as resp:
                chunks, size = [], 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_response_bytes:
                        raise LLMError(f"LLM server answer longer than {self.max_response_bytes} "
                                       "bytes (max_response_bytes)")
                    chunks.append(chunk)
                return resp.status_code, resp.headers, b"".join(chunks)
        except httpx.TimeoutException:
            raise _Retryable(f"timeout after {self.timeout:g} s") from None
        except httpx.TransportError as exc:  # refused, reset, truncated body
            raise _Retryable(f"connection error ({type(exc).__name__})") from None


def _int(v: Any) -> int:
    try:
        return max(0, int(v or 0))
    except (TypeError, ValueError, OverflowError):
        return 0


def _openai_logprobs(lp: Any) -> list[tuple[str, dict[str, float]]] | None:
    if not isinstance(lp, dict) or not isinstance(lp.get("content"), list):
        return None
    out = []
    try:
        for tok in lp["content"]:
            alts = {a["token"]: float(a["logprob"]) for a in tok.get("top_logprobs") or []}
            alts.setdefault(tok["token"], float(tok["logprob"]))
            out.append((tok["token"], alts))
    except (KeyError, TypeError, ValueError):
        return None
    return out


class TransformersBackend:
    """A local causal LM through transformers; the chat template of the model formats prompts.

    `params["prefill"]` starts the assistant's answer (e.g. `{"answers": [`) and generation stops
    at the first `}` (or at `params["stop"]`, then `params["close"]` completes the JSON);
    `params["allowed"]` restricts the generated tokens to those answers (e.g.
    "0", "1", ",", "]"): structured output that even a 135M-parameter model keeps to.
    """

    max_concurrency = 1

    def __init__(self, model: str = "smollm2", device: str = "cpu", top_logprobs: int = 5) -> None:
        self.model_name = model
        self.device = device
        self.top_logprobs = top_logprobs
        self.model_id = f"local:{model}"
        self._lock = threading.Lock()
        self._model: Any = None
        self._tok: Any = None
        self._masks: dict[tuple[str, ...], Any] = {}
        self._pieces: list[str] | None = None

    def _load(self) -> None:
        if self._model is not None:
            return
        from saescope.data.models import load_causal_lm

        # `smollm2` (offline default), a local folder or a hub name.
        model, tok = load_causal_lm(self.model_name, device=self.device)
        if getattr(tok, "chat_template", None) is None:
            raise ConfigError(f"--llm-model {self.model_name!r} has no chat template")
        model.eval()
        self._model, self._tok = model, tok

    async def aclose(self) -> None:
        return None

    async def complete(self, messages: Messages, params: dict[str, Any]) -> Completion:
        return await asyncio.to_thread(self._generate, messages, params)

    def _allowed_processor(self, allowed: tuple[str, ...]) -> Any:
        """A logits processor that keeps only tokens spelling one of `allowed` (whitespace aside).

        Constrained decoding, as grammar-based structured output does in llama.cpp or vLLM: the
        model still chooses between the allowed answers ("0" or "1"), it cannot leave the format.
        """
        import torch

        if allowed not in self._masks:
            vocab = len(self._tok)
            mask = torch.zeros(vocab, dtype=torch.bool)
            want = set(allowed)
            pieces = self._vocab_pieces()
            for i, piece in enumerate(pieces):
                if piece.strip() in want or (piece and not piece.strip() and " " in want):
                    mask[i] = True
            if self._tok.eos_token_id is not None:
                mask[self._tok.eos_token_id] = True
            self._masks[allowed] = mask

        mask = self._masks[allowed]

        def processor(input_ids: Any, scores: Any) -> Any:
            m = mask.to(scores.device)
            if scores.shape[-1] > len(m):
                m = torch.cat([m, torch.zeros(scores.shape[-1] - len(m), dtype=torch.bool, device=scores.device)])
            return scores.masked_fill(~m[: scores.shape[-1]], float("-inf"))

        return processor

    def _vocab_pieces(self) -> list[str]:
        """The text of every token of the vocabulary (decoded once)."""
        if self._pieces is None:
            self._pieces = self._tok.batch_decode([[i] for i in range(len(self._tok))])
        return self._pieces

    def _count_processor(self, n_items: int, n_in: int) -> Any:
        """A logits processor that closes a list of `n_items` one-token answers (detection's 0/1):
        no closing bracket before the n-th answer, nothing but one after it. Without it a small
        model writes on past the count (SmolLM2-135M wrote 30 answers for 8 texts), and the
        strict parser refuses the list."""
        import torch

        pieces = [p.strip() for p in self._vocab_pieces()]
        close = torch.tensor([p in ("]", "]}") for p in pieces], dtype=torch.bool)
        brace = torch.tensor([p == "}" for p in pieces], dtype=torch.bool)

        def processor(input_ids: Any, scores: Any) -> Any:
            gen = [i for i in input_ids[0, n_in:].tolist() if i < len(pieces)]
            answers = sum(pieces[i].isdigit() for i in gen)
            if answers >= n_items:
                keep = brace if gen and pieces[gen[-1]].endswith("]") else close
            else:
                keep = ~(close | brace)
            m = torch.zeros(scores.shape[-1], dtype=torch.bool)
            m[: len(keep)] = keep[: scores.shape[-1]]
            if answers < n_items:
                m[len(keep):] = True
            return scores.masked_fill(~m.to(scores.device), float("-inf"))

        return processor

    def _generate(self, messages: Messages, params: dict[str, Any]) -> Completion:
        import torch

        with self._lock:
            self._load()
            tok, model = self._tok, self._model
            prompt = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            # Start the answer with the expected JSON prefix: small models then keep the format.
            prefill = str(params.get("prefill", ""))
            prompt += prefill
            enc = tok(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
            temperature = float(params.get("temperature", 0.0))
            gen_kwargs: dict[str, Any] = {
                "max_new_tokens": int(params.get("max_tokens", 256)),
                "do_sample": temperature > 0,
                "output_scores": True,
                "return_dict_in_generate": True,
                "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
            }
            if prefill:
                gen_kwargs["stop_strings"] = list(params.get("stop") or ["}"])
                gen_kwargs["tokenizer"] = tok
            allowed = params.get("allowed")
            if allowed:
                from transformers import LogitsProcessorList

                procs = [self._allowed_processor(tuple(allowed))]
                if params.get("n_items"):  # a list of exactly n answers (detection)
                    procs.append(self._count_processor(int(params["n_items"]), enc["input_ids"].shape[1]))
                gen_kwargs["logits_processor"] = LogitsProcessorList(procs)
            if temperature > 0:
                gen_kwargs["temperature"] = temperature
                torch.manual_seed(int(params.get("seed", 0)))
            with torch.no_grad():
                out = model.generate(**enc, **gen_kwargs)
            n_in = enc["input_ids"].shape[1]
            new = out.sequences[0, n_in:]
            text = tok.decode(new, skip_special_tokens=True)
            token_lps: list[tuple[str, dict[str, float]]] = []
            for step, scores in enumerate(out.scores):
                if step >= len(new):
                    break
                lp = torch.log_softmax(scores[0].float(), dim=-1)
                top = torch.topk(lp, self.top_logprobs)
                alts = {tok.decode([int(i)]): float(v) for v, i in zip(top.values, top.indices, strict=True)}
                chosen = tok.decode([int(new[step])])
                alts.setdefault(chosen, float(lp[int(new[step])]))
                token_lps.append((chosen, alts))
        close = str(params.get("close", ""))
        if close:
            # Cut at the stop string (a token may carry more after it), then complete the JSON.
            for stop in params.get("stop") or []:
                if stop in text:
                    text = text[: text.index(stop)]
            text += close
        return Completion(
            text=prefill + text,
            prompt_tokens=int(n_in),
            completion_tokens=int(len(new)),
            token_logprobs=token_lps,
        )


@dataclass
class Request:
    """One chat request: messages and generation parameters (part of the cache key)."""

    messages: Messages
    params: dict[str, Any]


class LLM:
    """A backend behind the response cache, running batches of requests with bounded concurrency."""

    def __init__(self, backend: Backend, cache: ResponseCache | None = None, concurrency: int | None = None) -> None:
        self.backend = backend
        self.cache = cache
        self.concurrency = max(1, concurrency or backend.max_concurrency)
        self.stats = {
            "calls": 0,
            "cache_hits": 0,
            "failures": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cached_prompt_tokens": 0,
            "cached_completion_tokens": 0,
        }
        self._stats_lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.backend.model_id

    def key(self, req: Request) -> str:
        return request_key(self.backend.model_id, req.messages, req.params)

    def run(self, requests: Sequence[Request], progress: Any = None) -> list[Completion | LLMError]:
        """Answer every request (cache first); a failure is returned in place, not raised."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.arun(requests, progress))
        # Called from inside an event loop (a notebook, a web app): run on a private loop.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, self.arun(requests, progress)).result()

    async def arun(self, requests: Sequence[Request], progress: Any = None) -> list[Completion | LLMError]:
        sem = asyncio.Semaphore(self.concurrency)
        inflight: dict[str, asyncio.Future[Completion]] = {}

        async def one(req: Request) -> Completion | LLMError:
            key = self.key(req)
            try:
                if key in inflight:  # the same request is already being sent: wait for it
                    return await asyncio.shield(inflight[key])
                hit = self.cache.get(key) if self.cache is not None else None
                if hit is not None:
                    comp = Completion.from_json(hit)
                    self._count(comp, cached=True)
                    return comp
                fut: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
                inflight[key] = fut
                try:
                    async with sem:
                        comp = await self.backend.complete(req.messages, req.params)
                except LLMError as exc:
                    fut.set_exception(exc)
                    fut.exception()  # mark retrieved
                    self._count(None, failed=True)
                    return exc
                except Exception as exc:  # a backend bug must not kill the whole run
                    err = LLMError(f"{type(exc).__name__}: {exc}")
                    fut.set_exception(err)
                    fut.exception()
                    self._count(None, failed=True)
                    return err
                if self.cache is not None:
                    self.cache.put(key, self.backend.model_id, comp.to_json())
                fut.set_result(comp)
                self._count(comp)
                return comp
            except LLMError as exc:
                return exc
            finally:
                if progress is not None:
                    progress.update(1)

        try:
            return list(await asyncio.gather(*(one(r) for r in requests)))
        finally:
            await self.backend.aclose()

    def _count(self, comp: Completion | None, cached: bool = False, failed: bool = False) -> None:
        with self._stats_lock:
            if failed:
                self.stats["failures"] += 1
                return
            assert comp is not None
            if cached:
                self.stats["cache_hits"] += 1
                self.stats["cached_prompt_tokens"] += comp.prompt_tokens
                self.stats["cached_completion_tokens"] += comp.completion_tokens
            else:
                self.stats["calls"] += 1
                self.stats["prompt_tokens"] += comp.prompt_tokens
                self.stats["completion_tokens"] += comp.completion_tokens


def make_backend(
    model: str | None,
    base_url: str | None,
    concurrency: int = 8,
    timeout: float = 120.0,
    device: str = "cpu",
    logprobs: bool = False,
) -> Backend:
    """OpenAI-compatible backend when a base URL is given, else the local transformers model."""
    if base_url:
        if not model:
            raise ConfigError("--llm-model is required with --llm-base-url (the server's model name)")
        return OpenAIBackend(
            base_url=base_url, model=model, timeout=timeout, max_concurrency=concurrency, logprobs=logprobs
        )
    return TransformersBackend(model or "smollm2", device=device)
