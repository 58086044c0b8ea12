"""A chat request made ready for the model thread: its settings checked against the
server's caps, its video's frames planned and read back from the video cache or decoded (or
its images read), and the prompt rendered with the conversation's earlier turns."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from ..analysis.conversation import VideoChat
from ..analysis.params import GenerationConfig, SamplingConfig
from ..analysis.session import LoadedModel, ModelSession
from ..backends import GenerationRequest
from ..errors import ChroniconError
from ..model.context import check_fits, check_user_text, without_reserved
from ..model.prompt import IMAGE_TOKEN, render
from ..options import choices, profiles
from ..options.choices import check_text
from ..timecodes import parse_time
from .errors import ApiError, bad_request, from_chronicon
from .media import Media, Uploads
from .protocol import ChatCall, too_many


@dataclass(frozen=True)
class Caps:
    """What the server allows a request, whatever it asks."""

    max_frames: int = 32
    max_tokens: int = 1024


@dataclass(frozen=True)
class Checked:
    """A request's settings, checked."""

    system: str | None
    question: str
    generation: GenerationConfig
    sampling: SamplingConfig


@dataclass
class Prepared:
    """A request ready to run, and what to do once it is answered."""

    request: GenerationRequest
    chat: VideoChat | None = None

    def frames(self) -> list[dict[str, float]]:
        """The video's frames the answer sees (index and time), in order."""
        if self.chat is None:
            return []
        return [
            {"index": f.index, "timestamp_s": round(f.timestamp_s, 3)}
            for f in self.chat.video.frames
        ]

    def keep(self) -> None:
        """Write to the video cache what it lacks (the video's frames' features and its
        prefilled prefix), now that the backend keeps them."""
        if self.chat is not None:
            self.chat.keep(self.request)


class Preparer:
    """Turns checked requests into generation requests on one loaded model."""

    def __init__(
        self,
        session: ModelSession,
        loaded: LoadedModel,
        media: Media,
        caps: Caps,
        guard: Callable[[], AbstractContextManager[Any]],
    ) -> None:
        self.session = session
        self.loaded = loaded
        self.media = media
        self.caps = caps
        self.guard = guard

    def check(self, call: ChatCall) -> Checked:
        """The request's settings checked against the model and the server's caps, before
        it is taken in (ApiError when it cannot be served)."""
        try:
            return self._check(call)
        except ChroniconError as error:
            raise from_chronicon(error) from error

    def chat(self, checked: Checked, call: ChatCall, uploads: Uploads) -> Prepared:
        """The generation request for a checked chat call: frames sampled or read back,
        prompt rendered (ApiError when it cannot be served)."""
        try:
            if call.video is not None:
                return self._video(checked, call, uploads)
            return self._images(checked, call)
        except ChroniconError as error:
            raise from_chronicon(error) from error

    def _check(self, call: ChatCall) -> Checked:
        profile = profiles.get(call.profile) if call.profile else None
        system = check_text(call.system, "system") or (profile.system if profile else None)
        question = check_text(call.question, "prompt") or ""
        max_tokens = call.max_tokens or min(
            profile.max_tokens if profile else choices.DEFAULT_MAX_TOKENS, self.caps.max_tokens
        )
        if max_tokens > self.caps.max_tokens:
            raise too_many("max_tokens", max_tokens, self.caps.max_tokens, "max_tokens")
        generation = GenerationConfig(
            max_tokens=max_tokens, temperature=call.temperature, seed=call.seed
        )
        texts = {"system": system, "prompt": question}
        # Earlier questions are the user's too; earlier answers lose reserved tokens instead.
        texts.update({f"messages[{n}]": q for n, (q, _) in enumerate(call.turns)})
        check_user_text(self.loaded.model, texts)
        if call.json_schema is not None and not self.loaded.backend.supports_json_schema:
            raise bad_request(
                "this server's backend cannot constrain answers to a schema", "response_format"
            )
        if len(call.images) > self.caps.max_frames:
            raise too_many("max_frames", len(call.images), self.caps.max_frames, "messages")
        frames = call.frames or min(
            profile.frames if profile else choices.DEFAULT_FRAMES, self.caps.max_frames
        )
        if frames > self.caps.max_frames:
            raise too_many("max_frames", frames, self.caps.max_frames, "frames")
        sampling = SamplingConfig(
            frames=frames,
            start_s=parse_time(call.start, "start_s") if call.start is not None else 0.0,
            end_s=parse_time(call.end, "end_s") if call.end is not None else None,
            fps=call.fps,
            strategy=call.sampling,  # type: ignore[arg-type]
        )
        return Checked(system, question, generation, sampling)

    def _video(self, checked: Checked, call: ChatCall, uploads: Uploads) -> Prepared:
        assert call.video is not None
        path = self.media.video(call.video, uploads, call.video_param)
        chat = VideoChat.open(
            self.session,
            path,
            checked.system,
            checked.sampling,
            checked.generation,
            checked.question,
            guard=self.guard,
        )
        if len(chat.video.frames) > self.caps.max_frames:
            raise too_many("max_frames", len(chat.video.frames), self.caps.max_frames, "fps")
        prompt = chat.prompt(checked.question, call.turns)
        generation = checked.generation
        check_fits(self.loaded.model, prompt, len(chat.video.frames), generation.max_tokens)
        return Prepared(chat.request(prompt, generation, call.json_schema), chat)

    def _images(self, checked: Checked, call: ChatCall) -> Prepared:
        system, question, generation = checked.system, checked.question, checked.generation
        images = [self.media.image(url, param) for url, param in call.images]
        model = self.loaded.model
        first, *later = [*(q for q, _ in call.turns), question]
        opening = [{"type": "text", "text": IMAGE_TOKEN * len(images)}] if images else []
        messages: list[dict[str, Any]] = []
        if system:
            messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
        messages.append({"role": "user", "content": [*opening, {"type": "text", "text": first}]})
        for (_, answer), asked in zip(call.turns, later, strict=True):
            reply = without_reserved(model, answer)
            messages.append({"role": "assistant", "content": [{"type": "text", "text": reply}]})
            messages.append({"role": "user", "content": [{"type": "text", "text": asked}]})
        prompt = render(self.loaded.chat_template, messages)
        check_fits(model, prompt, len(images), generation.max_tokens)
        request = GenerationRequest(
            frames=images,
            prompt=prompt,
            max_tokens=generation.max_tokens,
            temperature=generation.temperature,
            seed=generation.seed,
            json_schema=call.json_schema,
        )
        return Prepared(request)


def api_error(error: Exception) -> ApiError:
    """Any failure while preparing, as the API's error."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, ChroniconError):
        return from_chronicon(error)
    return ApiError(500, f"{type(error).__name__}: {error}", kind="server_error")
