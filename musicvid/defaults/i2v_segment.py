"""One segment of an ``i2v`` shot: the diffusers call for the model's family.

The segment starts on a picture (the keyframe, or the previous segment's last frame) and,
for a morph, ends on another (the next shot's keyframe): Wan's first-last-frame
conditioning (``last_image``) or LTX-Video's keyframe conditions (through
``LTXConditionPipeline`` built on the loaded pipeline's weights). The frames come back as
``(frames, h, w, 3)`` uint8. The stage that chains and retimes the segments is
:mod:`musicvid.defaults.i2v_motion`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._torch import require_torch
from ._model_cache import derived_pipeline
from .i2v_models import Family

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["run_segment"]


def run_segment(pipe: Any, s: dict[str, Any], first: Any, frames: int, *, prompt: str,
                negative: str, seed: int, on_step: Callable[..., dict[str, Any]],
                last: Any = None) -> np.ndarray:
    """``frames`` frames from the PIL image ``first`` (to ``last`` when given) with the
    settings ``s`` (:meth:`I2VMotion.settings`), ``(frames, h, w, 3)`` uint8."""
    import numpy as np

    torch = require_torch("motion", "i2v")
    fam: Family = s["family"]
    kwargs: dict[str, Any] = dict(
        prompt=prompt, negative_prompt=negative,
        height=s["height"], width=s["width"], num_frames=frames,
        num_inference_steps=s["steps"], guidance_scale=s["guidance"],
        generator=torch.Generator("cpu").manual_seed(seed), output_type="np",
        callback_on_step_end=on_step, **fam.call)
    if s["max_sequence_length"]:
        kwargs["max_sequence_length"] = int(s["max_sequence_length"])
    if fam.name == "ltx":
        kwargs["frame_rate"] = s["fps"]
    call = pipe
    if fam.pipeline == "LTXConditionPipeline":  # LTX-Video 0.9.5+: keyframe conditions
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        kwargs["conditions"] = [LTXVideoCondition(image=first, frame_index=0)] + (
            [LTXVideoCondition(image=last, frame_index=frames - 1)] if last else [])
    elif last is None:
        kwargs["image"] = first
    elif fam.morph == "last_image":
        kwargs.update(image=first, last_image=last)
    elif fam.morph == "conditions":
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        call = _ltx_condition(pipe)
        kwargs["conditions"] = [LTXVideoCondition(image=first, frame_index=0),
                                LTXVideoCondition(image=last, frame_index=frames - 1)]
    with torch.inference_mode():
        out = call(**kwargs)
    video = np.asarray(out.frames[0])
    if video.dtype != np.uint8:
        video = (np.clip(video, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return video


def _ltx_condition(pipe: Any) -> Any:
    """LTX-Video's keyframe-conditioned pipeline sharing ``pipe``'s weights."""
    return derived_pipeline(pipe, "_musicvid_condition", "LTXConditionPipeline", "motion",
                            "i2v")
