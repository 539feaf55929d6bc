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

Scores: delphi's score files (`scores/{scorer}/{module}_latent{index}.txt`) hold one record per
scored example (`str_tokens`, `activations`, `distance`, `activating`, `prediction`,
`probability`, `correct`; `delphi/scorers/classifier/sample.py`). saescope's interpret output
keeps per-latent scores, not per-example predictions, so those files cannot be filled
honestly; the per-latent scores go to `saescope_scores.jsonl` instead, one line per latent
keyed like delphi's `latent_df` (`module`, `latent_idx`), to join with delphi's
`log/result_analysis.py` tables side by side.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from saescope.errors import InputError
from saescope.io import atomic_dir, read_json


def latent_name(module: str, index: int) -> str:
    """delphi's name of a latent (`Latent.__repr__`): `{module}_latent{index}`."""
    return f"{module}_latent{int(index)}"


def sparse_model_folder(sae_dir: str | Path, root: str | Path, hookpoint: str) -> Path:
    """Copy a saescope SAE to `root/hookpoint/`, where delphi's `--sparse_model root` finds it."""
    src = Path(sae_dir)
    for name in ("cfg.json", "sae.safetensors"):
        if not (src / name).is_file():
            raise InputError(f"{src}: not a saescope/sparsify SAE folder ({name} missing)")
    dst = Path(root) / hookpoint
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("cfg.json", "sae.safetensors"):
        shutil.copyfile(src / name, dst / name)
    return dst


def _num(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def export_delphi(interpret_dir: str | Path, out: str | Path, module: str = "saescope",
                  overwrite: bool = False) -> dict[str, Any]:
    """Write `explanations/` (delphi's files) and `saescope_scores.jsonl` under `out`."""
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
        (tmp / "saescope_export.json").write_text(json.dumps(
            {"module": module, "explainer": manifest.get("explainer"), "model": manifest.get("model"),
             "scorers": scorers, "source": str(src.resolve())}, indent=2) + "\n")
    return {"latents": len(df), "explanations": n_expl, "scorers": scorers, "out": str(out)}
