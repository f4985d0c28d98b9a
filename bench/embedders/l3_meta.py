"""L3-Net (OpenL3) audio: the family's table.

Twelve registry names, one network: ``l3-{linear,m128,m256}-{music,env}`` give 6144-d embeddings
and the same names with ``-512`` give 512-d ones (another final max-pool). Windows of 1 s at
48 kHz every 0.1 s. The weights are the official OpenL3 Keras files, one per (input
representation, training subset): release ``v0_4_0`` (preferred) holds the same network weights
as ``v0_2_0`` without the kapre frontend layer. OpenL3 publishes no checksum, so a copy is
checked by its structure and the sha256 of the file actually used is what results record.

The paper's design factors are declared per row: input representation, training subset
(AudioSet music or environmental videos) and embedding size.
"""

from __future__ import annotations

from bench.embedders.meta import EmbedderMeta, Family
from bench.embedders.weights.files import WeightsFile
from bench.errors import ConfigError

BASE_URL = "https://github.com/marl/openl3/raw/models/"
SAMPLE_RATE = 48000
#: input representation -> the short form in registry names
REPRESENTATIONS = {"linear": "linear", "mel128": "m128", "mel256": "m256"}
CONTENTS = ("music", "env")
#: embedding size -> registry-name suffix
SIZES = {6144: "", 512: "-512"}
#: release -> whether its files carry the kapre frontend layer; in order of preference
RELEASES = {"v0_4_0": False, "v0_2_0": True}


def _files(rep: str, content: str) -> tuple[WeightsFile, ...]:
    out = []
    for version in RELEASES:
        fn = f"openl3_audio_{rep}_{content}-{version}.h5.gz"
        out.append(WeightsFile(
            key=f"openl3-{rep}-{content}-{version}", filename=fn, url=BASE_URL + fn, sha256=None,
            slot="network", kind="openl3-h5", checker="bench.embedders.l3_keras:check_file",
            version=version, model=f"{rep}/{content}",
            picker="bench.embedders.l3_files:pick_release"))
    return tuple(out)


def _rows() -> tuple[EmbedderMeta, ...]:
    rows = []
    for rep, short in REPRESENTATIONS.items():
        for content in CONTENTS:
            files = _files(rep, content)
            for dim, suffix in SIZES.items():
                name = f"l3-{short}-{content}{suffix}"
                rows.append(EmbedderMeta(
                    name=name, family="l3", target="bench.embedders.l3:L3Embedder",
                    summary=f"L3-Net audio ({rep}, trained on {content}), {dim}-d, 1 s windows "
                            f"at 48 kHz",
                    dim=dim, sample_rate=SAMPLE_RATE, window_s=1.0, hop_s=0.1, files=files,
                    input_repr=rep, content=content, paper=dim == 6144,
                    kwargs=(("name", name),)))
    return tuple(rows)


FAMILY = Family("l3", "L3-Net (OpenL3) audio", _rows())


def by_factors(input_repr: str, content: str, dim: int) -> EmbedderMeta:
    """The row of the model with these design factors."""
    if input_repr not in REPRESENTATIONS:
        raise ConfigError(f"input_repr must be one of {sorted(REPRESENTATIONS)}, found "
                          f"{input_repr!r}")
    if content not in CONTENTS:
        raise ConfigError(f"content_type must be 'music' or 'env', found {content!r}")
    if dim not in SIZES:
        raise ConfigError(f"dim must be 6144 or 512, found {dim!r}")
    return next(r for r in FAMILY.rows
                if (r.input_repr, r.content, r.dim) == (input_repr, content, dim))
