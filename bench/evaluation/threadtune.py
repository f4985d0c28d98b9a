"""Choosing, while the grid trainer runs, between all of torch's threads and one.

No fixed thread count suits both a quiet and a busy machine. Measured on 2 cores (the paper's
MLP, nine grid points, ``benchmarks/perf_bench.py``): quiet, two threads train 1.4-1.6x faster
than one; next to two CPU-bound neighbours, two threads are up to twice as slow as one, because
every parallel region waits for a thread the scheduler has set aside. Nor does a wait policy
fix it: sleeping at once (``OMP_WAIT_POLICY=PASSIVE``) costs a futex wake-up per region and made
the D=80 baseline MLP 2.5x slower on the quiet machine; spinning (libgomp's default) is what
collapses under load. So the trainer measures: it alternates blocks of batches between the two
settings within a *probe* epoch, then trains on the faster one, and probes again every few
epochs or as soon as the chosen setting slows down (a neighbour started). Results do not depend
on the thread count (the kernels are deterministic in it; tested on the golden run), so
switching never changes a number.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

#: batches per block in a probe epoch (a few ms each: switching torch's threads costs ~µs)
BLOCK_BATCHES = 8


@dataclass
class ThreadChooser:
    """Which thread count to train each block of batches on, from the times it is given.

    Parameters
    ----------
    many : int
        torch's thread count (the usable CPUs, or the user's ``OMP_NUM_THREADS``); with 1 there
        is nothing to choose.
    adaptive : bool
        ``False`` keeps ``many`` throughout (``--threads`` given, or a GPU) and records nothing.
    reprobe_every : int
        Epochs between two probes while nothing changes.
    slack : float
        A chosen setting whose time per batch grows past ``slack`` times the time measured when
        it was chosen is probed again at the next epoch.
    prefer_many_below : float
        ``many`` is chosen only when its time per batch is below this fraction of one thread's
        (one thread leaves a core to the neighbours for a similar speed).
    """

    many: int
    adaptive: bool = True
    reprobe_every: int = 10
    slack: float = 1.3
    prefer_many_below: float = 0.9
    chosen: int = field(init=False)
    #: thread count chosen after each epoch (read by tests and the benchmark); empty when fixed
    history: list[int] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.chosen = self.many
        self._reference: float | None = None  # time per batch of ``chosen`` when chosen
        self._since_probe = 0
        self._probe_next = self.adaptive and self.many > 1  # the first epoch probes
        self._probe_times: dict[int, list[float]] = {}

    @property
    def probing(self) -> bool:
        """Whether the current epoch alternates blocks between the two settings."""
        return self._probe_next

    def threads_for_block(self, block: int) -> int:
        """The thread count for block ``block`` (of :data:`BLOCK_BATCHES` batches) of this epoch.

        A probe epoch spends its first block warming up on the current choice, then alternates."""
        if not self._probe_next or block == 0:
            return self.chosen
        return self.many if block % 2 else 1

    def record_block(self, threads: int, seconds: float, n_batches: int, block: int) -> None:
        """Time spent by one block (``n_batches`` batches) of a probe epoch."""
        if self._probe_next and block > 0 and n_batches > 0:
            self._probe_times.setdefault(threads, []).append(seconds / n_batches)

    def end_epoch(self, train_seconds: float, n_batches: int, changed_work: bool) -> None:
        """Decide the next epoch's setting.

        Parameters
        ----------
        train_seconds : float
            Seconds the epoch's training batches took (validation excluded).
        n_batches : int
            Batches in the epoch.
        changed_work : bool
            Whether the stack shrank after this epoch (grid points stopped): times per batch
            before and after are not comparable, so the reference is measured anew.
        """
        if not self.adaptive:
            return
        if self._probe_next:
            self._decide()
        elif self.many > 1:
            self._watch(train_seconds / max(1, n_batches))
        if changed_work:
            self._reference = None
        self.history.append(self.chosen)

    def _decide(self) -> None:
        """End of a probe epoch: keep the faster setting (``many`` only when clearly faster)."""
        many, one = self._probe_times.get(self.many, []), self._probe_times.get(1, [])
        if many and one:
            t_many, t_one = statistics.median(many), statistics.median(one)
            self.chosen = self.many if t_many < self.prefer_many_below * t_one else 1
            self._reference = t_many if self.chosen == self.many else t_one
        self._probe_times = {}
        self._probe_next = False
        self._since_probe = 0

    def _watch(self, per_batch: float) -> None:
        """End of an ordinary epoch: probe next if the choice slowed down or is old."""
        self._since_probe += 1
        if self._reference is None:
            self._reference = per_batch
        elif per_batch > self.slack * self._reference or self._since_probe >= self.reprobe_every:
            self._probe_next = True
