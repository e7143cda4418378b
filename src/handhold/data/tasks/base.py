"""The record every procedural task produces: an `Example`, whose solution is `Step` lines.

A task generator is a plain function ``(rng: random.Random) -> Example``; it draws only
from the ``rng`` it is given, so the same rng state always yields the same example. The
text a model trains on is ``example.text`` = ``example.prompt`` + ``example.solution``::

    Q: What is (12 + 7) * 3 - 5?
    A: sum = 12 + 7 = 19
    prod = 19 * 3 = 57
    diff = 57 - 5 = 52
    Answer: 52

`Step`, the step line format and its checks live in `handhold.data.tasks.steps`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from handhold.data.tasks.steps import Step, render_step


@dataclass(frozen=True)
class Example:
    """A word problem with its worked solution and final answer."""

    domain: str  # "general" or "physics"
    task: str  # "arithmetic", "compare", ..., "circuit"
    question: str
    steps: tuple[Step, ...]
    answer: str  # final answer with units if any: "11 m/s", "yes", "7", "B"
    choices: tuple[str, ...] = ()  # multiple-choice options; the answer is one of them

    def __post_init__(self) -> None:
        # Catch generator bugs at the source rather than in a scorer much later.
        if self.choices and self.answer not in self.choices:
            raise ValueError(f"answer {self.answer!r} is not one of {self.choices!r}")
        if "\n" in self.question or "\n" in self.answer:
            raise ValueError("question and answer must be single lines")

    @property
    def prompt(self) -> str:
        """What a model is given: ``"Q: <question>\\nA:"``."""
        return f"Q: {self.question}\nA:"

    @property
    def solution(self) -> str:
        """What follows the prompt: ``" <step lines>\\nAnswer: <answer>"``.

        With no steps it is just ``" Answer: <answer>"``.
        """
        lines = [render_step(s) for s in self.steps] + [f"Answer: {self.answer}"]
        return " " + "\n".join(lines)

    @property
    def text(self) -> str:
        """The full training text: prompt + solution."""
        return self.prompt + self.solution


TaskFn = Callable[[random.Random], Example]


def pick(tasks: dict[str, TaskFn], rng: random.Random) -> Example:
    """Draw one task uniformly with ``rng`` (dict order is fixed, so this is deterministic)."""
    return tasks[rng.choice(list(tasks))](rng)
