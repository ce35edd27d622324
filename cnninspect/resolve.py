"""Resolution: spec + variant + overrides -> a frozen, shape-annotated :class:`Model`.

Steps, in order, for each layer entry: evaluate ``when``; evaluate expressions (``$param``,
``$in``, ``$index``, a block's arguments) and apply field defaults; scale channel fields by
the width multiplier and round them with the spec's rule, once (``fixed`` entries excepted,
values computed from already-scaled channels not again); scale ``repeat`` by the depth
multiplier (``ceil(depth * n)``, strides only on the first repetition); expand the layer type
(``expand.py``) or the user-defined block into primitive ops and containers; infer every
shape. Every error names the spec file, line, column and key path.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping, Sequence

from . import limits
from .errors import Location, SpecError, UsageError, did_you_mean, one_of, shorten
from .expand import EXPANDERS
from .ir import Model, Node, Op, Origin, Seq, Settings
from .lang.expr import Computed, ExprError
from .lang.fields import ANY, Field, Int
from .lang.spec import BlockDef, LayerEntry, Spec, block_order, field_default, nested_lists
from .scaling import compound, round_channels, scale_repeat
from .scope import Expansion, Scope


@dataclass(frozen=True)
class Overrides:
    """Settings requested on top of a variant (command line, ``@key=value``, check files, API).

    ``origin`` only changes how errors name a setting: ``option`` (``--width``,
    ``--set num_classes``), ``@`` (``@width``) or a key path prefix such as
    ``checks[0].settings`` (``checks[0].settings.width``).
    """

    width: float | None = None
    depth: float | None = None
    resolution: int | None = None
    phi: float | None = None
    padding: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    origin: str = "option"

    def name(self, key: str) -> str:
        """How the user wrote the setting ``key``."""
        builtin = key in ("width", "depth", "resolution", "phi", "padding")
        if self.origin == "option":
            return f"--{key}" if builtin else f"--set {key}"
        if self.origin == "@":
            return f"@{key}"
        return f"{self.origin}.{key}"


BUILTIN_SCALES = ("width", "depth", "resolution")


def settings_for(spec: Spec, variant: str | None, overrides: Overrides | None = None) -> tuple[str | None, dict[str, Any]]:
    """Parameter values for a variant plus overrides; returns (variant name used, values).

    Precedence, printed with the model (``Settings.overridden``): a parameter's default, then
    the variant's value (the spec's default variant unless ``--phi`` is given), then an
    explicit setting. Setting one value two ways (``--set width``
    and ``--width``) and ``--phi`` on a variant that fixes width, depth or resolution are
    refused rather than silently resolved.
    """
    overrides = overrides or Overrides()
    if variant is None and overrides.phi is None:
        # --phi without a variant is a point of the compound rule, not the default variant
        variant = spec.default_variant
    values = {name: decl.default for name, decl in spec.params.items()}
    if variant is not None:
        if variant not in spec.variants:
            available = one_of(spec.variants) or "this spec has no variants"
            raise UsageError(
                f"unknown variant '{variant}' of {spec.name}{did_you_mean(variant, spec.variants)}; "
                f"available: {available}"
            )
        values.update(spec.variants[variant].values)
    for key in BUILTIN_SCALES:
        direct = getattr(overrides, key)
        if key in overrides.values and direct is not None:
            raise UsageError(
                f"{key} is set twice: --set {key}={_fmt(overrides.values[key])} and {overrides.name(key)} "
                f"{_fmt(direct)}; give it once"
            )
    for key, value in overrides.values.items():
        if key not in spec.params:
            raise UsageError(
                f"{overrides.name(key)}: {spec.name} has no parameter '{key}'{did_you_mean(key, spec.params)}; "
                f"parameters: {one_of(spec.params)}"
            )
        try:
            values[key] = spec.params[key].kind.coerce(value)
        except ValueError as exc:
            raise UsageError(f"{overrides.name(key)}: {exc}") from None
    if overrides.phi is not None:
        phi_name = overrides.name("phi")
        given = [overrides.name(k) for k in BUILTIN_SCALES if getattr(overrides, k) is not None or k in overrides.values]
        if given:
            raise UsageError(f"{phi_name} sets width, depth and resolution together; drop {', '.join(given)}")
        fixed = [k for k in BUILTIN_SCALES if variant is not None and k in spec.variants[variant].values]
        if fixed:
            raise UsageError(
                f"{phi_name} conflicts with variant '{variant}', which sets {', '.join(fixed)}; use {spec.name} "
                f"{phi_name}{' ' if overrides.origin == 'option' else '='}{_fmt(overrides.phi)} without the variant, "
                "or the variant without phi"
            )
        if not -10.0 <= overrides.phi <= 20.0:
            raise UsageError(f"{phi_name} must be between -10 and 20, got {_fmt(overrides.phi)}")
        for key, val in zip(BUILTIN_SCALES, compound(overrides.phi, spec.default_resolution)):
            try:
                values[key] = spec.params[key].kind.coerce(val)
            except ValueError as exc:
                raise UsageError(f"{phi_name} {_fmt(overrides.phi)} gives {key} {_fmt(val)}: {exc}") from None
    for key in BUILTIN_SCALES:
        val = getattr(overrides, key)
        if val is not None:
            try:
                values[key] = spec.params[key].kind.coerce(val)
            except ValueError as exc:
                raise UsageError(f"{overrides.name(key)}: {exc}") from None
    return variant, values


def overridden_values(spec: Spec, variant: str | None, values: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Values the variant sets that an explicit setting replaced: name -> (variant's, used)."""
    if variant is None:
        return {}
    own = spec.variants[variant].values
    return {k: (own[k], values[k]) for k in own if values.get(k) != own[k]}


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def resolve(spec: Spec, variant: str | None = None, overrides: Overrides | None = None) -> Model:
    """Resolve ``spec`` for a variant and overrides into a shape-annotated :class:`Model`."""
    variant, settings = resolved_settings(spec, variant, overrides)
    return Resolver(spec, settings).model(variant)


def resolved_settings(spec: Spec, variant: str | None = None,
                      overrides: Overrides | None = None) -> tuple[str | None, Settings]:
    """The variant used and the :class:`Settings` ``resolve`` resolves with (checked)."""
    overrides = overrides or Overrides()
    variant, values = settings_for(spec, variant, overrides)
    padding = overrides.padding or spec.padding_style
    if padding not in ("torch", "tf"):
        raise UsageError(f"{overrides.name('padding')}: must be torch or tf, got {shorten(repr(padding))}")
    settings = Settings(
        width=float(values["width"]),
        depth=float(values["depth"]),
        resolution=int(values["resolution"]),
        padding=padding,
        values=MappingProxyType(dict(values)),
        overridden=MappingProxyType(overridden_values(spec, variant, values)),
    )
    return variant, settings


@dataclass(frozen=True)
class Env:
    """The names an expression or a ``when`` can use where an entry is resolved.

    ``values``: spec parameters, then (inside a user-defined block) the block's arguments,
    which hide spec parameters of the same name, and ``index``, the copy's index in the
    innermost ``repeat`` (0 outside one); ``in`` is added per entry. ``scaled``: names whose
    values are channel counts already width-scaled (``in``, arguments declared ``channels``
    and values computed from them): a channel field computed from one is not scaled again.
    ``args``: where each block argument was written, so a bad argument is reported there.
    ``call``: which block call this is, for errors inside the block's layers.
    """

    values: Mapping[str, Any]
    scaled: frozenset[str] = frozenset({"in"})
    args: Mapping[str, tuple[Location, str]] = field(default_factory=dict)
    call: str = ""


class _Only(Mapping[str, Any]):
    """The names of ``values`` that are spec parameters (or ``extra``), read lazily: a block
    sees the spec's parameters, not the arguments of the block that calls it, and a value is
    only read (and so recorded by the totals path) when an expression uses it."""

    def __init__(self, values: Mapping[str, Any], params: Mapping[str, Any], extra: tuple[str, ...] = ()) -> None:
        self._values = values
        self._names = [k for k in values if k in params or k in extra]

    def __getitem__(self, key: str) -> Any:
        if key not in self._names:
            raise KeyError(key)
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        return key in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class Resolver:
    """Walks layer entries with the current settings, producing IR nodes.

    Parameter values are read only through ``settings.values`` (item access): the fast
    totals path (``cnninspect/totals.py``) records those reads to learn whether a model
    depends on its resolution other than through its input shape.
    """

    def __init__(self, spec: Spec, settings: Settings) -> None:
        self.spec = spec
        self.settings = settings
        self.values = settings.values
        self.op_count = 0
        self.entry_count = 0
        self.input_shape = (spec.input_channels, settings.resolution, settings.resolution)

    def model(self, variant: str | None) -> Model:
        self.refuse_exponential_expansion()
        in_shape = self.input_shape
        origin = Origin(self.spec.source, None, "layers")
        loc = self.spec.layers_loc or Location(self.spec.source)
        root = Scope(self, "", "model", in_shape, origin, loc, "layers")
        env = Env(ChainMap({"index": 0}, self.values))
        self.entries(root, self.spec.layers, width=self.settings.width, stride_one=False, env=env)
        node = root.close()
        assert isinstance(node, Seq)
        return Model(
            name=self.spec.name,
            title=self.spec.title,
            variant=variant,
            citation=self.spec.citation,
            source=self.spec.source,
            settings=self.settings,
            input_shape=in_shape,
            root=node,
            paper=self.spec.paper,
        )

    # -- entries ------------------------------------------------------------------------

    def entries(
        self, scope: Scope, entries: Sequence[LayerEntry], *, width: float | None, stride_one: bool, env: Env
    ) -> None:
        """Resolve entries into ``scope``; ``width`` None means fixed (no scaling, no rounding).

        A convolution entry whose bias is automatic (no ``bias``, ``bn`` or ``act`` written)
        directly followed by a ``bn`` (or ``bn_act``) entry gets no bias, as with ``bn: true``: batch norm
        subtracts the mean right after it, so a bias there is a wasted parameter no reference
        implementation has (write ``bias: true`` to keep one).
        """
        auto_bias: int | None = None  # index in scope.nodes of a convolution with an automatic bias
        for index, entry in enumerate(entries):
            before = len(scope.nodes)
            self.entry(scope, entry, index, width=width, stride_one=stride_one, env=env)
            added = len(scope.nodes) - before
            if added and entry.type in ("bn", "bn_act") and auto_bias is not None and auto_bias == before - 1:
                conv = scope.nodes[auto_bias]
                assert isinstance(conv, Op)
                scope.nodes[auto_bias] = replace(conv, attrs={**conv.attrs, "bias": False})
            if added:
                auto_bias = before if added == 1 and _auto_bias_conv(entry, scope.nodes[before]) else None

    def entry(
        self, scope: Scope, entry: LayerEntry, index: int, *, width: float | None, stride_one: bool, env: Env
    ) -> None:
        self.entry_count += 1
        if self.entry_count > limits.MAX_ENTRIES:  # entries that 'when' leaves out give no operation
            raise SpecError(
                f"the model expands more than {limits.MAX_ENTRIES:,} layer entries and block calls; call fewer blocks",
                entry.loc,
                entry.path,
            )
        here = replace(env, values=ChainMap({"in": _channels_of(scope)}, env.values))
        if entry.when is not None and not self.when(entry, here):
            return
        if entry.fixed:
            width = None
        elif entry.min_width is not None and width is not None:
            width = max(width, entry.min_width)
        name = entry.name or f"{entry.type}{index}"
        if name in scope.names:
            auto = "" if entry.name else f" (an entry without 'name' is called <type><position>, here '{name}')"
            raise SpecError(
                f"the name '{name}' is used twice in the same list{auto}; give this layer another name",
                entry.loc,
                entry.path,
            )
        origin = Origin(_file(entry.loc, self.spec.source), entry.loc.line, entry.path, entry.type,
                        MappingProxyType(dict(entry.paper)))
        repeat = None
        if entry.repeat is not None:
            n = self.value(entry.repeat, Field("repeat", _REPEAT_KIND), entry.path + ".repeat", here)
            repeat = scale_repeat(n, self.settings.depth)
            if repeat > limits.MAX_REPEAT:
                raise SpecError(
                    f"repeat {n:,} x depth {self.settings.depth:g} = {repeat:,} exceeds the limit of "
                    f"{limits.MAX_REPEAT:,}",
                    entry.loc,
                    entry.path + ".repeat",
                )
        if repeat is None:
            previous = scope.enter(origin, entry.loc, entry.path)
            try:
                self.expand(scope, entry, name, width, stride_one, here)
            finally:
                scope.enter(*previous)
            return
        stage = scope.child(name, "", origin=origin, loc=entry.loc, path=entry.path)
        for i in range(repeat):
            copy = replace(here, values=ChainMap({"index": i, "in": _channels_of(stage)}, here.values))
            self.expand(stage, entry, str(i), width, stride_one or i > 0, copy)
        first_child = stage.nodes[0]
        stage.label = f"{_label(first_child)} x{repeat}"
        stage.close(attach=True, repeat=repeat)

    def expand(self, scope: Scope, entry: LayerEntry, name: str, width: float | None, stride_one: bool, env: Env) -> None:
        """Attach the node(s) of one entry (one copy of a repeated one) under ``name``."""
        if entry.call:
            self.call(scope, entry, name, width, stride_one, env)
            return
        fields = self.fields(entry, width, env)
        if stride_one:
            fields = _stride_one(fields)
        EXPANDERS[entry.type](Expansion(self, scope, name, fields, width, stride_one, env))

    def when(self, entry: LayerEntry, env: Env) -> bool:
        cond = entry.when
        if isinstance(cond, Computed):
            value = self.evaluate(cond, f"{entry.path}.when", env)
            if not isinstance(value, bool):
                raise SpecError(f"the condition gives {shorten(repr(value))}, not true or false", cond.loc,
                                f"{entry.path}.when")
            return value
        assert cond is not None
        return all(env.values[k] in allowed for k, allowed in cond.items())

    def fields(self, entry: LayerEntry, width: float | None, env: Env) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in entry.layer_type.fields:
            raw = entry.fields.get(f.name, field_default(f))
            path = f"{entry.path}.{entry.type}.{f.name}"
            value = self.value(raw, f, path, env)
            if f.channels and value is not None and width is not None and not self.derived(raw, env):
                value = self.channels(value, width, entry.field_locs.get(f.name, entry.loc), path)
            out[f.name] = value
        return out

    @staticmethod
    def derived(raw: Any, env: Env) -> bool:
        """Is ``raw`` computed from channel counts that are already width-scaled?"""
        return isinstance(raw, Computed) and bool(raw.names & env.scaled)

    def evaluate(self, raw: Computed, path: str, env: Env) -> Any:
        try:
            return raw.evaluate(env.values)
        except ExprError as exc:
            assert exc.expr is not None
            raise exc.expr.error(exc, path) from None

    def value(self, raw: Any, f: Field, path: str, env: Env) -> Any:
        """A field's value: a literal as it is, a computed one evaluated and validated."""
        if not isinstance(raw, Computed):
            return raw
        value = self.evaluate(raw, path, env)
        try:
            return f.kind.coerce(value)
        except ValueError as exc:
            exprs = list(raw.exprs())
            if len(exprs) == 1 and exprs[0].is_name and next(iter(exprs[0].names)) in env.args:
                arg_loc, arg_path = env.args[next(iter(exprs[0].names))]
                raise SpecError(f"{shorten(repr(value))}: {exc} (as {path})", arg_loc, arg_path) from None
            raise SpecError(f"{raw.text} = {shorten(repr(value))}: {exc}", raw.loc, path) from None

    def channels(self, value: int, width: float, loc: Location, path: str) -> int:
        scaled = round_channels(value, width, self.spec.rounding)
        if scaled > limits.MAX_CHANNELS:
            raise SpecError(
                f"{value} channels x width {width:g} = {scaled:,} exceeds the limit of {limits.MAX_CHANNELS:,}",
                loc,
                path,
            )
        return scaled

    # -- user-defined blocks --------------------------------------------------------------

    def call(self, scope: Scope, entry: LayerEntry, name: str, width: float | None, stride_one: bool, env: Env) -> None:
        """Expand a call of a user-defined block: evaluate its arguments where it is used,
        then resolve the block's layers with them."""
        block = self.spec.blocks[entry.type]
        args, scaled, locs = self.arguments(block, entry, width, stride_one, env)
        inner = Env(
            ChainMap({**args, "index": env.values.get("index", 0)}, _Only(env.values, self.values)),
            frozenset(scaled | {"in"}),
            locs,
            f"in block '{block.name}' used at {entry.path}",
        )
        label = block.label_for(args)
        try:
            if len(block.layers) == 1 and block.layers[0].name is None:
                # one entry: it takes the call's name (no extra level in the module tree)
                before = len(scope.nodes)
                self.entry_as(scope, block.layers[0], name, width=width, stride_one=stride_one, env=inner)
                if len(scope.nodes) == before:
                    raise SpecError(f"block '{block.name}' gives no layer here: its 'when' excludes it", entry.loc,
                                    entry.path)
                node = scope.nodes[-1]
                if entry.paper:  # the call's paper labels (--format paper) apply to the node it became
                    paper = MappingProxyType({**node.origin.paper, **entry.paper})
                    node = replace(node, origin=replace(node.origin, paper=paper))
                scope.nodes[-1] = node if isinstance(node, Op) else replace(node, label=label)
                return
            s = scope.child(name, label)
            self.entries(s, block.layers, width=width, stride_one=stride_one, env=inner)
            s.close(attach=True)
        except SpecError as exc:
            at_call = exc.loc == entry.loc or (exc.path or "").startswith(f"{entry.path}.")
            if at_call or "in block '" in exc.message:
                raise
            file = _file(entry.loc, self.spec.source)
            where = f"line {entry.loc.line}" if exc.loc is not None and exc.loc.file == file else f"{file}:{entry.loc.line}"
            raise SpecError(f"{exc.message} ({inner.call}, {where})", exc.loc, exc.path) from None

    def entry_as(self, scope: Scope, entry: LayerEntry, name: str, *, width: float | None, stride_one: bool,
                 env: Env) -> None:
        """Resolve one entry under a given name (a one-entry block's body)."""
        self.entry(scope, replace(entry, name=name), 0, width=width, stride_one=stride_one, env=env)

    def arguments(
        self, block: BlockDef, entry: LayerEntry, width: float | None, stride_one: bool, env: Env
    ) -> tuple[dict[str, Any], set[str], dict[str, tuple[Location, str]]]:
        """The block's parameter values for this call, which of them are width-scaled channel
        counts, and where each was written."""
        args: dict[str, Any] = {}
        scaled: set[str] = set()
        locs: dict[str, tuple[Location, str]] = {}
        spec_env = _Only(env.values, self.values, ("in", "index"))
        for p in block.params.values():
            if p.name in entry.fields:
                raw, loc = entry.fields[p.name], entry.field_locs[p.name]
                path, where = f"{entry.path}.{entry.type}.{p.name}", env
            else:
                raw, loc = p.default, p.loc
                path = f"blocks.{block.name}.params.{p.name}"
                where = replace(env, values=ChainMap(args, spec_env), scaled=frozenset({"in"} | scaled))
            value = self.value(raw, Field(p.name, ANY), path, where)
            if stride_one and p.name == "stride":
                value = [1] * len(value) if isinstance(value, (list, tuple)) else 1
            if p.channels:
                try:
                    value = CHANNELS.coerce(value)
                except ValueError as exc:
                    raise SpecError(f"{exc} (the block's parameter '{p.name}' is a channel count)", loc, path) from None
                if width is not None and not self.derived(raw, where):
                    value = self.channels(value, width, loc, path)
                scaled.add(p.name)
            elif self.derived(raw, where):
                scaled.add(p.name)
            args[p.name] = value
            locs[p.name] = (loc, path)
        return args, scaled, locs

    def refuse_exponential_expansion(self) -> None:
        """Refuse at once a model whose block-call graph alone expands past
        :data:`~cnninspect.limits.MAX_OPS` (30 blocks each calling the previous twice make
        2**30 operations), naming the top-level call: estimated from the graph before any
        expansion runs, so the refusal costs milliseconds."""
        least = least_ops(self.spec, self.settings.depth, self.values)
        total = sum(least(e) for e in self.spec.layers)
        if total <= limits.MAX_OPS:
            return
        top = max(self.spec.layers, key=least)
        what = f"block '{top.type}'" if top.call else f"'{top.type}'"
        raise SpecError(
            f"the model expands to at least {_count(total)} operations (limit {limits.MAX_OPS:,}): {what} here makes "
            f"{_count(least(top))} of them; lower repeat/depth" + (" or call fewer blocks" if top.call else ""),
            top.loc,
            top.path,
        )

    def count_op(self, loc: Location, path: str) -> None:
        self.op_count += 1
        if self.op_count > limits.MAX_OPS:
            raise SpecError(
                f"the model expands to more than {limits.MAX_OPS:,} operations; lower repeat/depth",
                loc,
                path,
            )


_CONV_TYPES = ("conv", "dwconv", "pwconv")


def _auto_bias_conv(entry: LayerEntry, node: Node) -> bool:
    """Is ``node`` a bare convolution whose bias nobody wrote (``bias`` absent, no batch norm,
    no activation)?"""
    return (
        entry.type in _CONV_TYPES
        and not entry.call
        and "bias" not in entry.fields
        and isinstance(node, Op)
        and node.kind == "conv2d"
        and bool(node.attrs["bias"])
    )


_SATURATED = 10**15  # counts stop here: enough to refuse, and printable


def _count(n: int) -> str:
    return f"{n:,}" if n < _SATURATED else f"10^{len(str(_SATURATED)) - 1}"


def least_ops(spec: Spec, depth: float, values: Mapping[str, Any] | None = None) -> Callable[[LayerEntry], int]:
    """A lower bound of the operations an entry expands into, from the block-call graph:
    an entry with ``when`` gives nothing (0) unless its condition reads only spec parameters
    (``values``) and holds; a computed ``repeat`` at least one copy, a written one its
    depth-scaled count; a block call what the block's entries give; a container what its
    lists give; any other layer at least one operation. Computed once per block, callees
    first, saturating at ``10**15``."""
    return _LeastOps(spec, depth, values or {})


class _LeastOps:
    """:func:`least_ops`'s bound (an object, not recursive closures: those would be a
    reference cycle left to the garbage collector)."""

    def __init__(self, spec: Spec, depth: float, known: Mapping[str, Any]) -> None:
        self.depth = depth
        self.known = known
        self.per_block: dict[str, int] = {}
        for name in block_order(spec.blocks):
            block = spec.blocks[name]
            hidden = frozenset(block.params) | {"in", "index"}  # a block's arguments hide parameters
            self.per_block[name] = min(sum(self.least_in(e, hidden) for e in block.layers), _SATURATED)

    def __call__(self, e: LayerEntry) -> int:
        return self.least_in(e, frozenset({"in", "index"}))

    def holds(self, e: LayerEntry, hidden: frozenset[str]) -> bool:
        """Does ``e``'s condition surely hold? (False when it depends on more than parameters.)"""
        cond = e.when
        known = self.known
        if isinstance(cond, Computed):
            if not cond.names <= set(known) or cond.names & hidden:
                return False
            try:
                return cond.evaluate(known) is True
            except ExprError:
                return False
        assert cond is not None
        return all(k in known and k not in hidden and known[k] in allowed for k, allowed in cond.items())

    def least_in(self, e: LayerEntry, hidden: frozenset[str]) -> int:
        if e.when is not None and not self.holds(e, hidden):
            return 0
        copies = scale_repeat(e.repeat, self.depth) if isinstance(e.repeat, int) else 1
        if e.call:
            inner = self.per_block[e.type]
        else:
            nested = [n for v in e.fields.values() for n in nested_lists(v)]
            inner = sum(self.least_in(x, hidden) for n in nested for x in n) if nested else 1
        return min(copies * inner, _SATURATED)


def _channels_of(scope: Scope) -> int:
    """``$in``: the channels entering an entry (features of a flat vector; C of H x W x C)."""
    shape = scope.shape
    if len(shape) == 3 and not scope.channels_last:
        return shape[0]
    return shape[-1] if shape else 0


def _file(loc: Location, default: str) -> str:
    return loc.file or default


CHANNELS = Int(1, limits.MAX_CHANNELS, what="a positive integer")


class _RepeatKind:
    description = "a positive integer"

    def coerce(self, value: Any) -> int:
        return Int(1, limits.MAX_REPEAT).coerce(value)


_REPEAT_KIND: Any = _RepeatKind()


def _stride_one(fields: dict[str, Any]) -> dict[str, Any]:
    if "stride" in fields and fields["stride"] not in (None, (1, 1)):
        fields = dict(fields)
        fields["stride"] = (1, 1)
    return fields


def _label(node: Node) -> str:
    return node.kind if isinstance(node, Op) else node.label


__all__ = ["Overrides", "resolve", "resolved_settings", "settings_for", "Resolver"]
