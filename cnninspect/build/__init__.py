"""Resolved model -> real ``torch.nn.Module`` (builder, modules), the meta engine, ``--verify``
and the peer tools run on the built module. Torch is imported here (lazily where it can be)."""
