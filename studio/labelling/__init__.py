"""Labelling without the UI: the prompt session of one object (``session``) and the
canvas's message format (``protocol``). The Label page's state is studio.label_workspace;
an annotation seeds a refinement through studio.segment.low_res.seed_logits."""

from studio.labelling.session import MAX_HISTORY, PromptSession, PromptStep

__all__ = ["MAX_HISTORY", "PromptSession", "PromptStep"]
