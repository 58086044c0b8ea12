"""SmolVLM2 on the CPU, in torch, over the checkpoint's own tensors: the SigLIP tower, the
pixel-shuffle connector and the Llama text model, its own KV cache in pages, one layer
function for prefill and decode over several sequences at once, and 8-bit weights; no
transformers import on its path. transformers' SmolVLM2 is its reference (tests compare
them token for token)."""

from .cache import PAGE, SequenceCache
from .model import ENGINE_VERSION, Engine
from .tuning import EngineTuning
from .weights import supported

__all__ = ["ENGINE_VERSION", "PAGE", "Engine", "EngineTuning", "SequenceCache", "supported"]
