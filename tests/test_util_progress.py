"""Status lines go with the progress bars: on stderr, and silenced with them."""

from __future__ import annotations

from bench.util.progress import note


def test_note_goes_to_stderr_and_is_silenced_with_the_bars(capsys, monkeypatch):
    monkeypatch.setenv("BENCH_PROGRESS", "1")
    note("fetching weights", enabled_=True)
    out = capsys.readouterr()
    assert out.err == "fetching weights\n" and out.out == ""
    note("fetching weights", enabled_=False)
    monkeypatch.setenv("BENCH_PROGRESS", "0")
    note("fetching weights", enabled_=True)
    assert capsys.readouterr().err == ""
