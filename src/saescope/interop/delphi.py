"""EleutherAI delphi: its explanation files from a `saescope interpret` folder, and its SAE layout.

delphi (`eai-delphi` 0.1.3) loads SAEs with `delphi.sparse_coders.load_sparsify`, i.e. with
sparsify's `SparseCoder.load_from_disk(SPARSE_MODEL / HOOKPOINT)`; saescope's checkpoint is
sparsify's layout, so `sparse_model_folder(sae_dir, root, hookpoint)` only lays the folder out
as delphi looks for it (`ROOT/HOOKPOINT/cfg.json + sae.safetensors`). sparsify's coder is a
TopK coder: export `topk` SAEs for delphi.

Explanations: delphi's pipeline writes and, with `--explainer none`, reads
`RESULTS/NAME/explanations/{module}_latent{index}.txt` holding the explanation as a JSON
string (`orjson.dumps(str)`; `delphi/__main__.py`, `Latent.__repr__` gives the name).
`export_delphi` writes saescope's explanations there, so delphi's scorers (detection, fuzz,
simulation, embedding) can score saescope's explanations on the same latents.

Scores: delphi's score files (`scores/{scorer}/{module}_latent{index}.txt`, written by
`delphi/__main__.py` as `orjson.dumps(result.score)`, read back by
`delphi.log.result_analysis.load_data`) hold a JSON list with one `ClassifierOutput` per
scored example (`delphi/scorers/classifier/sample.py`): `str_tokens` list[str],
`activations` list[float], `distance` (the quantile of an activating example, 0 = highest;
-1.0 for a non-activating one not found as a neighbour), `activating` bool, `prediction`
bool | null, `probability` float | null, `correct` bool | null. `export_delphi` writes them
from the detection scorer's answers in `scored_examples.parquet`:

- `scores/detection/`: the activating test texts and the random non-activating ones, the items
  of saescope's `detection` headline, so delphi's per-latent balanced accuracy
  (`compute_classification_metrics(compute_confusion(df))["accuracy"]`) equals `detection`;
- `scores/detection_hard/`: the activating texts and the hard negatives (`detection_hard`).

An embedding SAE has one activation per text, not per token, so each example is one "token":
`str_tokens = [text]`, `activations = [activation]` (delphi joins `str_tokens` into the text).
A token-level interpretation (`examples.parquet` with `tokens` / `token_acts`) gives each example
its real window: `str_tokens` = the window's tokens, `activations` = the latent on each.

Latent cache: `write_latent_cache` writes delphi's own cache of a per-token store
(`latents/{module}/{start}_{end}.safetensors` + `config.json`), so delphi's pipeline can build
its examples (and run its explainers and scorers) from saescope's SAE on saescope's tokens.
delphi's firing counts (`log/hookpoint_firing_counts.pt`, a pickled torch file) are not
written; its loader then leaves `firing_count` out.

The per-latent scores (every scorer) also go to `saescope_scores.jsonl`, one line per latent
keyed like delphi's `latent_df` (`module`, `latent_idx`), to join with delphi's tables.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from saescope.errors import ConfigError, InputError
from saescope.io import atomic_dir, read_json


def check_module_name(module: str) -> str:
    """A delphi module/hookpoint name becomes a file and folder name under the export folder:
    refuse one that would leave it (a path separator, `..`, an absolute path) or is empty."""
    if (not module or "/" in module or "\\" in module or "\0" in module
            or module in (".", "..") or Path(module).is_absolute()):
        raise ConfigError(f"--hook {module!r}: not a module name (no '/', '\\' or '..'; "
                          "e.g. layers.6)")
    return module


def latent_name(module: str, index: int) -> str:
    """delphi's name of a latent (`Latent.__repr__`): `{module}_latent{index}`."""
    return f"{module}_latent{int(index)}"


def sparse_model_folder(sae_dir: str | Path, root: str | Path, hookpoint: str) -> Path:
    """Copy a saescope SAE to `root/hookpoint/`, where delphi's `--sparse_model root` finds it."""
    src = Path(sae_dir)
    for name in ("cfg.json", "sae.safetensors"):
        if not (src / name).is_file():
            raise InputError(f"{src}: not a saescope/sparsify SAE folder ({name} missing)")
    dst = Path(root) / check_module_name(hookpoint)
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("cfg.json", "sae.safetensors"):
        shutil.copyfile(src / name, dst / name)
    return dst


def _num(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


DELPHI_SCORE_SETS = {"detection": "random_negative", "detection_hard": "hard_negative"}
"""delphi score folder -> the kind of non-activating examples it holds (with every activating one)."""


def classifier_outputs(examples: Any) -> list[dict[str, Any]]:
    """delphi `ClassifierOutput` records (as dicts, its field names and types) of scored examples.

    `examples`: rows of `scored_examples.parquet` (a DataFrame) of one scorer and latent.
    """
    out = []
    for r in examples.to_dict("records"):
        pred = _num(r["prediction"])
        prob = _num(r["probability"])
        correct = r["correct"]
        toks = r.get("tokens")
        has_tokens = toks is not None and not (isinstance(toks, float) and math.isnan(toks))
        out.append({
            "str_tokens": [str(t) for t in toks] if has_tokens else [r["text"]],
            "activations": ([float(a) for a in r["token_acts"]] if has_tokens
                            else [float(r["activation"])]),
            "distance": int(r["quantile"]) if r["activating"] else -1.0,
            "activating": bool(r["activating"]),
            "prediction": None if pred is None else bool(pred > 0.5),
            "probability": prob,
            "correct": None if correct is None or correct != correct else bool(correct),
        })  # fmt: skip
    return out


def write_score_files(scored_examples: str | Path, scores_dir: Path, module: str) -> dict[str, int]:
    """delphi's `scores/{detection,detection_hard}/{module}_latent{i}.txt` from saescope's
    detection answers; returns the number of files per folder."""
    df = pq.read_table(scored_examples).to_pandas()
    df = df[df["scorer"] == "detection"]
    examples = Path(scored_examples).with_name("examples.parquet")
    if examples.is_file() and {"tokens", "token_acts"} <= set(pq.read_schema(examples).names):
        tok = pq.read_table(examples, columns=["latent", "id", "tokens", "token_acts"]).to_pandas()
        df = df.merge(tok.drop_duplicates(["latent", "id"]), on=["latent", "id"], how="left")
    counts = {}
    for folder, negative in DELPHI_SCORE_SETS.items():
        part = df[df["activating"] | (df["kind"] == negative)]
        n = 0
        for lat, rows in part.groupby("latent", sort=True):
            if not rows["activating"].any() or rows["activating"].all():
                continue  # no negatives of this kind (or no positives): nothing to tell apart
            (scores_dir / folder).mkdir(parents=True, exist_ok=True)
            name = latent_name(module, int(lat)).replace("/", "--")  # as delphi names score files
            (scores_dir / folder / f"{name}.txt").write_text(
                json.dumps(classifier_outputs(rows), ensure_ascii=False), encoding="utf-8")
            n += 1
        counts[folder] = n
    return counts


def export_delphi(interpret_dir: str | Path, out: str | Path, module: str = "saescope",
                  overwrite: bool = False) -> dict[str, Any]:
    """Write `explanations/` and `scores/` (delphi's files) and `saescope_scores.jsonl` under `out`.

    `scores/` needs the detection scorer's answers (`scored_examples.parquet`, written by
    `saescope interpret --scorer detection,...`); without them only the explanations and the
    per-latent scores are written.
    """
    check_module_name(module)
    src = Path(interpret_dir)
    lat_path = src / "latents.parquet"
    if not lat_path.is_file():
        raise InputError(f"{src}: not an interpret output (latents.parquet missing)")
    df = pq.read_table(lat_path).to_pandas()
    manifest = read_json(src / "manifest.json") if (src / "manifest.json").is_file() else {}
    scorers = [s for s in manifest.get("scorers", []) if s in df.columns]
    n_expl = 0
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / "explanations").mkdir()
        lines = []
        for rec in df.to_dict("records"):
            lat = int(rec["latent"])
            if isinstance(rec.get("explanation"), str) and rec["explanation"]:
                (tmp / "explanations" / f"{latent_name(module, lat)}.txt").write_text(
                    json.dumps(str(rec["explanation"]), ensure_ascii=False), encoding="utf-8")
                n_expl += 1
            row = {"module": module, "latent_idx": lat, "latent": latent_name(module, lat),
                   "explanation": rec["explanation"] if isinstance(rec.get("explanation"), str) else None,
                   "status": rec.get("status"),
                   "density": _num(rec.get("density"))}
            for s in scorers:
                row[s] = {k: _num(rec.get(c)) for k, c in
                          (("score", s), ("lo", f"{s}_lo"), ("hi", f"{s}_hi"),
                           ("baseline", f"{s}_baseline"))}
            lines.append(json.dumps(row))
        (tmp / "saescope_scores.jsonl").write_text("".join(x + "\n" for x in lines))
        score_files = {}
        if (src / "scored_examples.parquet").is_file():
            score_files = write_score_files(src / "scored_examples.parquet", tmp / "scores", module)
        (tmp / "saescope_export.json").write_text(json.dumps(
            {"module": module, "explainer": manifest.get("explainer"), "model": manifest.get("model"),
             "scorers": scorers, "score_files": score_files, "source": str(src.resolve())},
            indent=2) + "\n")
    return {"latents": len(df), "explanations": n_expl, "scorers": scorers, "score_files": score_files,
            "out": str(out)}


def write_latent_cache(store: str | Path, sae_dir: str | Path, out: str | Path, module: str,
                       model_name: str = "", n_splits: int = 1, pad_token_id: int = 0) -> dict[str, Any]:
    """delphi's latent cache of a per-token store under an SAE, in `out/module/`.

    The files delphi's `LatentCache.save_splits` writes and `delphi.latents.loader.TensorBuffer`
    / `LatentDataset` read (`eai-delphi` 0.1.3, `delphi/latents/cache.py`): per split of the
    latents, `{start}_{end}.safetensors` with `locations` [n, 3] (document, position in the
    document, latent - start; uint16 when every value fits, else uint32), `activations` [n]
    float16, `tokens` [documents, ctx_len] (the token ids, right-padded with `pad_token_id`),
    and `config.json` holding `model_name` (delphi loads the tokenizer from it) and the
    context length. Documents are numbered in order of first appearance; a document's tokens
    are the store's rows in order (the first position, which `activations` leaves out by
    default, is not in the store, so not in the cache).
    """
    import numpy as np
    from safetensors.numpy import save_file

    from saescope.data.vectors import read_vectors
    from saescope.sae.encode import encode_csr
    from saescope.sae.model import SparseAutoencoder

    vt = read_vectors(store)
    meta = vt.meta
    if meta is None or not {"doc_id", "token_id"} <= set(meta.column_names):
        raise InputError(f"{store}: not a per-token store (needs doc_id and token_id columns; "
                         "saescope activations --per-token)")
    sae = SparseAutoencoder.load(sae_dir)
    if vt.X.shape[1] != sae.d_in:
        raise InputError(f"{store}: vectors have {vt.X.shape[1]} dimensions, the SAE in {sae_dir} "
                         f"expects {sae.d_in}")
    docs = np.asarray([str(d) for d in meta["doc_id"].to_pylist()], dtype=object)
    _, first, inv = np.unique(docs, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    doc = rank[inv.reshape(-1)]
    order = np.argsort(doc, kind="stable")  # rows of a document together, in store order
    seq = np.empty(len(doc), np.int64)
    counts = np.bincount(doc, minlength=len(first))
    seq[order] = np.arange(len(doc)) - np.repeat(np.cumsum(counts) - counts, counts)
    ctx_len = int(counts.max()) if len(counts) else 0
    tokens = np.full((len(first), ctx_len), pad_token_id, dtype=np.int64)
    tokens[doc, seq] = meta["token_id"].to_numpy(zero_copy_only=False)
    coo = encode_csr(sae, vt.X).tocoo()
    keep = coo.data != 0
    rows, lat, acts = coo.row[keep], coo.col[keep].astype(np.int64), coo.data[keep]
    bounds = np.linspace(0, sae.num_latents, n_splits + 1).astype(np.int64)
    folder = Path(out) / module
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        sel = (lat >= start) & (lat < stop)
        loc = np.stack([doc[rows[sel]], seq[rows[sel]], lat[sel] - start], axis=1)
        dtype = np.uint16 if (loc.max(initial=0) < 2**16) else np.uint32
        name = f"{start}_{stop - 1}.safetensors"  # delphi's names: inclusive bounds
        save_file({"locations": np.ascontiguousarray(loc.astype(dtype)),
                   "activations": acts[sel].astype(np.float16), "tokens": tokens}, str(folder / name))
        files.append(name)
    (folder / "config.json").write_text(json.dumps(
        {"model_name": model_name, "cache_ctx_len": ctx_len, "n_tokens": int(len(doc)),
         "n_splits": n_splits, "dataset_repo": str(store), "dataset_column": "token"}, indent=2))
    return {"module": module, "documents": int(len(first)), "tokens": int(len(doc)),
            "nonzero": int(keep.sum()), "files": files}
