"""Introductory physics word problems with checkable worked steps (domain "physics").

Tasks: ``kinematics`` (v = u + a*t, s = u*t + a*t^2/2, average speed, free fall, time),
``force`` (F = m*a, a = F/m, weight, net force), ``energy`` (KE = m*v^2/2, PE = m*g*h,
W = F*d, P = W/t) and ``circuit`` (V = I*R, I = V/R, series and parallel resistors,
P = V*I). Units appear in the question and the final answer only ("Answer: 11 m/s"),
never inside a step. Numbers are chosen so results are exact or need at most 2 decimals.

Coherence follows `handhold.data.tasks.steps`: g is always stated in the question
("Use g = 9.8 m/s^2."); the only bare constant in formulas is 2 (``t ** 2 / 2``).
"""

from __future__ import annotations

import random

from handhold.data.tasks.base import Example, pick
from handhold.data.tasks.steps import Step, make_step

DOMAIN = "physics"

VEHICLES = ("car", "bike", "bus", "cart", "train", "boat")
OBJECTS = ("box", "crate", "ball", "sled", "cart", "rock", "bag")


def _example(task: str, question: str, steps: list[Step], unit: str) -> Example:
    return Example(DOMAIN, task, question, tuple(steps), f"{steps[-1].value} {unit}")


def _half_or_whole(rng: random.Random, lo: int, hi: int) -> str:
    """A number in [lo, hi] that is sometimes a half (2.5), so decimals appear too."""
    n = rng.randint(lo, hi)
    return f"{n}.5" if rng.random() < 0.25 else str(n)


def _g(rng: random.Random) -> str:
    return rng.choice(("9.8", "9.8", "10"))


def kinematics(rng: random.Random) -> Example:
    """Speed, distance and time under constant acceleration."""
    form = rng.randrange(5)
    thing = rng.choice(VEHICLES)
    if form == 0:  # v = u + a*t
        u, a, t = rng.randint(0, 20), rng.randint(1, 5), rng.randint(1, 10)
        dv = make_step("dv", f"{a} * {t}")
        if u == 0:
            question = f"A {thing} starts from rest and speeds up at {a} m/s^2 for {t} s. What is its speed?"
            steps = [Step("v", dv.expr, dv.value)]
        else:
            question = f"A {thing} moving at {u} m/s speeds up at {a} m/s^2 for {t} s. What is its speed?"
            steps = [dv, make_step("v", f"{u} + {dv.value}")]
        return _example("kinematics", question, steps, "m/s")
    if form == 1:  # s = u*t + a*t^2/2
        u, a, t = rng.randint(1, 15), rng.randint(1, 6), rng.randint(1, 6)
        question = f"A {thing} moving at {u} m/s speeds up at {a} m/s^2 for {t} s. How far does it go?"
        s1, s2 = make_step("s1", f"{u} * {t}"), make_step("s2", f"{a} * {t} ** 2 / 2")
        steps = [s1, s2, make_step("s", f"{s1.value} + {s2.value}")]
        return _example("kinematics", question, steps, "m")
    if form == 2:  # average speed over two legs
        t1, t2 = rng.randint(2, 10), rng.randint(2, 10)
        d1, d2 = t1 * rng.randint(2, 15), t2 * rng.randint(2, 15)
        question = f"A {thing} goes {d1} m in {t1} s, then {d2} m in {t2} s. What is its average speed?"
        d, t = make_step("d", f"{d1} + {d2}"), make_step("t", f"{t1} + {t2}")
        steps = [d, t, make_step("v", f"{d.value} / {t.value}")]
        return _example("kinematics", question, steps, "m/s")
    if form == 3:  # free fall from rest
        g, t = _g(rng), rng.randint(1, 5)
        if rng.random() < 0.5:
            question = f"A stone falls from rest for {t} s. Use g = {g} m/s^2. How fast is it going?"
            return _example("kinematics", question, [make_step("v", f"{g} * {t}")], "m/s")
        question = f"A stone falls from rest for {t} s. Use g = {g} m/s^2. How far does it fall?"
        return _example("kinematics", question, [make_step("s", f"{g} * {t} ** 2 / 2")], "m")
    # time to change speed: t = (v - u) / a
    a, t = rng.randint(1, 6), rng.randint(1, 8)
    u = rng.randint(0, 20)
    v = u + a * t
    question = f"A {thing} speeds up from {u} m/s to {v} m/s at {a} m/s^2. How long does it take?"
    dv = make_step("dv", f"{v} - {u}")
    return _example("kinematics", question, [dv, make_step("t", f"{dv.value} / {a}")], "s")


def force(rng: random.Random) -> Example:
    """Newton's second law and weight."""
    form = rng.randrange(4)
    obj = rng.choice(OBJECTS)
    if form == 0:  # F = m*a
        m, a = _half_or_whole(rng, 1, 20), rng.randint(1, 9)
        question = f"A {m} kg {obj} accelerates at {a} m/s^2. What net force acts on it?"
        return _example("force", question, [make_step("F", f"{m} * {a}")], "N")
    if form == 1:  # a = F/m
        m = rng.randint(2, 12)
        f = m * rng.randint(1, 9) if rng.random() < 0.8 else rng.randint(5, 99)
        question = f"A net force of {f} N pushes a {m} kg {obj}. What is its acceleration?"
        return _example("force", question, [make_step("a", f"{f} / {m}")], "m/s^2")
    if form == 2:  # weight W = m*g
        m, g = _half_or_whole(rng, 1, 50), _g(rng)
        question = f"What is the weight of a {m} kg {obj}? Use g = {g} m/s^2."
        return _example("force", question, [make_step("W", f"{m} * {g}")], "N")
    # net force of a push against friction, then a = F/m
    m = rng.randint(2, 10)
    net = m * rng.randint(1, 6)
    drag = rng.randint(1, 30)
    question = f"A {net + drag} N push and {drag} N of friction act on a {m} kg {obj}. What is its acceleration?"
    f = make_step("F", f"{net + drag} - {drag}")
    return _example("force", question, [f, make_step("a", f"{f.value} / {m}")], "m/s^2")


def energy(rng: random.Random) -> Example:
    """Kinetic and potential energy, work and power."""
    form = rng.randrange(4)
    obj = rng.choice(OBJECTS)
    if form == 0:  # KE = m*v^2/2
        m, v = rng.randint(1, 20), rng.randint(1, 12)
        question = f"A {m} kg {obj} moves at {v} m/s. What is its kinetic energy?"
        v2 = make_step("v2", f"{v} ** 2")
        steps = [v2, make_step("KE", f"{m} * {v2.value} / 2")]
        return _example("energy", question, steps, "J")
    if form == 1:  # PE = m*g*h
        m, h, g = rng.randint(1, 20), rng.randint(1, 30), _g(rng)
        question = f"A {m} kg {obj} is {h} m above the ground. Use g = {g} m/s^2. What is its potential energy?"
        return _example("energy", question, [make_step("PE", f"{m} * {g} * {h}")], "J")
    if form == 2:  # W = F*d
        f, d = rng.randint(2, 60), _half_or_whole(rng, 1, 20)
        question = f"A {f} N force pushes a {obj} {d} m. How much work does it do?"
        return _example("energy", question, [make_step("W", f"{f} * {d}")], "J")
    # P = W/t after W = F*d
    f, d, t = rng.randint(2, 40), rng.randint(1, 20), rng.randint(2, 10)
    question = f"A {f} N force moves a {obj} {d} m in {t} s. What power is used?"
    w = make_step("W", f"{f} * {d}")
    return _example("energy", question, [w, make_step("P", f"{w.value} / {t}")], "W")


def circuit(rng: random.Random) -> Example:
    """Ohm's law, series and parallel resistors, electrical power."""
    form = rng.randrange(5)
    if form == 0:  # V = I*R
        i, r = _half_or_whole(rng, 1, 9), rng.randint(1, 30)
        question = f"A current of {i} A flows through a {r} ohm resistor. What is the voltage across it?"
        return _example("circuit", question, [make_step("V", f"{i} * {r}")], "V")
    if form == 1:  # I = V/R
        r = rng.randint(2, 20)
        v = r * rng.randint(1, 9) if rng.random() < 0.8 else rng.randint(3, 99)
        question = f"A {v} V battery is connected to a {r} ohm resistor. What current flows?"
        return _example("circuit", question, [make_step("I", f"{v} / {r}")], "A")
    if form == 2:  # series: R = R1 + R2, then I = V/R
        r1, r2 = rng.randint(1, 20), rng.randint(1, 20)
        v = (r1 + r2) * rng.randint(1, 5) if rng.random() < 0.8 else rng.randint(3, 60)
        question = f"A {v} V battery drives {r1} ohm and {r2} ohm resistors in series. What current flows?"
        r = make_step("R", f"{r1} + {r2}")
        return _example("circuit", question, [r, make_step("I", f"{v} / {r.value}")], "A")
    if form == 3:  # parallel: R = R1*R2 / (R1 + R2)
        r1, r2 = rng.randint(2, 30), rng.randint(2, 30)
        question = f"What is the total resistance of {r1} ohm and {r2} ohm resistors in parallel?"
        p, s = make_step("p", f"{r1} * {r2}"), make_step("s", f"{r1} + {r2}")
        return _example("circuit", question, [p, s, make_step("R", f"{p.value} / {s.value}")], "ohm")
    # P = V*I
    v, i = rng.choice((3, 5, 6, 9, 12, 24, 110, 120, 230)), _half_or_whole(rng, 1, 10)
    question = f"A lamp on {v} V draws {i} A. What power does it use?"
    return _example("circuit", question, [make_step("P", f"{v} * {i}")], "W")


TASKS = {"kinematics": kinematics, "force": force, "energy": energy, "circuit": circuit}


def generate(rng: random.Random) -> Example:
    """One physics example, its task drawn uniformly with ``rng``."""
    return pick(TASKS, rng)
