"""Inputs as torchinfo takes them (issue 20, section 2): full shapes with the batch, several
inputs, dtypes, dict and keyword inputs, batches other than one; the result object's
torchinfo names; the CLI's repeatable --input. Every count is compared with torchinfo and
fvcore run in the test on the same model and inputs."""

from __future__ import annotations

import inspect
import json
import logging

import pytest
import torch
import torchinfo
from torch import nn

import cnninspect
import zoo
from conftest import invoke


class TwoInputs(nn.Module):
    """An image and token ids, and an optional keyword mask."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.emb = nn.Embedding(100, 8)
        self.head = nn.Linear(16, 4)

    def forward(self, image: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        a = self.conv(image).mean((2, 3))
        b = self.emb(ids)
        if mask is not None:
            b = b * mask.unsqueeze(-1)
        return self.head(torch.cat([a, b.mean(1)], 1))


class TokenClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(1000, 32)
        self.lstm = nn.LSTM(32, 24, batch_first=True)
        self.fc = nn.Linear(24, 5)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.emb(ids))
        return self.fc(out[:, -1])


def torchinfo_stats(model: nn.Module, **kwargs: object) -> torchinfo.ModelStatistics:
    return torchinfo.summary(model, verbose=0, device="cpu", mode="eval", **kwargs)


def fvcore_total(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> int:
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    with torch.no_grad():
        fca = FlopCountAnalysis(model.eval(), inputs)
        fca.unsupported_ops_warnings(False)
        fca.uncalled_modules_warnings(False)
        return int(fca.total())


CASES = [
    (zoo.PlainCNN, (3, 32, 32)),
    (zoo.ResidualNet, (3, 16, 16)),
    (zoo.SENet, (3, 32, 32)),
    (zoo.TiedNet, (3, 16, 16)),
    (zoo.FrozenNet, (3, 16, 16)),
]


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize(("cls", "shape"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_torchinfo_convention_equals_torchinfo_at_any_batch(cls: type[nn.Module], shape: tuple[int, ...],
                                                            batch: int) -> None:
    torch.manual_seed(0)
    model = cls()
    size = (batch, *shape)
    ours = cnninspect.summary(model, input_size=size, convention="torchinfo")
    theirs = torchinfo_stats(model, input_size=size)
    assert ours.total_mult_adds == theirs.total_mult_adds
    tied = 256  # TiedNet's second use of one weight: torchinfo counts it again, cnninspect once
    assert ours.total_params == theirs.total_params - (tied if cls is zoo.TiedNet else 0)
    assert ours.batch == batch
    one = cnninspect.summary(model, input_size=(1, *shape), convention="torchinfo")
    assert ours.total_mult_adds == batch * one.total_mult_adds
    data = ours.to_dict()
    assert data["totals"]["batch"] == batch and data["totals"]["mult_adds_per_sample"] == one.total_mult_adds
    assert data["input"] == list(shape)
    fv = cnninspect.summary(model, input_size=size, convention="fvcore")
    assert fv.total_mult_adds == fvcore_total(model, (torch.randn(size),))


def test_token_ids_into_an_embedding() -> None:
    model = TokenClassifier()
    ours = cnninspect.summary(model, input_size=[(2, 12)], dtypes=[torch.long], convention="torchinfo")
    theirs = torchinfo_stats(model, input_size=[(2, 12)], dtypes=[torch.long])
    assert ours.total_mult_adds == theirs.total_mult_adds and ours.total_params == theirs.total_params
    assert ours.report.subject.settings["inputs"] == [{"name": "ids", "shape": [12], "dtype": "int64"}]
    ids = torch.zeros(2, 12, dtype=torch.long)
    by_data = cnninspect.summary(model, input_data=ids, convention="torchinfo")
    assert by_data.total_mult_adds == ours.total_mult_adds
    assert torchinfo_stats(model, input_data=ids).total_mult_adds == ours.total_mult_adds
    with pytest.raises(cnninspect.base.errors.UsageError, match="dtypes= has 2 entries for 1 input"):
        cnninspect.summary(model, input_size=[(2, 12)], dtypes=[torch.long, torch.long])


def test_several_inputs_dict_and_keyword_inputs() -> None:
    torch.manual_seed(0)
    model = TwoInputs()
    image, ids, mask = torch.randn(2, 3, 16, 16), torch.zeros(2, 6, dtype=torch.long), torch.ones(2, 6)
    theirs = torchinfo_stats(model, input_data=[image, ids])
    fv = fvcore_total(model, (image, ids))
    by_size = cnninspect.summary(model, input_size=[(2, 3, 16, 16), (2, 6)], dtypes=[torch.float, torch.long],
                                 convention="torchinfo")
    by_list = cnninspect.summary(model, input_data=[image, ids], convention="torchinfo")
    by_dict = cnninspect.summary(model, input_data={"image": image, "ids": ids}, convention="torchinfo")
    by_kwarg = cnninspect.summary(model, input_data=[image], ids=ids, convention="torchinfo")
    for r in (by_size, by_list, by_dict, by_kwarg):
        assert r.total_mult_adds == theirs.total_mult_adds and r.total_params == theirs.total_params
        assert r.batch == 2
    assert cnninspect.summary(model, input_data=[image, ids], convention="fvcore").total_mult_adds == fv
    masked = cnninspect.summary(model, input_data={"image": image, "ids": ids, "mask": mask}, convention="fvcore")
    assert masked.total_mult_adds == fvcore_total(model, (image, ids, mask))
    names = [i["name"] for i in masked.report.subject.settings["inputs"]]
    assert names == ["image", "ids", "mask"]
    with pytest.raises(cnninspect.base.errors.UsageError, match="'ids' is given both"):
        cnninspect.summary(model, input_data={"image": image, "ids": ids}, ids=ids)
    with pytest.raises(cnninspect.base.errors.UsageError, match="not both"):
        cnninspect.summary(model, input_size=(2, 3, 16, 16), input_data=image)


def test_input_size_includes_the_batch_as_in_torchinfo() -> None:
    model = zoo.PlainCNN()
    # a per-sample shape reaching a convolution: refused, with the shape to write
    with pytest.raises(cnninspect.base.errors.UsageError, match=r"include the batch dimension.*\(1, 3, 32, 32\)"):
        cnninspect.summary(model, input_size=(3, 32, 32))
    # batch_dim: the shapes leave the batch out, a batch of one goes there (torchinfo's rule)
    r = cnninspect.summary(model, input_size=(3, 32, 32), batch_dim=0, convention="torchinfo")
    assert r.batch == 1
    assert r.total_mult_adds == torchinfo_stats(model, input_size=(3, 32, 32), batch_dim=0).total_mult_adds
    # a 1-D input is one sample, as PyTorch runs it
    lin = nn.Linear(8, 3)
    one = cnninspect.summary(lin, input_size=(8,), convention="torchinfo")
    assert one.batch == 1 and one.total_mult_adds == torchinfo_stats(lin, input_size=(8,)).total_mult_adds
    with pytest.raises(cnninspect.base.errors.UsageError, match="the third argument is input_data"):
        cnninspect.summary(model, (1, 3, 32, 32), "fvcore")  # type: ignore[arg-type]


def test_the_result_answers_to_torchinfo_and_shows_itself() -> None:
    model = zoo.ResidualNet()
    r = cnninspect.summary(model, input_size=(1, 3, 16, 16), depth=1, col_names=("output_size", "num_params"))
    text = str(r)
    header = next(line for line in text.splitlines() if line.lstrip().startswith("Layer"))
    assert header.split() == ["Layer", "Output", "Params"]
    assert len(r.summary_list) == len(r.report.rows) and r.summary_list[0].name == r.report.rows[0].name
    html = r._repr_html_()
    assert html.startswith('<meta charset="utf-8">') and "padding" in html

    class Printer:
        def __init__(self) -> None:
            self.out = ""

        def text(self, s: str) -> None:
            self.out += s

    p = Printer()
    r._repr_pretty_(p, False)
    assert p.out == text
    sig = inspect.signature(cnninspect.summary)
    for name in ("input_size", "input_data", "dtypes", "batch_dim", "device", "mode", "depth", "col_names",
                 "convention"):
        assert name in sig.parameters and sig.parameters[name].annotation is not inspect.Parameter.empty
    assert sig.parameters["dtypes"].kind is inspect.Parameter.KEYWORD_ONLY
    with pytest.raises(cnninspect.base.errors.UsageError, match="unknown column 'params_percent'"):
        cnninspect.summary(model, input_size=(1, 3, 16, 16), col_names=["params_percent"])
    with pytest.raises(cnninspect.base.errors.UsageError, match="disagree"):
        cnninspect.summary(model, input_size=(1, 3, 16, 16), depth=1, levels=2)


def test_cli_takes_several_inputs_dtypes_keywords_and_a_batch(tmp_path) -> None:
    path = tmp_path / "two.py"
    path.write_text(inspect.getsource(TwoInputs).join(["import torch\nfrom torch import nn\n\n\n", "\n"]))
    ref = f"{path}:TwoInputs"
    r = invoke("summary", ref, "--input", "3x16x16", "--input", "6:int64", "--input", "mask=6:float32",
               "--batch", "2", "--convention", "fvcore", "-f", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    torch.manual_seed(0)
    model = TwoInputs()
    expected = fvcore_total(model, (torch.randn(2, 3, 16, 16), torch.zeros(2, 6, dtype=torch.long), torch.ones(2, 6)))
    assert data["totals"]["mult_adds"] == expected and data["totals"]["batch"] == 2
    assert data["totals"]["mult_adds_per_sample"] * 2 == expected
    assert [i["name"] for i in data["settings"]["inputs"]] == ["image", "ids", "mask"]
    r = invoke("summary", ref, "--input", "3x16x16", "--input", "6:int64", "--convention", "torchinfo")
    assert r.exit_code == 0, r.stderr
    theirs = torchinfo_stats(model, input_size=[(1, 3, 16, 16), (1, 6)], dtypes=[torch.float, torch.long])
    assert f"{theirs.total_mult_adds:,}" in r.stdout
    for args, message in ((("--input", "6:int65"), "unknown dtype 'int65'"),
                          (("--input", "mask=6", "--input", "3x16x16"), "positional inputs come before keyword"),
                          (("--input", "2x=6"), "a keyword input is NAME=SHAPE"),
                          (("--input", "3x16x16", "--mode", "fast"), "Invalid value for '--mode'")):
        r = invoke("summary", ref, *args)
        assert r.exit_code == 2 and message in r.stderr, r.stderr


def test_the_python_example_in_the_docs_prints_what_it_shows(capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import ROOT

    text = (ROOT / "docs" / "python-models.md").read_text(encoding="utf-8")
    block = text.split("<!-- python-example -->\n```python\n", 1)[1]
    code, rest = block.split("```\n", 1)
    shown = rest.split("```text\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "docs/python-models.md", "exec"), {})
    assert capsys.readouterr().out == shown
