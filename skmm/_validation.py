"""One way to check parameters, draw seeds and resolve devices.

Estimators declare their parameters' constraints in a class attribute, in the spirit of
scikit-learn's ``_parameter_constraints``, and ``fit`` calls :func:`validate_params`:

>>> from skmm._validation import Integer, Options, validate_params
>>> class Tiny:
...     _parameter_constraints = {
...         "n_mels": [Integer(1)],
...         "output": [Options("stats", "frames")],
...     }
...     n_mels, output = 0, "stats"
>>> validate_params(Tiny())
Traceback (most recent call last):
    ...
skmm.exceptions.InvalidInputError: Tiny: n_mels must be a positive integer, got 0.

A constraint list accepts a value when any of its constraints does; ``None`` in the list
accepts None. A ``(constraints, hint)`` pair adds a hint (how to fix it) to the message.
Validation only checks: it never changes a parameter or prepares fitted state.
"""

import numbers

import numpy as np

from .exceptions import InvalidInputError


class Constraint:
    """A condition on one parameter value, with the words that describe it."""

    def is_satisfied_by(self, value):
        raise NotImplementedError

    def __str__(self):
        raise NotImplementedError


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class Integer(Constraint):
    """An integer (never a bool) in ``[low, high]`` (either bound may be None)."""

    def __init__(self, low=None, high=None):
        self.low, self.high = low, high

    def is_satisfied_by(self, value):
        return (_is_int(value) and (self.low is None or value >= self.low)
                and (self.high is None or value <= self.high))

    def __str__(self):
        if self.low is not None and self.high is not None:
            return f"an integer between {self.low} and {self.high}"
        if self.low is not None:
            return "a positive integer" if self.low == 1 else f"an integer >= {self.low}"
        if self.high is not None:
            return f"an integer <= {self.high}"
        return "an integer"


class Real(Constraint):
    """A real number (never a bool) in an interval; ``closed`` says which ends belong."""

    def __init__(self, low=None, high=None, closed="both"):
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be both, left, right or neither, got {closed!r}")
        self.low, self.high, self.closed = low, high, closed

    def is_satisfied_by(self, value):
        if not _is_real(value) or np.isnan(value):
            return False
        low_ok = self.low is None or (
            value >= self.low if self.closed in ("both", "left") else value > self.low)
        high_ok = self.high is None or (
            value <= self.high if self.closed in ("both", "right") else value < self.high)
        return low_ok and high_ok

    def __str__(self):
        if self.low is None and self.high is None:
            return "a real number"
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        if self.high is None:
            return f"a float {'>=' if left == '[' else '>'} {self.low}"
        if self.low is None:
            return f"a float {'<=' if right == ']' else '<'} {self.high}"
        return f"a float in {left}{self.low}, {self.high}{right}"


def _same(value, option):
    if isinstance(value, str) or isinstance(option, str):
        return isinstance(value, str) and isinstance(option, str) and value == option
    if value is option:
        return True
    if isinstance(value, bool) != isinstance(option, bool) or not _is_real(value):
        return False
    return value == option


class Options(Constraint):
    """One of the given values (compared with ``==``, types checked for str options)."""

    def __init__(self, *values):
        self.values = tuple(values)

    def is_satisfied_by(self, value):
        return any(_same(value, option) for option in self.values)

    def __str__(self):
        return f"one of {self.values}"


class InstanceOf(Constraint):
    """An instance of one of ``types``, described by ``description``."""

    def __init__(self, *types, description=None):
        self.types = types
        self.description = description

    def is_satisfied_by(self, value):
        return isinstance(value, self.types)

    def __str__(self):
        if self.description:
            return self.description
        return "an instance of " + " or ".join(t.__name__ for t in self.types)


class Satisfies(Constraint):
    """Any value for which ``predicate(value)`` is true, described by ``description``."""

    def __init__(self, predicate, description):
        self.predicate, self.description = predicate, description

    def is_satisfied_by(self, value):
        try:
            return bool(self.predicate(value))
        except (TypeError, ValueError):
            return False

    def __str__(self):
        return self.description


def _describe(constraints):
    words = [str(c) for c in constraints if c is not None]
    if None in constraints:
        words.insert(0, "None")
    if len(words) <= 2:
        return " or ".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def check_param(name, value, constraints, hint=None, what=None):
    """Raise :class:`InvalidInputError` unless ``value`` satisfies one of ``constraints``.

    Parameters
    ----------
    name : str
        The parameter's name, for the message.
    value : object
    constraints : list of Constraint or None
        None in the list accepts None.
    hint : str, optional
        How to fix a bad value, appended to the message.
    what : str, optional
        The estimator's name, put first in the message.

    Returns
    -------
    value, unchanged
    """
    for constraint in constraints:
        if constraint is None:
            if value is None:
                return value
        elif constraint.is_satisfied_by(value):
            return value
    where = f"{what}: " if what else ""
    fix = f" {hint}" if hint else ""
    raise InvalidInputError(f"{where}{name} must be {_describe(constraints)}, got {value!r}.{fix}")


def parameter_constraints(cls):
    """The ``_parameter_constraints`` of ``cls`` and of its bases, merged (a subclass's
    entry wins; the bases' parameters come first)."""
    constraints = {}
    for klass in reversed(cls.__mro__):
        constraints.update(vars(klass).get("_parameter_constraints", {}))
    return constraints


def validate_params(estimator, constraints=None):
    """Check the estimator's parameters against their declared constraints.

    Parameters
    ----------
    estimator : object
        Its parameters are read with ``getattr``.
    constraints : dict, optional
        ``{name: [constraint, ...]}`` or ``{name: ([constraint, ...], hint)}``; by default
        the ``_parameter_constraints`` of the estimator's class and of its bases (a
        subclass's entry wins).
    """
    if constraints is None:
        constraints = parameter_constraints(type(estimator))
    what = type(estimator).__name__
    for name, spec in constraints.items():
        hint = None
        if isinstance(spec, tuple):
            spec, hint = spec
        check_param(name, getattr(estimator, name), spec, hint=hint, what=what)


# ---- seeds -----------------------------------------------------------------------------
def draw_seed(random_state):
    """A non-negative 31-bit seed drawn from ``random_state`` (int, RandomState or None).

    The same ``random_state`` always gives the same seed; None draws from numpy's global
    random state. This is skmm's one way to turn ``random_state`` into a torch or gensim seed.

    Examples
    --------
    >>> draw_seed(0) == draw_seed(0)
    True
    """
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


# ---- devices and precision -------------------------------------------------------------
DEVICE_CONSTRAINT = Satisfies(
    lambda d: d is None or isinstance(d, str), "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
)
PRECISIONS = ("auto", "float32", "bfloat16", "float16")


def resolve_device(device):
    """Resolve ``"auto"`` to ``"cuda"``, then ``"mps"``, then ``"cpu"``; validate others.

    Examples
    --------
    >>> resolve_device("cpu")
    'cpu'
    """
    import torch

    if device is None or device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInputError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}."
        ) from exc
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(
            f"device={device!r} was asked for but CUDA is not available on this machine; "
            "use device='auto' to fall back to the CPU."
        )
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise InvalidInputError(f"device={device!r} was asked for but MPS is not available.")
    return str(parsed)


def resolve_precision(precision, device):
    """Return the autocast dtype for ``precision`` on ``device`` (None: plain float32).

    ``"auto"`` is bfloat16 on CUDA devices that support it, float32 elsewhere.

    Examples
    --------
    >>> resolve_precision("auto", "cpu") is None
    True
    """
    import torch

    if precision in (None, "float32"):
        return None
    is_cuda = str(device).startswith("cuda")
    if precision == "auto":
        if is_cuda and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None
    if precision == "bfloat16":
        return torch.bfloat16
    if precision == "float16":
        if not is_cuda:
            raise InvalidInputError(
                "precision='float16' needs a CUDA device; use 'bfloat16' or 'float32'."
            )
        return torch.float16
    raise InvalidInputError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
