"""A greedy decode loop straight over the text model and the LM head.

``generate()`` rebuilds its inputs, masks, logits processors and stopping criteria on every
token; for a greedy answer (constrained to JSON or not) none of that is needed. This loop
feeds the same ids to the same modules in the same order as ``generate()`` does, so its
tokens are generate()'s tokens, at the cost of one forward per token and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

# generate() settings that change a greedy choice; with any of them set, generate() runs.
_GREEDY_CHANGERS = {
    "repetition_penalty": (None, 1.0),
    "no_repeat_ngram_size": (None, 0),
    "encoder_no_repeat_ngram_size": (None, 0),
    "bad_words_ids": (None,),
    "suppress_tokens": (None,),
    "begin_suppress_tokens": (None,),
    "forced_bos_token_id": (None,),
    "forced_eos_token_id": (None,),
    "sequence_bias": (None,),
    "min_length": (None, 0),
    "min_new_tokens": (None, 0),
    "exponential_decay_length_penalty": (None,),
    "renormalize_logits": (None, False),
}


def plain_greedy(generation_config: Any) -> bool:
    """True when the model's generation config leaves greedy choices to the logits alone."""
    return all(
        getattr(generation_config, name, None) in allowed
        for name, allowed in _GREEDY_CHANGERS.items()
    )


class Mask(Protocol):
    """What the loop needs from a constraint: restrict the next logits, then learn the
    token that was chosen."""

    def restrict(self, logits: Any) -> None:
        """Set the logits of forbidden tokens to -inf, in place (shape [1, vocab])."""

    def consume(self, token: int) -> None:
        """Advance past the chosen token."""


def model_forward(model: Any, cache: Any, cache_kwarg: str) -> Callable[[list[int]], Any]:
    """Run ids through a transformers model's text model into `cache`: the last logits
    [1, vocab] in float32, as generate() computes them."""
    import torch

    text_model = model.model.text_model
    embed = text_model.get_input_embeddings()
    head = model.lm_head
    device = head.weight.device

    def forward(ids: list[int]) -> Any:
        feed = torch.tensor([ids], device=device)
        hidden = text_model(inputs_embeds=embed(feed), use_cache=True, **{cache_kwarg: cache})
        return head(hidden.last_hidden_state[:, -1:])[:, -1].float()

    return forward


def greedy(
    forward: Callable[[list[int]], Any],
    ids: list[int],
    max_tokens: int,
    stop: set[int],
    mask: Mask | None = None,
    on_token: Callable[[int], None] | None = None,
) -> tuple[list[int], float]:
    """Decode up to `max_tokens` tokens after `ids` (whose head is already in the cache
    `forward` appends to); stop after a token in `stop`. Returns the tokens and when the
    first one was chosen."""
    tokens: list[int] = []
    first_at = 0.0
    feed = list(ids)
    for _ in range(max_tokens):
        token = _choose(forward(feed), mask)
        if not first_at:
            first_at = time.perf_counter()
        tokens.append(token)
        if on_token is not None:
            on_token(token)
        if token in stop:
            break
        if mask is not None:
            mask.consume(token)
        feed = [token]
    return tokens, first_at


def _choose(logits: Any, mask: Mask | None) -> int:
    """The greedy token, among those `mask` allows."""
    if mask is not None:
        mask.restrict(logits)
    return int(logits.argmax(dim=-1))


def generate_with(
    model: Any,
    ids: list[int],
    cache: Any,
    cache_kwarg: str,
    request: Any,
    streamer: Any,
    mask: Any | None = None,
) -> None:
    """Answer a request with model.generate after the prefilled part of `cache`: sampled
    when its temperature is above 0, greedy otherwise; `mask` constrains its choices."""
    import torch

    tensor = torch.tensor([ids], device=model.device)
    options: dict[str, Any] = {"max_new_tokens": request.max_tokens, "streamer": streamer}
    if request.temperature > 0:
        options.update(do_sample=True, temperature=request.temperature, top_p=1.0, top_k=0)
    else:
        options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    if request.ignore_eos:
        options.update(eos_token_id=None, min_new_tokens=request.max_tokens)
    if mask is not None:
        options["logits_processor"] = [mask]
    attention = torch.ones_like(tensor)
    model.generate(input_ids=tensor, attention_mask=attention, **{cache_kwarg: cache}, **options)
