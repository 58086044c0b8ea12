"""SmolVLM2's vision side on the CPU: SigLIP over one frame at a time (patch embedding,
encoder layers, post-norm), then the connector's pixel shuffle and projection: a frame in,
its tokens_per_frame feature rows out, as transformers computes them."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from ..model.shapes import ModelShape
from .weights import VisionLayer, VisionWeights


class VisionTower:
    """Frames' pixels (float32 N x 3 x S x S) to each frame's features."""

    def __init__(self, weights: VisionWeights, shape: ModelShape) -> None:
        self.weights = weights
        self.shape = shape.vision
        self.text_hidden = shape.text.hidden
        self.head_dim = self.shape.hidden // self.shape.heads

    def encode_steps(self, pixels: Any) -> Generator[None, None, list[Any]]:
        """Each frame's features [tokens_per_frame, text hidden], a frame at a time (its
        intermediates stay small enough to be reused from the heap), in slices: yields after
        each encoder layer of each frame, so that other work can run between them."""
        import torch

        v, w = self.shape, self.weights
        features = []
        for frame in pixels:
            with torch.inference_mode():
                patches = frame.unfold(1, v.patch, v.patch).unfold(2, v.patch, v.patch)
                patches = patches.permute(1, 2, 0, 3, 4).reshape(v.patches, -1)
                x = w.patch(patches) + w.positions
            for layer in w.layers:
                yield
                with torch.inference_mode():
                    x = self._layer(layer, x)
            with torch.inference_mode():
                x = self._layer_norm(x, w.post_norm)
                features.append(w.connector(self._pixel_shuffle(x)))
        return features

    def _layer_norm(self, x: Any, norm: tuple[Any, Any]) -> Any:
        import torch.nn.functional as F

        return F.layer_norm(x, (self.shape.hidden,), norm[0], norm[1], self.shape.eps)

    def _layer(self, layer: VisionLayer, x: Any) -> Any:
        import torch.nn.functional as F

        v = self.shape
        qkv = layer.qkv(self._layer_norm(x, layer.norm1))
        q, k, values = qkv.view(v.patches, 3, v.heads, self.head_dim).permute(1, 2, 0, 3)
        # Batched (4-d) inputs take torch's fused CPU kernel: no patches x patches scores in
        # memory, and about 3x faster than the 3-d path (EPYC Zen 4, 2 threads).
        scale = self.head_dim**-0.5
        attended = F.scaled_dot_product_attention(q[None], k[None], values[None], scale=scale)
        x = x + layer.out(attended[0].transpose(0, 1).reshape(v.patches, v.hidden))
        # The MLP's input in its products' dtype: with bfloat16 weights, fc1's output goes to
        # fc2 as it is, never widened to float32 in between.
        hidden = self._layer_norm(x, layer.norm2).to(layer.fc1.dtype)
        return x + layer.fc2(layer.fc1(hidden))

    def _pixel_shuffle(self, x: Any) -> Any:
        """The connector's pixel shuffle, as transformers' SmolVLMConnector does it."""
        v = self.shape
        side, scale, width = v.side, v.scale, v.hidden
        x = x.view(1, side, side, width)
        x = x.view(1, side, side // scale, width * scale).permute(0, 2, 1, 3)
        x = x.reshape(1, side // scale, side // scale, width * scale * scale).permute(0, 2, 1, 3)
        return x.reshape(v.patches // (scale * scale), width * scale * scale)
