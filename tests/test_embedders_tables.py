"""The families' tables are the single source: registry, specs, networks, weights list, analysis.

Every registry name is a table row and is built as the row says; the dims, rates, windows and
hops in the tables are the ones the built embedders report and (on weight files written in the
official formats by the tests) the ones their networks output; `bench weights list` lists the
tables' files; the analysis reads its factor levels from the rows.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from bench import embedders
from bench.analysis import factors
from bench.embedders import (baseline_meta, catalog, l3_frontend, l3_keras, l3_meta,
                             soundnet_files, soundnet_meta, vggish_meta)
from bench.embedders.l3 import L3Embedder
from bench.embedders.soundnet import SoundNetEmbedder
from bench.embedders.vggish import VGGishEmbedder
from bench.errors import ConfigError
from embedder_fixtures import sound8_arrays, write_sound8, write_vggish_files

ROWS = catalog.rows()


def test_every_registry_name_is_one_table_row_built_as_declared():
    names = embedders.names()
    assert names == [r.name for r in ROWS]  # registry order is table order
    assert len(set(names)) == len(names)
    for family in catalog.FAMILIES:
        assert family.rows and all(r.family == family.name for r in family.rows)
    for row in ROWS:
        entry = embedders.REGISTRY.entry(row.name)
        assert (entry.target, entry.kwargs, entry.summary) == (row.target, dict(row.kwargs),
                                                               row.summary)
    # the paper's design: every 6144-d L3 variant, VGGish (post-processed) and SoundNet
    assert catalog.paper_embedders() == (
        "l3-linear-music", "l3-linear-env", "l3-m128-music", "l3-m128-env", "l3-m256-music",
        "l3-m256-env", "vggish", "soundnet")


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_built_spec_is_the_row(row):
    spec = embedders.create(row.name, download=False).spec
    assert (spec.name, spec.dim, spec.sample_rate, spec.window_s, spec.hop_s) == \
        (row.name, row.dim, row.sample_rate, row.window_s, row.hop_s)
    assert spec.weights_url == (row.files[0].url if row.files else None)


def test_table_values_agree_with_the_network_code():
    # L3: 48 kHz frontend, a final pool for every (representation, size) the table declares
    assert l3_meta.SAMPLE_RATE == l3_frontend.SR
    for row in l3_meta.FAMILY.rows:
        assert row.input_repr in l3_frontend.REPRS
        assert row.dim in l3_keras.POOL_SIZES[row.input_repr]
        assert [f.model for f in row.files] == [f"{row.input_repr}/{row.content}"] * 2
    # SoundNet: a layer's dim is its channels, its hop the receptive field's jump
    for row in soundnet_meta.FAMILY.rows:
        assert row.dim == soundnet_files.channels(row.layer)
        jump, _, _ = soundnet_files.receptive_field(row.layer)
        assert row.hop_s == jump / row.sample_rate
    # VGGish: 96 log-mel hops of 10 ms plus one 25 ms window at 16 kHz
    for row in vggish_meta.FAMILY.rows:
        assert row.window_s * row.sample_rate == 95 * 160 + 400
    # one checker per format, so a copy's format is decided the same way for every family
    checkers: dict[str, str] = {}
    for f in (f for fam in catalog.FAMILIES for f in fam.files()):
        assert checkers.setdefault(f.kind, f.checker) == f.checker


def test_built_directly_by_their_options_embedders_find_their_rows():
    assert L3Embedder(input_repr="mel128", content_type="env", dim=512).meta.name == \
        "l3-m128-env-512"
    assert VGGishEmbedder(postprocess=False).meta.name == "vggish-raw"
    assert SoundNetEmbedder(layer="conv6").spec.name == "soundnet-conv6"
    assert SoundNetEmbedder(name="soundnet").layer == "conv6"
    with pytest.raises(ConfigError, match="input_repr must be one of"):
        L3Embedder(input_repr="mel64")
    with pytest.raises(ConfigError, match="SoundNet layer must be one of"):
        SoundNetEmbedder(layer="conv8")


def _build(row, **files):
    """The row's embedder, as the registry builds it, with test-made weight files."""
    cls, kwargs = embedders.REGISTRY.resolve(row.name)
    return cls(**kwargs, **files, download=False)


def test_dims_equal_what_the_networks_output_on_test_made_weights(tmp_path):
    # L3's twelve networks are run on a test-made file by test_embedders_l3 (dims from the rows)
    rng = np.random.default_rng(0)
    state_path, pca_path, _, _ = write_vggish_files(tmp_path)
    for row in vggish_meta.FAMILY.rows:
        e = _build(row, weights_path=state_path, pca_path=pca_path)
        with pytest.warns(UserWarning, match="not the official"):
            e.prepare()
        windows = rng.uniform(-0.5, 0.5, (2, round(row.window_s * row.sample_rate)))
        assert e.embed_windows(windows.astype(np.float32)).shape == (2, row.dim)
    sound8 = write_sound8(tmp_path / "sound8-test.npy", sound8_arrays(3))
    clip = rng.uniform(-0.5, 0.5, 3 * soundnet_meta.SAMPLE_RATE).astype(np.float32)
    for row in soundnet_meta.FAMILY.rows:
        e = _build(row, weights_path=sound8)
        with pytest.warns(UserWarning, match="not the official"):
            e.prepare()
        emb, times = e.embed_sequence(clip)
        assert emb.shape[1] == row.dim and len(times) == len(emb) > 1
        assert np.diff(times) == pytest.approx(row.hop_s)
    for row in baseline_meta.FAMILY.rows:
        e = embedders.create(row.name)
        windows = rng.uniform(-0.5, 0.5, (3, round(row.window_s * row.sample_rate)))
        assert e.embed_windows(windows.astype(np.float32)).shape == (3, row.dim)


def test_weights_list_is_the_tables_files(tmp_path):
    from bench.cli import main

    res = CliRunner().invoke(main, ["weights", "list", "--json", "--weights-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    listed = json.loads(res.output)
    want = [(r.name, r.dim, r.sample_rate, f.slot, f.filename, f.url)
            for r in catalog.with_weights() for f in r.files
            if f == next(g for g in r.files if g.slot == f.slot)]  # the preferred file per slot
    assert [(x["name"], x["dim"], x["sample_rate"], x["slot"], x["file"], x["url"])
            for x in listed] == want
    assert {x["name"] for x in listed} == {r.name for r in ROWS if r.files}
    assert not any(x["present"] for x in listed)


def test_analysis_reads_its_factors_from_the_tables():
    rows = l3_meta.FAMILY.rows
    assert set(factors.L3_FACTORS["representation"].levels) == {r.input_repr for r in rows}
    assert set(factors.L3_FACTORS["subset"].levels) == {r.content for r in rows}
    assert set(factors.L3_FACTORS["dim"].levels) == {r.dim for r in rows}
    assert catalog.find(factors.PAPER_L3_VARIANT).family == factors.L3
    assert set(factors.FAMILY_ORDER) <= {f.name for f in catalog.FAMILIES}
    for row in ROWS:
        d = factors.parse_embedder(row.name)
        assert (d.family, d.representation, d.subset, d.dim) == \
            (row.family, row.input_repr, row.content, row.dim)
    # only table rows have factors: a name that merely looks like one is an embedding of its own
    for name in ("l3-m256-music-6144", "mypkg.mod:L3", "vggish-mine"):
        assert factors.parse_embedder(name).family == "other"
    assert factors.parse_embedder("l3-m128-env-512").level("representation") == "mel128"
    assert factors.parse_embedder("vggish").level("dim") is None


def test_reading_the_tables_loads_no_numpy():
    code = ("import sys\nimport bench.embedders, bench.analysis.factors\n"
            "from bench.embedders import catalog\ncatalog.rows()\n"
            "print('numpy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
