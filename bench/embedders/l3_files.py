"""Which OpenL3 file a copy is, for ``bench weights import``.

The two releases of each model hold the same network weights; only ``v0_2_0`` carries the kapre
frontend layer, so a checked copy's release is read from its content, and a frontend layer must
fit the model's input representation. A copy whose name is that of another OpenL3 model is
refused unless forced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from bench.embedders import l3_meta
from bench.embedders.l3_frontend import check_frontend
from bench.embedders.weights.files import WeightsFile
from bench.errors import WeightsError


def named_model(filename: str) -> str | None:
    """The model (``mel256/music``) a file's name says it holds, when it carries the name of a
    published OpenL3 file (its part before the release); else ``None``."""
    for f in l3_meta.FAMILY.files():
        if f.filename.split("-", 1)[0] in filename:
            return f.model
    return None


def pick_release(name: str, alternatives: Sequence[WeightsFile], info: dict[str, Any],
                 source: Path, force: bool) -> WeightsFile:
    """The alternative a checked copy (``info`` from :func:`bench.embedders.l3_keras.check_file`)
    of ``source`` is, for embedder ``name``."""
    want = alternatives[0].model
    named = named_model(Path(source).name)
    if named is not None and named != want and not force:
        raise WeightsError(f"{Path(source).name} is the OpenL3 {named} model, but {name} is {want}",
                           hint="import it for the matching name, or pass --force")
    front = info.get("frontend")
    f = next(f for f in alternatives if l3_meta.RELEASES[f.version] == bool(front))
    if front:
        rep = l3_meta.FAMILY.row(name).input_repr
        assert rep is not None
        check_frontend(rep, front["n_dft"], front["n_mels"], source=str(source))
    return f
