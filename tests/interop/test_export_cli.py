"""`saescope export` from the command line, each format, and its errors."""

from __future__ import annotations

import json

from saescope.cli.main import run


def test_export_cli_formats(tiny_run, tmp_path, capsys):
    assert run(["export", tiny_run / "sae", "--format", "saelens", "--out", tmp_path / "sl",
                "--model-id", "minilm"]) == 0
    cfg = json.loads((tmp_path / "sl" / "cfg.json").read_text())
    assert cfg["architecture"] == "topk" and cfg["metadata"]["model_name"] == "minilm"
    # an SAELens folder is an SAE folder for saescope: export it back to itself, via the run layout
    assert run(["export", tmp_path / "sl", "--format", "saelens", "--out", tmp_path / "sl2"]) == 0
    # and into saescope's own layout (for the commands that want cfg.json + sae.safetensors)
    assert run(["export", tmp_path / "sl", "--format", "saescope", "--out", tmp_path / "own"]) == 0
    assert (tmp_path / "own" / "sae.safetensors").is_file()
    assert run(["export", tiny_run, "--format", "delphi", "--out", tmp_path / "de",
                "--hook", "layers.3"]) == 0
    assert (tmp_path / "de" / "sparse_model" / "layers.3" / "sae.safetensors").is_file()
    assert any((tmp_path / "de" / "explanations").glob("layers.3_latent*.txt"))
    assert run(["export", tiny_run, "--format", "neuronpedia", "--out", tmp_path / "np"]) == 0
    assert (tmp_path / "np" / "batch-0.json").is_file()
    capsys.readouterr()


def test_export_cli_errors(tiny_run, tmp_path, capsys):
    assert run(["export", tiny_run / "sae", "--format", "onnx", "--out", tmp_path / "x"]) == 2
    assert "saelens, delphi, neuronpedia or saescope" in capsys.readouterr().err
    assert run(["export", tiny_run / "interpret", "--format", "saelens", "--out", tmp_path / "y"]) == 2
    assert "contains no SAE" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    assert run(["export", tiny_run / "sae", "--format", "saelens", "--out", tmp_path / "full"]) == 2
    assert "not a saescope output" in capsys.readouterr().err


def test_export_cli_delphi_score_files(detection_run, tmp_path, capsys):
    capsys.readouterr()
    assert run(["export", detection_run, "--format", "delphi", "--out", tmp_path / "de",
                "--hook", "layers.3"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    n = result["score_files"]["detection"]
    assert n > 0 and len(list((tmp_path / "de" / "scores" / "detection").glob("layers.3_latent*.txt"))) == n
    assert (tmp_path / "de" / "sparse_model" / "layers.3" / "cfg.json").is_file()


def test_export_cli_output_folder_policy(tiny_run, tmp_path, capsys):
    """One policy (io.open_output): a finished export is refused, --overwrite replaces it
    (old files gone) unless a user added files to it, and an export cut short is redone."""
    out = tmp_path / "own"
    args = ["export", tiny_run / "sae", "--format", "saescope", "--out", out]
    assert run(args) == 0
    assert run(args) == 2 and "finished saescope export (cfg.json); use --overwrite" in capsys.readouterr().err
    (out / "stale.txt").write_text("x")
    capsys.readouterr()
    assert run(args + ["--overwrite"]) == 2 and "stale.txt" in capsys.readouterr().err
    (out / "stale.txt").unlink()
    assert run(args + ["--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == \
        ["cfg.json", "sae.safetensors"]
    (out / "cfg.json").unlink()  # as if killed before the completion mark
    (out / ".saescope-state.json").write_text(json.dumps({"fingerprint": {"src": str(tiny_run / "sae"),
                                                                          "format": "saescope"}}))
    assert run(args) == 0 and (out / "cfg.json").is_file()
    assert not (out / ".saescope-state.json").exists()
    assert run(["export", tiny_run / "sae", "--format", "saelens", "--out", out, "--overwrite"]) == 0
    assert json.loads((out / "cfg.json").read_text())["architecture"] == "topk"
    assert not (out / "sae.safetensors").exists()  # the saescope export's weights were removed
    capsys.readouterr()
