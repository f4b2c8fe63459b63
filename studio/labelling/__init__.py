"""Labelling without the UI: the prompt session of one object (``session``) and the
canvas's message format (``protocol``). The Label page's state is studio.label_workspace."""

from studio.labelling.session import MAX_HISTORY, PromptSession, PromptStep, mask_to_logits

__all__ = ["MAX_HISTORY", "PromptSession", "PromptStep", "mask_to_logits"]
