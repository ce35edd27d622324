"""Functions of each element (role ``ACTIVATION``) and softmax (role ``CLASSIFIER``).

The ``act`` kind holds any registered activation function (its ``fn``,
:data:`cnninspect.ops.primitives.ACTIVATIONS`); :data:`ACT_SAVES` says what autograd keeps
for each of them (torch's ``derivatives.yaml``; a test covers every registered activation).
"""

from __future__ import annotations

import math

from ..counting import ACTIVATIONS as ACTIVATION_CAUSE, elements, ptflops_act
from ..formulas import NOTHING, Formula, formula, term
from ..kind import (
    SAVES_INPUT, SAVES_NOTHING, SAVES_OUTPUT, Counts, ModuleRecipe, OpFacts, OpKind, Role, Saves, SavesRule, const,
    register_kind,
)
from ..primitives import ACTIVATIONS, Attrs, Shape, ShapeError, activation_kwargs, activation_text, need_flat

ACT_SAVES: dict[str, SavesRule] = {
    "step": const(Saves(stops_grad=True)),  # (x >= 0): no gradient
    "signum": const(SAVES_NOTHING),  # sign: zero gradient, nothing kept
    "linear": const(SAVES_NOTHING),  # nn.Identity
    "relu": const(SAVES_OUTPUT),
    "relu6": const(SAVES_INPUT),  # hardtanh
    "sigmoid": const(SAVES_OUTPUT),
    "tanh": const(SAVES_OUTPUT),
    "scaled_tanh": lambda a, i, o: Saves(extra=math.prod(o)),  # A * tanh(S x) keeps tanh's output
    "silu": const(SAVES_INPUT),
    "hardswish": const(SAVES_INPUT),
    "hardsigmoid": const(SAVES_INPUT),
    "gelu": const(SAVES_INPUT),
    "mish": const(SAVES_INPUT),
    "leaky_relu": const(SAVES_INPUT),
    "prelu": const(SAVES_INPUT),  # and its weight, which is state
    "elu": const(SAVES_INPUT),
    "selu": const(SAVES_INPUT),  # elu with a scale
    "celu": const(SAVES_INPUT),  # elu with input_scale 1 / alpha
    "softplus": const(SAVES_INPUT),
    "hardtanh": const(SAVES_INPUT),
    "logsigmoid": lambda a, i, o: Saves(input=True, extra=math.prod(i)),  # and the CPU kernel's buffer
    "softsign": lambda a, i, o: Saves(input=True, extra=math.prod(i)),  # x / (1 + |x|) keeps the divisor
    "tanhshrink": lambda a, i, o: Saves(extra=math.prod(o)),  # x - tanh(x) keeps tanh's output
}


def activation_module(attrs: Attrs) -> ModuleRecipe:
    """The activation's module, with its parameters (defaults filled in) as arguments;
    PReLU's slopes start at its ``init``."""
    return ModuleRecipe(ACTIVATIONS[attrs["fn"]].torch_class, (), activation_kwargs(attrs))


def act_saves(attrs: Attrs, i: Shape, o: Shape) -> Saves:
    return ACT_SAVES[attrs["fn"]](attrs, i, o)


def _act_infer(attrs: Attrs, shape: Shape) -> Shape:
    n = attrs.get("num_parameters", 1)
    if n != 1:
        c = shape[0] if shape else 1  # PReLU's slopes run along dim 1 of the batch: channels
        if n != c:
            raise ShapeError(f"prelu has {n} slopes but its input has {c} channels")
    return shape


def _act_params(attrs: Attrs) -> Formula:
    if not ACTIVATIONS[attrs["fn"]].learned:
        return NOTHING
    return formula(term("weight", ("slopes", attrs.get("num_parameters", 1)), label="PReLU slopes"))


THOP_PRELU = "PReLU, 1 per element (eval mode)"


def thop_act(f: OpFacts) -> Formula:
    """``count_prelu`` (one per input element in eval mode) is thop's only activation rule
    that counts; ReLU, ReLU6 and LeakyReLU are ``zero_ops``, the rest have no rule."""
    if f.torch_class != "PReLU":
        return Formula(uncounted="activation: not counted by thop")
    return formula(elements(f.in_shape, THOP_PRELU))


register_kind(OpKind(
    "act", "activation", Role.ACTIVATION, _act_infer, activation_module, params=_act_params,
    counts=Counts(ptflops=ptflops_act, thop=thop_act),
    saves=act_saves, alias=lambda a, training: a["fn"] == "linear",
    aten=("relu", "hardtanh", "sigmoid", "tanh", "silu", "hardswish", "hardsigmoid", "gelu", "mish", "leaky_relu",
          "_prelu_kernel", "elu", "softplus", "log_sigmoid_forward"),
    channels_last=True, detail=lambda a: activation_text(a["fn"], a),
))

# --- softmax -------------------------------------------------------------------------------------


def _softmax_infer(attrs: Attrs, shape: Shape) -> Shape:
    need_flat(shape, "softmax")
    return shape


def thop_softmax(f: OpFacts) -> Formula:
    n = f.in_shape[0]
    cause = "softmax, 3F - 1 per vector of F"
    return formula(
        term(cause, ("F", n), label="exp"),
        term(cause, ("F - 1", n - 1), label="add"),
        term(cause, ("F", n), label="divide"),
    )


register_kind(OpKind(
    "softmax", "softmax", Role.CLASSIFIER, _softmax_infer, lambda a: ModuleRecipe("Softmax", (), {"dim": 1}),
    counts=Counts(ptflops=lambda f: formula(elements(f.in_shape, ACTIVATION_CAUSE, "patched F.softmax", suffix="")),
                  thop=thop_softmax),
    saves=const(SAVES_OUTPUT), aten=("_softmax",),
))
