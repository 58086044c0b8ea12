"""Model resolution: aliases, folders, Hub ids, and checks made before any weights load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chronicon_mlx.errors import ModelError, UsageError
from chronicon_mlx.model import catalog, resolver
from chronicon_mlx.model.shapes import ModelShape


def test_aliases_and_hub_ids_find_their_spec() -> None:
    spec = catalog.find_spec("256M")
    assert spec is not None and spec.hub_id == "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"
    assert catalog.find_spec("HuggingFaceTB/SmolVLM2-2.2B-Instruct") is catalog.find_spec("2.2b")
    assert catalog.find_spec("7b") is None


@pytest.mark.parametrize(("alias", "tokens"), [("256m", 64), ("500m", 64), ("2.2b", 81)])
def test_tokens_per_frame_follow_from_the_architecture(alias: str, tokens: int) -> None:
    spec = catalog.find_spec(alias)
    assert spec is not None
    config = {"vision_config": spec.vision, "scale_factor": spec.scale_factor}
    assert ModelShape.of(config).tokens_per_frame == spec.tokens_per_frame == tokens


def test_a_local_folder_resolves_without_the_hub(tiny_model: Path) -> None:
    ref = resolver.resolve(str(tiny_model))
    assert ref.source == "folder" and ref.path == tiny_model
    assert ref.random_weights and ref.tokens_per_frame == 4 and ref.frame_size == 64


def test_unknown_alias_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown model '13b'"):
        resolver.resolve("13b")


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model folder not found"):
        resolver.resolve(str(tmp_path / "nowhere"))


def test_folder_with_missing_files(tiny_model: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / "tokenizer.json").unlink()
    (broken / "model.safetensors").unlink()
    with pytest.raises(ModelError, match=r"missing tokenizer\.json, \*\.safetensors"):
        resolver.resolve(str(broken))


def test_other_architecture_is_refused_from_its_config(tiny_model: Path, tmp_path: Path) -> None:
    other = tmp_path / "qwen"
    shutil.copytree(tiny_model, other)
    config = json.loads((other / "config.json").read_text())
    config["model_type"] = "qwen2_vl"
    (other / "config.json").write_text(json.dumps(config))
    (other / "model.safetensors").write_bytes(b"not weights")  # never read
    with pytest.raises(ModelError, match="holds a 'qwen2_vl' model, not SmolVLM2"):
        resolver.resolve(str(other))
