"""Questions about one video on a loaded model: the video (system prompt and frames) is
prefilled once and its KV cache reused, so each question costs only its own tokens; in a
conversation, follow-ups see the earlier turns."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..audio.hear import Hearing
from ..backends import GenerationOutput, GenerationRequest
from ..errors import UsageError
from ..model.context import check_fits, check_user_text, without_reserved
from ..model.prompt import (
    Speech,
    build_conversation,
    build_prompt,
    load_chat_template,
    render,
    video_prefix,
)
from ..options.choices import check_text
from ..progress import Reporter
from .cached import CachedVideo
from .frames import PlannedVideo, SampledVideo, decode_video, plan_video
from .listen import fit_speech, listen, room_for_speech
from .params import GenerationConfig, HearingConfig, SamplingConfig
from .result import SCHEMA_VERSION, Answer, Usage, turn_record
from .runlog import RunLog
from .session import RANDOM_WEIGHTS_NOTE, LoadedModel, ModelSession

TokenCallback = Callable[[str], None]


@dataclass
class VideoChat:
    """Ask a sampled video questions with a loaded model.

    With `history`, each question sees the earlier ones and their answers (a conversation);
    without, every question is asked on its own about the video.
    """

    session: ModelSession
    loaded: LoadedModel
    video: SampledVideo
    system: str | None
    generation: GenerationConfig
    run: RunLog
    history: bool = True
    turns: list[Answer] = field(default_factory=list)
    reporter: Reporter | None = None
    hearing: Hearing | None = None
    speech: Speech = ()

    @classmethod
    def open(
        cls,
        session: ModelSession,
        video_path: str | Path,
        system: str | None = None,
        sampling: SamplingConfig | None = None,
        generation: GenerationConfig | None = None,
        longest: str = "?",
        guard: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
        hearing: HearingConfig | None = None,
    ) -> VideoChat:
        """Plan the video's frames, check the prompt fits (with a question as long as
        `longest`), hear the audio (see `HearingConfig`), load the model, then read the
        frames back from the session's video cache or decode them: a conversation ready
        for its first question. `guard` is held while the backend's kept state is read into
        (when another thread runs it)."""
        sampling = sampling or SamplingConfig()
        generation = generation or GenerationConfig()
        hearing = hearing or HearingConfig()
        system = check_text(system, "system")
        check_user_text(session.model, {"system": system})
        run = RunLog(session.reporter)
        planned = plan_video(video_path, sampling, session.model.frame_size, run)
        template = load_chat_template(session.model.path)
        duration = planned.info.duration_s
        planned_prompt = build_prompt(template, longest, planned.times, duration, system)
        count = len(planned.indices)
        counted = check_fits(session.model, planned_prompt, count, generation.max_tokens)
        span = (sampling.start_s, sampling.end_s)
        heard = listen(session.speech, session.video_cache, planned.info.path, hearing, span, run)
        room = room_for_speech(session.model, counted, generation.max_tokens)
        speech = fit_speech(session.model, heard, room, run)
        if speech:
            planned_prompt = build_prompt(
                template, longest, planned.times, duration, system, speech
            )
            counted = check_fits(session.model, planned_prompt, count, generation.max_tokens)
        loaded = session.load_stage(run, count, generation.max_tokens, counted)
        if loaded.model.random_weights:
            run.note(RANDOM_WEIGHTS_NOTE)
        store = CachedVideo.open(session.video_cache, loaded, planned, sampling.seek, run)

        def opened(video: SampledVideo) -> VideoChat:
            return cls(
                session, loaded, video, system, generation, run, hearing=heard, speech=speech
            )

        chat = _over_frames(store, planned, sampling, run, guard, opened)
        chat._store = store
        chat._guard = guard
        return chat

    def transcript(self) -> dict[str, Any]:
        """The conversation as JSON data: the video, the model, every turn."""
        from .. import __version__

        info = self.loaded.backend.info
        return {
            "schema_version": SCHEMA_VERSION,
            "chronicon_version": __version__,
            "kind": "chat",
            "video_path": str(self.video.info.path),
            "model": self.loaded.model.name,
            "random_weights": self.loaded.model.random_weights,
            "backend": info.name,
            "device": info.device,
            "dtype": info.dtype,
            "system": self.system,
            "frames": [
                {"index": f.index, "timestamp_s": round(f.timestamp_s, 3)}
                for f in self.video.frames
            ],
            "turns": [turn_record(turn) for turn in self.turns],
            "audio": self.hearing.to_dict() if self.hearing else None,
            "notes": list(self.run.notes),
        }

    def __post_init__(self) -> None:
        self._store: CachedVideo | None = None
        self._guard: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext
        self._keys = list(self.video.keys)
        self._prefix = video_prefix(
            self.loaded.chat_template,
            self.video.times,
            self.video.info.duration_s,
            self.system,
            self.speech,
        )

    def prompt(self, question: str, earlier: Sequence[tuple[str, str]] | None = None) -> str:
        """The full prompt text for `question` after `earlier` (question, answer) turns (by
        default this conversation's, with history)."""
        model = self.loaded.model
        if earlier is None:
            turns = self.turns if self.history else []
            earlier = [(a.question, a.text) for a in turns]
        earlier = [(q, without_reserved(model, a)) for q, a in earlier]
        messages = build_conversation(
            earlier,
            question,
            self.video.times,
            self.video.info.duration_s,
            self.system,
            self.speech,
        )
        return render(self.loaded.chat_template, messages)

    def request(
        self,
        prompt: str,
        generation: GenerationConfig | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> GenerationRequest:
        """The request for a full prompt (see `prompt`), reusing the video's prefix."""
        generation = generation or self.generation
        return GenerationRequest(
            frames=self.video.images,
            prompt=prompt,
            max_tokens=generation.max_tokens,
            temperature=generation.temperature,
            seed=generation.seed,
            ignore_eos=generation.ignore_eos,
            prefix=self._prefix,
            frame_keys=self._keys,
            json_schema=json_schema,
        )

    def keep(self, request: GenerationRequest) -> None:
        """Write to the video cache what it lacks, now that the backend keeps it."""
        if self._store is not None:
            with self._guard():
                self._store.save(self.video, request)

    def ask(self, question: str, on_token: TokenCallback | None = None) -> Answer:
        """Answer `question`, reusing the video's prefilled prefix."""
        text = check_text(question, "prompt")
        if not text:
            raise UsageError("the question is empty", hint="type a question about the video")
        check_user_text(self.loaded.model, {"prompt": text})
        prompt = self.prompt(text)
        try:
            check_fits(self.loaded.model, prompt, len(self._keys), self.generation.max_tokens)
        except UsageError as error:
            if not self.turns or not self.history:
                raise
            raise UsageError(
                f"the conversation no longer fits: {error.message}",
                hint="type /reset to start again with the same video",
            ) from error
        request = self.request(prompt)
        reporter = self.reporter or self.session.reporter
        output = generate_reported(self.loaded, request, reporter, on_token)
        for stage, seconds in output.stages.items():
            self.run.timings[stage] = self.run.timings.get(stage, 0.0) + seconds
        self.keep(request)
        answer = Answer(text, output.text, Usage.from_output(output), dict(output.stages))
        self.turns.append(answer)
        return answer

    def reset(self) -> None:
        """Forget the conversation; the video (and its prefilled prefix) stays."""
        self.turns.clear()


def generate_reported(
    loaded: LoadedModel,
    request: GenerationRequest,
    reporter: Reporter,
    on_token: TokenCallback | None = None,
) -> GenerationOutput:
    """Run one request, reporting its "prefill" and "generate" stages and each token."""
    start = time.perf_counter()
    streamed = 0

    def token(piece: str) -> None:
        nonlocal streamed
        if not streamed:
            reporter.stage_finished("prefill", time.perf_counter() - start)
            reporter.stage_started("generate", total=request.max_tokens)
        streamed += 1
        reporter.stage_advanced("generate", 1, piece)
        if on_token is not None:
            on_token(piece)

    reporter.stage_started("prefill")
    output = loaded.backend.generate(request, token)
    if not streamed:
        reporter.stage_finished("prefill", output.stages.get("prefill", 0.0))
        reporter.stage_started("generate", total=request.max_tokens)
    reporter.stage_finished("generate", output.stages.get("generate", 0.0))
    return output


def _over_frames(
    store: CachedVideo | None,
    planned: PlannedVideo,
    sampling: SamplingConfig,
    run: RunLog,
    guard: Callable[[], AbstractContextManager[Any]],
    opened: Callable[[SampledVideo], VideoChat],
) -> VideoChat:
    """The conversation over the video's frames, read back from the video cache or decoded,
    and the video's prefix read into the backend; when the frames are cached, `guard` is
    held once for both reads (another thread runs the backend and takes it for each step)."""
    if store is not None:
        with guard():
            video = store.frames(planned, sampling)
            if video is not None:
                chat = opened(video)
                store.prefix(chat._prefix, chat._keys)
                return chat
    chat = opened(decode_video(planned, sampling, run))
    if store is not None:
        with guard():
            store.prefix(chat._prefix, chat._keys)
    return chat
