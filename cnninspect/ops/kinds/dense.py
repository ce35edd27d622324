"""Dense layers: learned weights over every input feature at a position (role ``DENSE``)."""

from __future__ import annotations

from typing import Any

from ..aten_rules import operands
from ..counting import BIAS, WEIGHTS, not_seen, positions, uncounted
from ..formulas import Formula, formula, term, weight_bias
from ..kind import SAVES_INPUT, Counts, ModuleRecipe, OpFacts, OpKind, ReshapeRule, Role, Saves, Unsupported, const, register_kind
from ..primitives import Attrs, Shape, ShapeError, fmt_shape, need_flat


def dense_macs(f: OpFacts) -> Formula:
    """Inputs x outputs at every position: one position for a flat vector, ``H x W`` for a
    fully connected layer on a channels-last ``H x W x C`` tensor."""
    return formula(term(WEIGHTS, *positions(f.out_shape), ("F_in", f.attrs["in_f"]), ("F_out", f.attrs["out_f"])))


def ptflops_linear(f: OpFacts) -> Formula:
    """The nn.Linear hook: (inputs x outputs + bias) at every position."""
    terms = [term(WEIGHTS, *positions(f.out_shape), ("F_in", f.attrs["in_f"]), ("F_out", f.attrs["out_f"]))]
    if f.attrs["bias"]:
        terms.append(term(BIAS, *positions(f.out_shape), ("F_out", f.attrs["out_f"]), label="bias"))
    return formula(*terms)


def features_reshape(attrs: Attrs, shape: Shape) -> Attrs:
    """A dense layer's input size is the size of its (flattened) input (a channels-last
    layer inside a permuted block is not re-shaped here: see ``permute``)."""
    if len(shape) != 1:
        raise Unsupported
    return attrs if attrs["in_f"] == shape[0] else {**attrs, "in_f": shape[0]}


FEATURES = ReshapeRule(features_reshape, "flat")


def _linear_infer(attrs: Attrs, shape: Shape) -> Shape:
    """A flat vector, or (``channels_last``) the last dimension of an ``H x W x C`` tensor: the
    same weights at every position, as ``nn.Linear`` on a channels-last tensor computes."""
    if attrs.get("channels_last"):
        if len(shape) != 3:
            raise ShapeError(f"a channels-last fully connected layer needs an HxWxC tensor, got {fmt_shape(shape)}")
        f = shape[-1]
    else:
        f = need_flat(shape, "a fully connected layer")
    if f != attrs["in_f"]:
        raise ShapeError(f"fully connected layer expects {attrs['in_f']} inputs, got {f}")
    return tuple(shape[:-1]) + (attrs["out_f"],)


def _linear_from_call(call: Any) -> Attrs | None:
    """``aten.addmm(bias, x, w)``, ``mm(x, w)`` or ``bmm(x, w)`` with exactly one operand a
    weight (constant): a fully connected layer with the product's inner size as its inputs and
    the result's last size as its outputs, at every row of the result. A product of two
    activations (attention's ``q @ k``) is not a fully connected layer: ``None``."""
    a, b = operands(call)
    if a.const == b.const:
        return None
    return {"in_f": a.shape[-1], "out_f": call.out().shape[-1], "bias": call.op == "addmm"}


register_kind(OpKind(
    "linear", "fully connected", Role.DENSE, _linear_infer,
    lambda a: ModuleRecipe("Linear", (a["in_f"], a["out_f"]), {"bias": a["bias"]}),
    params=weight_bias(lambda a: (("F_in", a["in_f"]), ("F_out", a["out_f"])), "F_out", "out_f"),
    counts=Counts(paper=dense_macs, fvcore=dense_macs, ptflops=ptflops_linear, thop=dense_macs, flopcounter=dense_macs),
    saves=const(SAVES_INPUT), reshape=FEATURES, aten=("addmm", "mm", "bmm"), channels_last=True,
    from_call=_linear_from_call,
    reduce="sum of products",
))

# --- LeNet-5's output layer ---------------------------------------------------------------------

RBF_ELEMENTWISE = "RBF units: (x - w)^2 summed, elementwise ops no tool counts"


def _rbf_infer(attrs: Attrs, shape: Shape) -> Shape:
    f = need_flat(shape, "an RBF output layer")
    if f != attrs["in_f"]:
        raise ShapeError(f"RBF layer expects {attrs['in_f']} inputs, got {f}")
    return (attrs["out_f"],)


def rbf_macs(f: OpFacts) -> Formula:
    return formula(term(WEIGHTS, ("F_in", f.attrs["in_f"]), ("F_out", f.attrs["out_f"]), label="(x - w)^2 per prototype"))


register_kind(OpKind(
    "rbf", "Euclidean RBF units with fixed prototypes", Role.DENSE, _rbf_infer,
    lambda a: ModuleRecipe("RBFOutput", (a["in_f"], a["out_f"])),
    params=lambda a: formula(term("weight", ("F_in", a["in_f"]), ("F_out", a["out_f"]), label="fixed prototypes")),
    fixed=frozenset({"weight"}),
    counts=Counts(paper=rbf_macs, fvcore=uncounted(RBF_ELEMENTWISE),
                  ptflops=not_seen("ptflops", "a custom module of elementwise ops"),
                  thop=not_seen("thop", "no rule for the class; elementwise ops"),
                  flopcounter=uncounted(RBF_ELEMENTWISE)),
    # cdist keeps x and the distances; pow keeps them too
    saves=const(Saves(input=True, output=True)), reshape=FEATURES, aten=("_cdist_forward", "pow"),
    reduce="squared distance to a prototype", detail=lambda a: "fixed prototypes",
))
