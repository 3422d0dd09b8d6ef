"""Registries of the nets' extension points: names -> classes (torch modules, balance schemes).

A :class:`Registry` maps names to ``torch.nn.Module`` classes, each registered with the
constructor defaults that the name stands for. Wherever the nets take a name of a
registry, they also take a class or an instance (skorch's convention for ``module``):

* a name or a class is instantiated when the module is built, with the sizes the net
  knows (the registry's *context*, e.g. ``n_modalities`` and ``width`` for a fusion
  operator; only those its constructor takes), the defaults of its registration, and the
  net's routed parameters ``<prefix>__<name>`` that its constructor takes;
* an instance is used as it is, deep-copied per build so that clones never share state;
  when routed parameters for its class are set, a new instance of its class is built
  with them instead (as skorch does for ``module`` and ``module__...``).

A routed parameter that a class does not take is ignored by it when another class in
use or any registered class takes it (so that one grid of ``GridSearchCV`` can cover
several operators, and ``branches__...`` reaches the branches that take it), and refused
otherwise, as a typo (:meth:`Registry.check_names`). A class may declare
``_parameter_constraints`` (see :mod:`skmm._validation`) for its hyperparameters; they
are checked before anything is built.
"""

import copy
import functools
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field

from torch import nn

from .._validation import Constraint, InstanceOf, Satisfies, check_param
from ..exceptions import InvalidInputError


@dataclass(frozen=True)
class Entry:
    """One registration: ``name`` builds ``cls(**context, **defaults, **routed)``."""

    name: str
    cls: type
    defaults: dict = field(default_factory=dict)
    kinds: tuple = None  # block kinds a branch accepts (None: any)


class Registered(Constraint):
    """A name registered in ``registry`` (read when checked, so late registrations count)."""

    def __init__(self, registry):
        self.registry = registry

    def is_satisfied_by(self, value):
        return isinstance(value, str) and value in self.registry

    def __str__(self):
        return f"one of {tuple(self.registry)}"


#: Docstring text that ``register_fusion`` and ``register_branch`` share (see :mod:`skmm._docs`).
REGISTER_DOCS = {
    "defaults": """
        **defaults
            Constructor arguments the name stands for (routed parameters override them).
    """,
    "returns": """
        Returns
        -------
        cls, or a decorator that registers and returns it.
    """,
}

def subclass_of(base, description):
    """Constraint: a subclass of ``base``."""
    return Satisfies(lambda v: isinstance(v, type) and issubclass(v, base), description)


MODULE_CLASS = subclass_of(nn.Module, "a torch.nn.Module subclass")
MODULE_INSTANCE = InstanceOf(nn.Module, description="a torch.nn.Module instance")


@functools.lru_cache(maxsize=None)
def _signature(cls):
    """``(names, takes_any)`` of the constructor of ``cls``."""
    params = inspect.signature(cls).parameters.values()
    names = tuple(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    return names, any(p.kind == p.VAR_KEYWORD for p in params)


def takes(cls, name):
    """Whether the constructor of ``cls`` takes the keyword argument ``name``."""
    names, takes_any = _signature(cls)
    return takes_any or name in names


class Registry(Mapping):
    """Names of one extension point -> classes (a read-only mapping).

    Parameters
    ----------
    prefix : str
        The nets' parameter that names an entry; ``<prefix>__<name>`` parameters of the
        nets are routed to the constructor (e.g. "fusion": ``fusion__rank=8``).
    noun : str
        What one entry is called in messages ("fusion", "branch").
    context : tuple of str
        Sizes the nets pass to a constructor that takes them; not routable.
    register_hint : str
        How to add an entry, for messages.
    base : type, default=torch.nn.Module
        The class every entry subclasses (a balance scheme's is
        :class:`~skmm.nets._balance.BalanceScheme`).
    """

    def __init__(self, prefix, noun, context, register_hint, base=nn.Module):
        self.prefix, self.noun = prefix, noun
        self.context = tuple(context)
        self.register_hint = register_hint
        self.base = base
        self._entries = {}
        if base is nn.Module:
            self._class, self._instance = MODULE_CLASS, MODULE_INSTANCE
        else:
            self._class = subclass_of(base, f"a {base.__name__} subclass")
            self._instance = InstanceOf(base, description=f"a {base.__name__} instance")
        self.spec_constraints = [Registered(self), self._class, self._instance]

    def __getitem__(self, name):
        return self._entries[name].cls

    def __iter__(self):
        return iter(self._entries)

    def __len__(self):
        return len(self._entries)

    def __repr__(self):
        return f"<{self.noun} registry {tuple(self)}>"

    def entry(self, name):
        """The :class:`Entry` registered as ``name``."""
        return self._entries[name]

    # ---- registering ------------------------------------------------------------------
    def register(self, name, cls=None, **defaults):
        """Register ``cls`` as ``name`` (a decorator when ``cls`` is None); return ``cls``.

        ``defaults`` are constructor arguments that the name stands for (routed
        parameters override them).
        """
        if cls is None:
            return functools.partial(self.register, name, **defaults)
        self._add(Entry(name, cls, dict(defaults)))
        return cls

    def _add(self, entry):
        if not isinstance(entry.name, str) or not entry.name:
            raise ValueError(f"a {self.noun} is registered under a non-empty str name, got "
                             f"{entry.name!r}.")
        if entry.name in self._entries:
            raise ValueError(
                f"a {self.noun} named {entry.name!r} is already registered "
                f"({self._entries[entry.name].cls.__name__}); choose another name, or "
                f"unregister it first ({self.register_hint}.unregister({entry.name!r}))."
            )
        if not self._class.is_satisfied_by(entry.cls):
            raise TypeError(f"{self.noun} {entry.name!r} must be registered with "
                            f"{self._class}, got {entry.cls!r}.")
        unknown = [k for k in entry.defaults if not takes(entry.cls, k)]
        if unknown:
            raise TypeError(f"{entry.cls.__name__} does not take {unknown}, given as defaults "
                            f"of {self.noun} {entry.name!r}.")
        self._entries[entry.name] = entry

    def unregister(self, name):
        """Remove the entry ``name``; return its class."""
        if name not in self._entries:
            raise ValueError(f"no {self.noun} named {name!r} is registered; "
                             f"registered: {tuple(self)}.")
        return self._entries.pop(name).cls

    # ---- resolving and building -------------------------------------------------------
    def resolve(self, spec):
        """``(cls, defaults, instance)`` of a name, a class or an instance (else an error)."""
        check_param(self.noun, spec, self.spec_constraints,
                    hint=f"Add one with {self.register_hint}.register.")
        if isinstance(spec, str):
            entry = self._entries[spec]
            return entry.cls, dict(entry.defaults), None
        if isinstance(spec, type):
            return spec, {}, None
        return type(spec), {}, spec

    def check_names(self, params, classes):
        """Refuse routed ``params`` that none of ``classes`` nor any registered class takes.

        ``classes`` are those the net uses (registered or not); the sizes of the context
        are never routable.
        """
        classes = list(classes)
        for name in params or {}:
            if name in self.context:
                raise InvalidInputError(
                    f"{self.prefix}__{name} cannot be set: the net passes {name!r} to each "
                    f"{self.noun} itself."
                )
            candidates = classes + [e.cls for e in self._entries.values()]
            if not any(takes(cls, name) for cls in candidates):
                own = ", ".join(dict.fromkeys(
                    f"{c.__name__} (which takes {self.hyperparameters(c)})" for c in classes))
                raise InvalidInputError(
                    f"{self.prefix}__{name} is a parameter of no {self.noun}: no registered "
                    f"{self.noun} takes {name!r}, nor does any in use: {own}. Check the name."
                )

    def routed_name(self, name):
        """How messages name the hyperparameter ``name``: as the nets' routed parameter
        (``balance__holdout``) for a registry whose classes are not torch modules."""
        return name if self.base is nn.Module else f"{self.prefix}__{name}"

    def hyperparameters(self, cls):
        """Names of the constructor arguments of ``cls`` that are not sizes of the context."""
        return [n for n in _signature(cls)[0] if n not in self.context]

    def check(self, spec, params=None):
        """Validate ``spec`` and its hyperparameters; return ``(cls, kwargs, instance)``.

        ``kwargs`` holds the registration defaults and those of the routed ``params`` that
        ``cls`` takes (the others are for other classes: see :meth:`check_names`), checked
        against ``cls._parameter_constraints``; nothing is built.
        """
        cls, kwargs, instance = self.resolve(spec)
        kwargs.update({k: v for k, v in (params or {}).items() if takes(cls, k)})
        constraints = getattr(cls, "_parameter_constraints", {})
        for name, value in kwargs.items():
            if name in constraints:
                rule = constraints[name]
                rule, hint = rule if isinstance(rule, tuple) else (rule, None)
                check_param(self.routed_name(name), value, rule, hint=hint, what=cls.__name__)
        return cls, kwargs, instance

    def build(self, spec, context, params=None):
        """Build ``spec`` with the sizes in ``context`` and the routed ``params`` it takes."""
        cls, kwargs, instance = self.check(spec, params)
        if instance is not None and not kwargs:
            return copy.deepcopy(instance)
        sizes = {k: v for k, v in context.items() if takes(cls, k)}
        return cls(**sizes, **kwargs)

    def describe(self):
        """One line per entry, ``"name": summary``, for docstrings."""
        lines = []
        for entry in self._entries.values():
            summary = (inspect.getdoc(entry.cls) or entry.cls.__name__).splitlines()[0]
            if entry.defaults:
                preset = ", ".join(f"{k}={v!r}" for k, v in entry.defaults.items())
                summary = f"{summary} ({entry.cls.__name__} with {preset})"
            lines.append(f'* "{entry.name}"{self._tag(entry)}: {summary}')
        return "\n".join(lines)

    def _tag(self, entry):
        return ""
