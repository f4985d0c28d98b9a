"""VGGish (torchvggish v0.1 release files): the family's table.

``vggish`` is the paper's output (PCA-whitened, clipped and 8-bit quantised, which needs the
PCA file too); ``vggish-raw`` is the 128-d embedding layer before PCA. Windows of 0.975 s
(15600 samples at 16 kHz: 96 log-mel frames of 10 ms plus one 25 ms window) every 0.1 s (see
:mod:`bench.embedders.vggish`). The published file names carry a prefix of their sha256.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.embedders.meta import EmbedderMeta, Family
from bench.embedders.weights.files import WeightsFile

BASE_URL = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/"
SAMPLE_RATE = 16000
WINDOW_SAMPLES = 15600

NETWORK = WeightsFile(
    key="vggish", filename="vggish-10086976.pth", url=BASE_URL + "vggish-10086976.pth",
    sha256="10086976", slot="network", kind="vggish-state",
    checker="bench.embedders.vggish_files:check_state_file")
PCA = WeightsFile(
    key="vggish-pca", filename="vggish_pca_params-970ea276.pth",
    url=BASE_URL + "vggish_pca_params-970ea276.pth", sha256="970ea276", slot="pca",
    kind="vggish-pca", checker="bench.embedders.vggish_files:check_pca_file")


@dataclass(frozen=True)
class VGGishMeta(EmbedderMeta):
    """A VGGish row: whether the output is post-processed as the AudioSet release did."""

    postprocess: bool = True


def _vggish_row(name: str, postprocess: bool, summary: str) -> VGGishMeta:
    return VGGishMeta(
        name=name, family="vggish", target="bench.embedders.vggish:VGGishEmbedder",
        summary=summary, dim=128, sample_rate=SAMPLE_RATE, window_s=WINDOW_SAMPLES / SAMPLE_RATE,
        hop_s=0.1, files=(NETWORK, PCA) if postprocess else (NETWORK,), paper=postprocess,
        kwargs=(("name", name),), postprocess=postprocess)


FAMILY = Family("vggish", "VGGish", (
    _vggish_row("vggish", True, "VGGish 128-d, PCA-whitened and 8-bit quantised as in the paper"),
    _vggish_row("vggish-raw", False, "VGGish 128-d embedding layer before PCA"),
))


def by_output(postprocess: bool) -> VGGishMeta:
    """The row with this output."""
    return next(r for r in FAMILY.rows if isinstance(r, VGGishMeta)
                and r.postprocess == bool(postprocess))
