"""Read everything a run holds, once, for the plots, the report and the dashboard (where the
files are is `saescope.run_layout.RunLayout`'s job: a folder, one stage's output, or parts).

The views read the run folder and nothing else. Each artifact is loaded lazily and cached on
the `RunData` object; an absent artifact reads as `None` and `missing()` says, in words, what
is not there so a view can show what it has and name what it lacks.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from saescope.errors import InputError
from saescope.io import read_json
from saescope.run_layout import RunLayout

SCORE_SUFFIXES = ("_lo", "_hi", "_baseline")


class RunData:
    """Lazy, cached access to the artifacts of a run folder (or of one stage's output)."""

    def __init__(self, run_dir: str | Path | RunLayout):
        self.layout = run_dir if isinstance(run_dir, RunLayout) else RunLayout.detect(run_dir)
        self.root = self.layout.root

    # ---------------------------------------------------------------- what is here
    def missing(self) -> list[str]:
        """Human-readable lines naming each absent artifact and what it would add."""
        lay = self.layout
        out = []
        if lay.data is None:
            out.append("data: no data/embeddings.parquet (embedding-space views, 'try your text' sample)")
        if lay.sae is None:
            out.append("sae: no SAE (cfg.json + sae.safetensors): training curves, decoder map")
        else:
            if self.train_log() is None:
                out.append(f"sae: no {lay.sae / 'train_log.jsonl'} (training curves)")
            if self.latent_stats() is None:
                out.append(f"sae: no {lay.sae / 'latent_stats.parquet'} (firing frequencies)")
        if lay.interpret is None:
            out.append("interpret: no latents.parquet + summary.json (explanations, scores)")
        elif self.examples() is None:
            out.append(f"interpret: no {lay.interpret / 'examples.parquet'} (examples per latent)")
        if lay.curate is None:
            out.append("curate: no selected.parquet + manifest.json (curation views)")
        elif self.projection() is None:
            out.append(f"curate: no {lay.curate / 'projection.parquet'} (PCA view)")
        return out

    def is_empty(self) -> bool:
        lay = self.layout
        return not (lay.data or lay.sae or lay.interpret or lay.curate or lay.hypotheses)

    # ---------------------------------------------------------------- run
    @functools.cache  # noqa: B019 - one RunData per run folder; the cache lives with it
    def run_info(self) -> dict[str, Any] | None:
        return _json_or_none(self.root / "run.json")

    # ---------------------------------------------------------------- train
    @functools.cache  # noqa: B019
    def sae_cfg(self) -> dict[str, Any] | None:
        return _json_or_none(self.layout.sae / "cfg.json") if self.layout.sae else None

    @functools.cache  # noqa: B019
    def train_metrics(self) -> dict[str, Any] | None:
        return _json_or_none(self.layout.sae / "metrics.json") if self.layout.sae else None

    @functools.cache  # noqa: B019
    def train_log(self) -> pd.DataFrame | None:
        """One row per logged step (step, samples, loss, fvu, l0, dead_fraction, lr)."""
        if self.layout.sae is None:
            return None
        path = self.layout.sae / "train_log.jsonl"
        if not path.is_file():
            return None
        rows = []
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}: line {i} is not valid JSON ({exc})") from None
        if not rows:
            return None
        df = pd.DataFrame(rows)
        if "step" not in df.columns:
            raise InputError(f"{path}: no 'step' field in the log records")
        return df.sort_values("step").reset_index(drop=True)

    @functools.cache  # noqa: B019
    def latent_stats(self) -> pd.DataFrame | None:
        """latent, frequency, mean_activation on the SAE's training rows of the dead count (the
        uniform sample `dead_window` of metrics.json)."""
        if self.layout.sae is None:
            return None
        return _parquet_or_none(self.layout.sae / "latent_stats.parquet", ("latent", "frequency"))

    @functools.cache  # noqa: B019
    def dead_latents(self) -> dict[str, Any] | None:
        """The SAE's dead latents from its one source, metrics.json: `n_dead`, `n_latents`, `rows`
        (training rows counted on, `dead_window`) and `fraction`; None without that metric."""
        m = self.train_metrics()
        if not m or not isinstance(m.get("dead_fraction"), (int, float)):
            return None
        n = m.get("num_latents") or (self.sae_cfg() or {}).get("num_latents")
        if not n:
            return None
        rows = m.get("dead_window")
        return {"n_dead": int(round(float(m["dead_fraction"]) * int(n))), "n_latents": int(n),
                "rows": int(rows) if isinstance(rows, (int, float)) else None,
                "fraction": float(m["dead_fraction"])}

    def dead_words(self) -> str:
        """"58 of 103 latents dead (never fired on 4,500 training rows; metrics.json)", or ""."""
        d = self.dead_latents()
        if d is None:
            return ""
        on = f"on {d['rows']:,} training rows" if d["rows"] else "on the training rows"
        return f"{d['n_dead']} of {d['n_latents']} latents dead (never fired {on}; metrics.json)"

    @functools.cache  # noqa: B019
    def dead_mask(self) -> np.ndarray | None:
        """[M] bool: the latents that never fired on the rows of the dead count (latent_stats.parquet,
        written with metrics.json from the same rows); None without it."""
        stats = self.latent_stats()
        cfg = self.sae_cfg() or {}
        if stats is None or not cfg.get("num_latents"):
            return None
        mask = np.zeros(int(cfg["num_latents"]), dtype=bool)
        lat = stats["latent"].to_numpy()
        ok = (lat >= 0) & (lat < len(mask))
        mask[lat[ok]] = stats["frequency"].to_numpy(dtype=float)[ok] == 0
        return mask

    @functools.cache  # noqa: B019
    def sae(self) -> Any | None:
        """The trained `SparseAutoencoder` on CPU (None without an SAE)."""
        if self.layout.sae is None:
            return None
        from saescope.sae import SparseAutoencoder

        return SparseAutoencoder.load(self.layout.sae, device="cpu")

    @functools.cache  # noqa: B019
    def decoder(self) -> np.ndarray | None:
        """Decoder directions W_dec as float32 [M, d_in]."""
        sae = self.sae()
        if sae is None:
            return None
        return sae.W_dec.detach().cpu().numpy().astype(np.float32, copy=False)

    # ---------------------------------------------------------------- data
    @functools.cache  # noqa: B019
    def data(self) -> tuple[np.ndarray, pd.DataFrame] | None:
        """(X float32 [N, d], metadata frame with `id` and the passthrough columns)."""
        if self.layout.data is None:
            return None
        from saescope.data.vectors import read_vectors

        table = read_vectors(self.layout.data)
        meta = table.meta.to_pandas() if table.meta is not None else pd.DataFrame()
        if "id" not in meta.columns:
            meta.insert(0, "id", [str(i) for i in table.ids])
        meta["id"] = meta["id"].astype(str)
        return table.X, meta

    def label_columns(self) -> list[str]:
        """Low-cardinality string columns of the data usable as colours (e.g. domain, subject)."""
        d = self.data()
        if d is None:
            return []
        _, meta = d
        out = []
        for c in meta.columns:
            if c in ("id", "text"):
                continue
            s = meta[c]
            if (s.dtype == object or pd.api.types.is_string_dtype(s)) and 1 < s.nunique() <= 100:
                out.append(c)
        preferred = ("label", "domain", "category", "topic", "subject")
        return sorted(out, key=lambda c: preferred.index(c) if c in preferred else len(preferred))

    def codes(self, idx: np.ndarray) -> Any | None:
        """SAE codes (scipy CSR [len(idx), M]) of the data rows `idx`; None without SAE or data."""
        d, sae = self.data(), self.sae()
        if d is None or sae is None:
            return None
        from saescope.sae import encode_csr

        return encode_csr(sae, np.ascontiguousarray(d[0][idx]), batch_size=1024)

    # ---------------------------------------------------------------- interpret
    @functools.cache  # noqa: B019
    def latents(self) -> pd.DataFrame | None:
        if self.layout.interpret is None:
            return None
        return _parquet_or_none(self.layout.interpret / "latents.parquet", ("latent",))

    @functools.cache  # noqa: B019
    def examples(self) -> pd.DataFrame | None:
        if self.layout.interpret is None:
            return None
        df = _parquet_or_none(
            self.layout.interpret / "examples.parquet", ("latent", "id", "activation", "kind")
        )
        if df is not None:
            df["id"] = df["id"].astype(str)
        return df

    @functools.cache  # noqa: B019
    def interpret_summary(self) -> dict[str, Any] | None:
        if self.layout.interpret is None:
            return None
        return _json_or_none(self.layout.interpret / "summary.json")

    @functools.cache  # noqa: B019
    def interpret_manifest(self) -> dict[str, Any] | None:
        if self.layout.interpret is None:
            return None
        return _json_or_none(self.layout.interpret / "manifest.json")

    @functools.cache  # noqa: B019
    def extra_interpretations(self) -> dict[str, pd.DataFrame]:
        """latents.parquet of the further interpret outputs (`RunLayout.also_interpret`), by
        folder name: more explanations per latent."""
        out = {}
        for folder in self.layout.also_interpret:
            if folder != self.layout.interpret:
                df = _parquet_or_none(folder / "latents.parquet", ("latent",))
                if df is not None:
                    out[folder.name] = df
        return out

    def scorers(self) -> list[str]:
        """Scorer names S with columns S, S_lo, S_hi in latents.parquet."""
        df = self.latents()
        if df is None:
            return []
        cols = set(df.columns)
        return [c for c in df.columns if f"{c}_lo" in cols and f"{c}_hi" in cols]

    def latent_table(self) -> pd.DataFrame | None:
        """One row per latent joining interpretation and firing statistics, best known first."""
        lat, stats = self.latents(), self.latent_stats()
        if lat is None and stats is None:
            return None
        if lat is None:
            df = stats.copy()
            df["density"] = df["frequency"]
        else:
            df = lat.copy()
            if stats is not None and "mean_activation" in stats.columns:
                df = df.merge(stats[["latent", "mean_activation"]], on="latent", how="left")
        return df.reset_index(drop=True)

    # ---------------------------------------------------------------- curate
    @functools.cache  # noqa: B019
    def selected(self) -> pd.DataFrame | None:
        if self.layout.curate is None:
            return None
        df = _parquet_or_none(self.layout.curate / "selected.parquet", ())
        if df is not None and "id" in df.columns:
            df["id"] = df["id"].astype(str)
        return df

    @functools.cache  # noqa: B019
    def curate_manifest(self) -> dict[str, Any] | None:
        if self.layout.curate is None:
            return None
        return _json_or_none(self.layout.curate / "manifest.json")

    @functools.cache  # noqa: B019
    def projection(self) -> pd.DataFrame | None:
        if self.layout.curate is None:
            return None
        df = _parquet_or_none(self.layout.curate / "projection.parquet", ("id", "role", "x", "y"))
        if df is not None:
            df["id"] = df["id"].astype(str)
        return df

    def curation_metrics(self) -> pd.DataFrame | None:
        """Rows: the run's space and each baseline; columns: the scalar metrics."""
        man = self.curate_manifest()
        if man is None or "metrics" not in man:
            return None
        space = str((man.get("config") or {}).get("space", "selection"))
        rows = {space: man["metrics"]}
        for name, m in (man.get("baselines") or {}).items():
            rows[f"{name} (baseline)" if name != space else f"{name} (baseline run)"] = m
        table = {
            name: {k: v for k, v in m.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            for name, m in rows.items()
        }
        return pd.DataFrame.from_dict(table, orient="index")


def _json_or_none(path: Path) -> dict[str, Any] | None:
    return read_json(path) if path.is_file() else None


def _parquet_or_none(path: Path, required: tuple[str, ...]) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        df = pq.read_table(path).to_pandas()
    except Exception as exc:
        raise InputError(f"{path}: cannot read Parquet ({type(exc).__name__}: {exc})") from None
    absent = [c for c in required if c not in df.columns]
    if absent:
        raise InputError(f"{path}: missing column(s) {', '.join(absent)} (see docs/architecture.md)")
    return df
