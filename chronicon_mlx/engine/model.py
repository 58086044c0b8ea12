"""The engine: SmolVLM2 on the CPU in torch over the checkpoint's tensors, without
transformers. The text model loads first; the vision tower loads when a frame first needs
encoding (a question about a video whose frames are all cached never loads it)."""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from ..machine import release_freed_memory
from ..model.shapes import ModelShape
from .cache import SequenceCache
from .checkpoint import Checkpoint
from .pixels import PixelSettings, pixels
from .steps import run_through
from .text import Chunk, Rows, TextModel
from .tokens import Tokenizer, generation_settings, stop_ids
from .tuning import EngineTuning, Kernels
from .vision import VisionTower
from .weights import TextWeights, text_weights, vision_weights

ENGINE_VERSION = "1"


class Engine:
    """A loaded checkpoint: tokenizer, text model, and (on first use) the vision tower."""

    def __init__(
        self,
        folder: Path,
        config: dict[str, Any],
        tuning: EngineTuning | None = None,
        int8: bool = False,
        store: Path | None = None,
    ) -> None:
        import torch

        self.folder = folder
        self.shape = ModelShape.of(config)
        self.kernels: Kernels = (tuning or EngineTuning()).resolved()
        if self.kernels.threads is not None:
            torch.set_num_threads(self.kernels.threads)
        self.int8 = int8
        self.tokenizer = Tokenizer(folder)
        self.stop = stop_ids(folder, config)
        self.generation = generation_settings(folder)
        self.pixel_settings = PixelSettings.read(folder, self.shape.vision.image_size)
        self._checkpoint = Checkpoint(folder)
        with torch.inference_mode():
            weights = self._text_weights(store) if int8 and store is not None else None
            weights = weights or text_weights(self._checkpoint, self.shape.text, self.kernels, int8)
        apart = int8 and self.kernels.int8_prompts == "bfloat16"
        self.text = TextModel(weights, self.shape.text, prompts_apart=apart)
        release_freed_memory()
        self._vision: VisionTower | None = None
        self.vision_load_s = 0.0

    def _text_weights(self, store: Path) -> TextWeights | None:
        """8-bit text weights from the store (`store` folder), quantized and kept there the
        first time."""
        from ..model.fingerprint import fingerprint
        from . import store as kept

        path = store / kept.key_of(fingerprint(self.folder, store / "digests"), ENGINE_VERSION)
        found = kept.load(path, self.shape.text, self.kernels)
        if found is None:
            found = text_weights(self._checkpoint, self.shape.text, self.kernels, True)
            kept.save(path, found)
        return found

    @property
    def image_token(self) -> int:
        """The id of ``<image>``."""
        assert self.shape.image_token_id is not None
        return self.shape.image_token_id

    @property
    def vision_loaded(self) -> bool:
        """Whether the vision tower has been read."""
        return self._vision is not None

    def record(self) -> dict[str, str]:
        """What results say about the engine: its version, kernels and weights."""
        record = {
            "engine": ENGINE_VERSION,
            **self.kernels.record(),
            "weights": "int8 text, bfloat16 vision" if self.int8 else "float32",
        }
        if self.int8:
            seven = " (7-bit inputs)" if self.kernels.reduce_range else ""
            record["int8"] = self.kernels.int8 + seven
            record["int8_vision"] = self.kernels.int8_vision
            record["int8_prompts"] = self.kernels.int8_prompts
        return record

    def vision(self) -> VisionTower:
        """The vision tower, read from the checkpoint on first use."""
        if self._vision is None:
            import torch

            started = time.perf_counter()
            with torch.inference_mode():
                weights = vision_weights(self._checkpoint, self.shape, self.kernels, self.int8)
            self._vision = VisionTower(weights, self.shape)
            release_freed_memory()
            self.vision_load_s = time.perf_counter() - started
        return self._vision

    def preprocess(self, frames: Sequence[Any]) -> Any:
        """Frames (RGB uint8) as the tower's pixels, float32 N x 3 x S x S."""
        import torch

        return torch.from_numpy(pixels(frames, self.pixel_settings))

    def encode(self, pixel_values: Any) -> list[Any]:
        """Each frame's features [tokens_per_frame, text hidden]."""
        return run_through(self.encode_steps(pixel_values))

    def encode_steps(self, pixel_values: Any) -> Generator[None, None, list[Any]]:
        """`encode` in slices of one encoder layer of one frame (see VisionTower)."""
        return _trimmed(self.vision().encode_steps(pixel_values))

    def new_sequence(self, tokens: int = 0) -> SequenceCache:
        """An empty sequence with room for `tokens` tokens."""
        return self.text.new_cache(tokens)

    def inputs(self, ids: Sequence[int], features: Sequence[Any]) -> Any:
        """The input rows of `ids`: token embeddings, each frame's image tokens replaced by
        that frame's features (in order)."""
        import torch

        x = self.text.embed(ids)
        if features:
            slots = torch.tensor([t == self.image_token for t in ids]).nonzero()[:, 0]
            rows = torch.cat(list(features), dim=0)
            if int(slots.numel()) != int(rows.shape[0]):
                raise ValueError(
                    f"the prompt holds {int(slots.numel())} image tokens but the frames give"
                    f" {int(rows.shape[0])} feature rows"
                )
            x[slots] = rows
        return x

    def prefill(
        self, sequence: SequenceCache, ids: Sequence[int], features: Sequence[Any] = ()
    ) -> Any:
        """Append `ids` (each frame's image tokens filled with its features) to a sequence,
        the tuning's `prefill_rows` at a time; return the logits [vocab] after the last."""
        return run_through(self.prefill_steps(sequence, ids, features, self.kernels.prefill_rows))

    def prefill_steps(
        self, sequence: SequenceCache, ids: Sequence[int], features: Sequence[Any], rows: int
    ) -> Generator[Chunk, Any, Any]:
        """`prefill` in chunks of `rows` tokens, each handed to the driver to run (see
        `steps`; it sends back the chunk's last hidden state); returns the logits after the
        last token."""
        if not ids:
            raise ValueError("a prefill needs at least one token")
        x = self.inputs(ids, features)
        last = None
        for first in range(0, len(ids), rows):
            last = yield Chunk(self.text, sequence, x[first : first + rows])
        return self.text.logits(last)[0]

    def decode(self, sequences: Sequence[SequenceCache], tokens: Sequence[int]) -> Any:
        """One step of several sequences at once, each one token further: logits [N, vocab]."""
        return self.step(sequences, tokens)[0]

    def step(
        self,
        sequences: Sequence[SequenceCache],
        tokens: Sequence[int],
        chunks: Sequence[Chunk] = (),
    ) -> tuple[Any, list[Any]]:
        """One forward over several sequences, each weight read once for all: each of
        `sequences` one token further (their logits [N, vocab], None for none), and each
        chunk's rows appended to its sequence (its last row's hidden state [1, hidden]).
        Chunks change none of the decode rows' results, and a chunk of several rows comes
        out as it does alone: the products compute each row on its own once there are
        several, and attention runs per sequence."""
        import torch

        parts = [self.text.embed(tokens)] if sequences else []
        parts += [chunk.rows for chunk in chunks]
        rows: list[Rows] = [(sequence, 1) for sequence in sequences]
        rows += [(chunk.sequence, chunk.count) for chunk in chunks]
        hidden = self.text.forward(parts[0] if len(parts) == 1 else torch.cat(parts), rows)
        logits = self.text.logits(hidden[: len(sequences)]) if sequences else None
        lasts, end = [], len(sequences)
        for chunk in chunks:
            end += chunk.count
            lasts.append(hidden[end - 1 : end])
        return logits, lasts


def _trimmed(steps: Generator[None, None, list[Any]]) -> Generator[None, None, list[Any]]:
    """`steps`, then the heap's freed pages given back: the frames' temporaries would
    otherwise stay with the process while the text weights' pages come in (an int8 analysis
    of 8 frames peaked at 0.74 GB against 0.79 GB: EPYC Zen 4, the 256M architecture,
    `chronicon-mlx bench`'s clip, three runs each)."""
    features = yield from steps
    release_freed_memory()
    return features
