"""A model of two inputs and a keyword input: an image and the token ids of a caption,
with an optional padding mask, scored together (docs/python-models.md).

    cnninspect summary docs/examples/captioner.py:Captioner \
        --input 3x64x64 --input 12:int64 --input mask=12:bool --batch 8
"""

import torch
from torch import nn


class Captioner(nn.Module):
    def __init__(self, vocab: int = 1000, dim: int = 64) -> None:
        super().__init__()
        self.image = nn.Sequential(
            nn.Conv2d(3, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, dim, 3, stride=2, padding=1), nn.BatchNorm2d(dim), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.embed = nn.Embedding(vocab, dim)
        self.text = nn.GRU(dim, dim, batch_first=True)
        self.score = nn.Linear(2 * dim, 1)

    def forward(self, image: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        words, _ = self.text(self.embed(ids))
        if mask is not None:
            words = words * mask.unsqueeze(-1)
        return self.score(torch.cat([self.image(image), words.mean(1)], 1))
