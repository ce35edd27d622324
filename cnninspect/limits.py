"""Limits that keep even the shape-only analysis reasonable.

Values beyond these are almost certainly typos (an extra zero) or hostile input; each limit
is reported with its value so a user who really needs more knows what was refused.
"""

MAX_INT_FIELD = 1_000_000  # generic ceiling for integer fields
MAX_CHANNELS = 65_536  # channels of one layer, after width scaling
MAX_KERNEL = 1_024  # kernel, stride or padding along one axis
MAX_RESOLUTION = 16_384  # input height/width in pixels
MAX_REPEAT = 1_000  # repeat count of one entry, after depth scaling
MAX_BRANCHES = 1_000  # branches a concat makes from a list ('each')
MAX_OPS = 50_000  # primitive operations in one resolved model
MAX_ENTRIES = 3 * MAX_OPS  # layer entries and block calls visited while resolving, 'when' or not
MAX_NESTING = 64  # levels of lists, containers and block calls one layer expands into
MAX_TENSOR_ELEMENTS = 10**15  # values in one activation or parameter tensor (PyTorch overflows near 2**61)
MAX_WIDTH_MULT = 64.0
MAX_DEPTH_MULT = 64.0
MAX_CLASSES = 1_000_000
MAX_CPU_FALLBACK_BYTES = 10**9  # weights built on the CPU for a model that refuses the meta device
MAX_MODULE_DEPTH = 400  # levels of nested submodules in a Python model (PyTorch itself runs about 300)
MAX_FORWARD_PASSES = 1_000  # forward passes of a Python model in one sweep or fit (one capture per point)
