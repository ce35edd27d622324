"""cnninspect: inspect convolutional network architectures declared as YAML specs.

Pipeline (each stage a module, frozen data between them, only the CLI prints):

    lang.load_spec      YAML -> Spec (the spec language: validated, located errors)
    resolve.resolve     Spec + variant + overrides -> Model (scaled, expanded, shapes)
    build.build_module  Model -> torch.nn.Module (names mirror the spec)
    analysis.analyze    Model -> Report (engine "spec", no torch)
    torch_engine.analyze_meta   Model -> Report from the built module on the meta device
    render.*            Report -> Document -> table / paper / json / csv / markdown

Importing this package does not import torch.
"""

__version__ = "0.1.0"
