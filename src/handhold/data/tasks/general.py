"""General-reasoning word problems with checkable worked steps (domain "general").

Tasks: ``arithmetic`` (2-3 step expressions), ``compare`` (which quantity is larger or
smaller, multiple choice), ``logic`` (yes/no: parity, thresholds, ranges, syllogisms) and
``count`` (letters, list items, groups). Numbers stay small (mostly 1-99) so a tiny
character-level model can learn them; texts stay under 200 characters.

Every step follows the format and coherence rules in `handhold.data.tasks.steps`: exprs
use only numbers from the question, earlier values, or the constants 1 and 2.
"""

from __future__ import annotations

import random

from handhold.data.tasks.base import Example, pick
from handhold.data.tasks.steps import Step, make_step

DOMAIN = "general"

NAMES = ("Ann", "Bob", "Tom", "Mia", "Sam", "Eve", "Leo", "Zoe", "Max", "Ivy")
ITEMS = ("apples", "pens", "books", "coins", "cards", "eggs", "shells", "stamps")
WORDS = (
    "banana", "apple", "letter", "summer", "coffee", "pepper", "rabbit", "bottle",
    "mississippi", "cocoa", "kitten", "puppy", "balloon", "tomato", "cheese", "success",
    "address", "google", "yellow", "bubble", "common", "assess", "little", "window",
)
PLURALS = ("blims", "dorks", "zups", "wugs", "feps", "gloms", "trins", "vaks")
CATEGORIES = {
    "fruits": ("apple", "pear", "fig", "plum", "lime", "kiwi", "grape"),
    "animals": ("cat", "dog", "cow", "fox", "owl", "pig", "hen"),
    "colors": ("red", "blue", "green", "pink", "gray", "gold", "tan"),
}


def _example(task: str, question: str, steps: list[Step], answer: str, choices=()) -> Example:
    return Example(DOMAIN, task, question, tuple(steps), str(answer), tuple(choices))


def _op_label(op: str) -> str:
    return {"+": "sum", "-": "diff", "*": "prod", "/": "quot"}[op]


def arithmetic(rng: random.Random) -> Example:
    """A bracketed expression solved one operation per step."""
    form = rng.randrange(6)
    a, b, c, d = (rng.randint(2, 20) for _ in range(4))
    if form == 0:  # (a + b) * c - d
        c = rng.randint(2, 5)
        total = (a + b) * c
        d = rng.randint(1, min(total, 60))
        question = f"What is ({a} + {b}) * {c} - {d}?"
        plan = [(str(a), "+", str(b)), (None, "*", str(c)), (None, "-", str(d))]
    elif form == 1:  # a * b + c
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        c = rng.randint(1, 50)
        question = f"What is {a} * {b} + {c}?"
        plan = [(str(a), "*", str(b)), (None, "+", str(c))]
    elif form == 2:  # (a - b) * c
        a, b = sorted((rng.randint(5, 60), rng.randint(1, 40)), reverse=True)
        a += 1  # strictly positive difference
        c = rng.randint(2, 9)
        question = f"What is ({a} - {b}) * {c}?"
        plan = [(str(a), "-", str(b)), (None, "*", str(c))]
    elif form == 3:  # a * b - c * d, kept non-negative
        a, b, c, d = (rng.randint(2, 9) for _ in range(4))
        if a * b < c * d:
            a, b, c, d = c, d, a, b
        question = f"What is {a} * {b} - {c} * {d}?"
        p1, p2 = make_step("prod", f"{a} * {b}"), make_step("prod", f"{c} * {d}")
        steps = [p1, p2, make_step("diff", f"{p1.value} - {p2.value}")]
        return _example("arithmetic", question, steps, steps[-1].value)
    elif form == 4:  # (a + b) / c, exact
        c = rng.randint(2, 9)
        q = rng.randint(2, 12)
        a = rng.randint(1, c * q - 1)
        b = c * q - a
        question = f"What is ({a} + {b}) / {c}?"
        plan = [(str(a), "+", str(b)), (None, "/", str(c))]
    else:  # a + b - c
        c = rng.randint(1, a + b)
        question = f"What is {a} + {b} - {c}?"
        plan = [(str(a), "+", str(b)), (None, "-", str(c))]
    steps: list[Step] = []
    for left, op, right in plan:
        left = steps[-1].value if left is None else left
        steps.append(make_step(_op_label(op), f"{left} {op} {right}"))
    return _example("arithmetic", question, steps, steps[-1].value)


def _expr_quantity(rng: random.Random) -> tuple[str, int]:
    """A small quantity, written either as a product, a sum, or a plain number."""
    kind = rng.randrange(3)
    if kind == 0:
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        return f"{a} * {b}", a * b
    if kind == 1:
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        return f"{a} + {b}", a + b
    n = rng.randint(4, 81)
    return str(n), n


def compare(rng: random.Random) -> Example:
    """Which of two or three quantities is larger/smaller; ends with a positive ``diff``."""
    if rng.random() < 0.3:  # word problem with two people
        p, q = rng.sample(NAMES, 2)
        item = rng.choice(ITEMS)
        while True:
            bags, per, other = rng.randint(2, 9), rng.randint(2, 9), rng.randint(4, 81)
            if bags * per != other:
                break
        question = f"{p} has {bags} bags of {per} {item}. {q} has {other} {item}. Who has more?"
        s = make_step(p, f"{bags} * {per}")
        hi, lo = (s.value, str(other)) if bags * per > other else (str(other), s.value)
        steps = [s, make_step("diff", f"{hi} - {lo}")]
        return _example("compare", question, steps, p if bags * per > other else q, (p, q))

    n = rng.choice((2, 2, 3))
    while True:
        quantities = [_expr_quantity(rng) for _ in range(n)]
        values = [v for _, v in quantities]
        if len(set(values)) == n:  # no ties
            break
    labels = "ABC"[:n]
    larger = rng.random() < 0.6
    word = ("larger" if larger else "smaller") if n == 2 else ("largest" if larger else "smallest")
    listed = ", ".join(f"{lab} = {e}" for lab, (e, _) in zip(labels, quantities))
    if n == 2:
        listed = listed.replace(", ", " or ")
    question = f"Which is {word}: {listed}?"
    steps = [make_step(lab, e) for lab, (e, v) in zip(labels, quantities) if str(v) != e]
    written = {lab: (str(v)) for lab, (_, v) in zip(labels, quantities)}
    order = sorted(labels, key=lambda lab: values[labels.index(lab)], reverse=larger)
    best, runner = order[0], order[1]
    hi, lo = (best, runner) if larger else (runner, best)
    steps.append(make_step("diff", f"{written[hi]} - {written[lo]}"))
    return _example("compare", question, steps, best, tuple(labels))


def logic(rng: random.Random) -> Example:
    """Yes/no questions; all but the syllogisms are decided by a numeric step."""
    form = rng.randrange(4)
    if form == 0:  # parity: halve the sum
        a, b = rng.randint(2, 60), rng.randint(2, 39)
        question = f"Is {a} + {b} an even number?"
        s = make_step("sum", f"{a} + {b}")
        steps = [s, make_step("half", f"{s.value} / 2")]
        answer = "yes" if (a + b) % 2 == 0 else "no"
    elif form == 1:  # threshold after a product
        name, item = rng.choice(NAMES), rng.choice(ITEMS)
        boxes, per = rng.randint(2, 9), rng.randint(2, 9)
        limit = boxes * per + rng.choice((-3, -2, -1, 1, 2, 3))
        more = rng.random() < 0.5
        rel = "more" if more else "fewer"
        question = f"{name} has {boxes} boxes of {per} {item}. Does {name} have {rel} than {limit}?"
        s = make_step("total", f"{boxes} * {per}")
        steps = [s, make_step("diff", f"{s.value} - {limit}")]
        answer = "yes" if (boxes * per > limit) == more else "no"
    elif form == 2:  # range check: both margins positive means inside
        a, b = rng.randint(1, 40), rng.randint(1, 40)
        x = a + b
        while True:  # no bound equal to x, so "between" needs no inclusive/exclusive rule
            lo = rng.randint(max(1, x - 15), x + 5)
            hi = lo + rng.randint(3, 20)
            if x not in (lo, hi):
                break
        question = f"Let x = {a} + {b}. Is x between {lo} and {hi}?"
        s = make_step("x", f"{a} + {b}")
        steps = [s, make_step("low", f"{s.value} - {lo}"), make_step("high", f"{hi} - {s.value}")]
        answer = "yes" if lo < x < hi else "no"
    else:  # syllogism with nonsense words: no numbers to compute
        x, y, z = rng.sample(PLURALS, 3)
        name = rng.choice(NAMES)
        kind = rng.randrange(4)
        if kind == 0:
            question, answer = f"All {x} are {y}. All {y} are {z}. Are all {x} {z}?", "yes"
        elif kind == 1:
            question, answer = f"All {x} are {y}. Some {y} are {z}. Must some {x} be {z}?", "no"
        elif kind == 2:
            question, answer = f"All {x} are {y}. {name} is one of the {x}. Is {name} one of the {y}?", "yes"
        else:
            question, answer = f"No {x} are {y}. {name} is one of the {x}. Is {name} one of the {y}?", "no"
        steps = []
    return _example("logic", question, steps, answer, ("yes", "no"))


def count(rng: random.Random) -> Example:
    """Count letters, category members or grouped items; each hit adds a ``1``."""
    form = rng.randrange(4)
    if form == 0:  # letters in a real word
        word = rng.choice(WORDS)
        letter = rng.choice(sorted(set(word)))
        question = f"How many {letter}'s are in '{word}'?"
        n = word.count(letter)
    elif form == 1:  # letters in a random string over a small alphabet
        word = "".join(rng.choice("abc") for _ in range(rng.randint(5, 10)))
        letter = rng.choice(sorted(set(word)))
        question = f"How many {letter}'s are in '{word}'?"
        n = word.count(letter)
    elif form == 2:  # members of a category in a mixed list
        cat = rng.choice(sorted(CATEGORIES))
        others = [w for c in sorted(CATEGORIES) if c != cat for w in CATEGORIES[c]]
        n = rng.randint(1, 4)
        words = rng.sample(CATEGORIES[cat], n) + rng.sample(others, rng.randint(1, 4))
        rng.shuffle(words)
        question = f"How many {cat} are in: {', '.join(words)}?"
    else:  # groups to add up
        name = rng.choice(NAMES)
        kinds = rng.sample(("cats", "dogs", "fish", "birds", "frogs"), rng.randint(2, 3))
        counts = [rng.randint(1, 9) for _ in kinds]
        parts = [f"{c} {k}" for c, k in zip(counts, kinds)]
        listed = ", ".join(parts[:-1]) + " and " + parts[-1]
        question = f"{name} has {listed}. How many pets is that?"
        s = make_step("count", " + ".join(map(str, counts)))
        return _example("count", question, [s], s.value)
    s = make_step("count", " + ".join(["1"] * n))
    return _example("count", question, [s], s.value)


TASKS = {"arithmetic": arithmetic, "compare": compare, "logic": logic, "count": count}


def generate(rng: random.Random) -> Example:
    """One general example, its task drawn uniformly with ``rng``."""
    return pick(TASKS, rng)
