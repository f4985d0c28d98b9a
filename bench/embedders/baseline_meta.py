"""The non-learned baselines (``mfcc``, ``lowlevel``): the family's table.

Both read 1 s windows at 16 kHz every 0.1 s, as L3 does, and need no weights
(:mod:`bench.embedders.mfcc`).
"""

from __future__ import annotations

from bench.embedders.meta import EmbedderMeta, Family

SAMPLE_RATE = 16000

FAMILY = Family("baseline", "non-learned baselines", (
    EmbedderMeta(name="mfcc", family="baseline", target="bench.embedders.mfcc:MFCCEmbedder",
                 summary="MFCC statistics per 1 s window (non-learned baseline, no weights)",
                 dim=80, sample_rate=SAMPLE_RATE, window_s=1.0, hop_s=0.1),
    EmbedderMeta(name="lowlevel", family="baseline",
                 target="bench.embedders.mfcc:LowLevelEmbedder",
                 summary="six low-level descriptors per 1 s window (a deliberately weak baseline)",
                 dim=12, sample_rate=SAMPLE_RATE, window_s=1.0, hop_s=0.1),
))
