"""Sources rendered with the model's chat template (``format: chat`` on a source).

For a procedural source the question becomes the user turn and the worked solution the
assistant's reply; a dataset row brings its own messages. Either way an instruction-tuned
model is trained in the shape it was tuned on and answers in. The rendered
text drops the template's leading BOS and trailing EOS tokens: the batch encoder adds them
back, so the trained tokens are exactly the template's.
"""

from __future__ import annotations

from typing import Any

from ..config import ConfigError, RunConfig
from .sources import Item, Source


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def render_chat(tokenizer: Any, messages: list[dict[str, str]], *, add_generation_prompt: bool) -> str:
    """The template's text for ``messages``, without the BOS/EOS the encoders add themselves."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    bos, eos = tokenizer.bos_token, tokenizer.eos_token
    if bos and text.startswith(bos):
        text = text[len(bos):]
    if not add_generation_prompt and eos:
        stripped = text.rstrip("\n")
        if stripped.endswith(eos):
            text = stripped[: -len(eos)]
    return text


def chat_prompt(tokenizer: Any, message: str) -> str:
    """A single user message, ready for the assistant's reply (probes)."""
    return render_chat(tokenizer, [{"role": "user", "content": message}], add_generation_prompt=True)


class ChatFormatted(Source):
    """A source whose items are rendered through the chat template."""

    chat = True  # evals ask its questions through the template too

    def __init__(self, inner: Source, tokenizer: Any) -> None:
        self.inner, self.tokenizer, self.name = inner, tokenizer, inner.name

    def draw(self, split: str, cursor: int) -> tuple[Item, int]:
        item, cursor = self.inner.draw(split, cursor)
        example = item.meta
        messages = example if isinstance(example, list) else [  # a dataset row's own conversation
            {"role": "user", "content": example.question},
            {"role": "assistant", "content": example.solution.strip()}]
        text = render_chat(self.tokenizer, messages, add_generation_prompt=False)
        return Item(item.source, text, example), cursor

    def __getattr__(self, name: str) -> Any:  # anything else (seed, fraction) is the inner source's
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def chat_formatted(cfg: RunConfig, sources: dict[str, Source], tokenizer: Any) -> dict[str, Source]:
    """Wrap the sources declared ``format: chat``; a tokenizer without a template is an error."""
    out = dict(sources)
    for name, spec in cfg.sources.items():
        if name not in sources or getattr(spec, "format", "text") != "chat":
            continue
        if not has_chat_template(tokenizer):
            raise ConfigError([f"sources.{name}.format: 'chat' needs a tokenizer with a chat template "
                               f"(model.path {cfg.model.path or '(none: the char tokenizer)'} has none)"])
        out[name] = ChatFormatted(sources[name], tokenizer)
    return out
