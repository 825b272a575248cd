"""Meter and downbeat from the accents on the beats: bars of 3 or 4, and which beat starts them.

The tracker hands in, for every beat it passes, the accent there: the rise of
the low bands (kick, bass: odf.BandFlux's second value) around the beat.
Music marks its bars with them: a waltz's bass on 1 and chords on 2 and 3, a
rock beat's kick on 1 and 3, a samba's surdo on the second beat of its bar.
Folding the last `beats` accents by 3 and by 4, the bar length whose beat
positions differ most (the share of the accents' variance explained by the
position in the bar, above what chance gives for that many positions) is the
meter; its strongest position is the downbeat. 4 until the audio says
otherwise, and a change needs a clear margin held over a few bars. This is
the classic accent-periodicity approach to meter (Gouyon & Herrera 2003,
Klapuri, Eronen & Astola 2006) reduced to what runs per beat in microseconds.
"""

from __future__ import annotations

import numpy as np

METERS = (3, 4)


class Meter:
    """Beats in (index, accent), (beats per bar, downbeat index mod that) out. Render thread; one caller."""

    def __init__(self, beats: int = 24, margin: float = 0.12, ease: float = 0.25):
        self._n = beats  # a multiple of 3 and 4: every position is seen equally often
        self._margin = margin
        self._ease = ease
        self.reset()

    def reset(self) -> None:
        self._accents: dict[int, float] = {}
        self._vote = 0.0  # > 0: the accents say 3, < 0: 4 (eased)
        self.beats_per_bar = 4
        self.downbeat = 0

    def add(self, index: int, accent: float) -> None:
        """The accent at beat number `index` (indices increase; beats missing in between do not count)."""
        self._accents[index] = accent
        for old in [i for i in self._accents if i <= index - self._n]:
            del self._accents[old]
        if len(self._accents) < 8:  # two bars of 4
            return
        idx = np.fromiter(self._accents.keys(), int)
        a = np.fromiter(self._accents.values(), float)
        total = float(np.sum((a - a.mean()) ** 2))
        if total <= 1e-12:
            return
        fit = {}
        for p in METERS:
            slots = [a[idx % p == s] for s in range(p)]
            if min(len(x) for x in slots) == 0:
                return
            means = np.array([x.mean() for x in slots])
            explained = float(sum(len(x) * (m - a.mean()) ** 2 for x, m in zip(slots, means))) / total
            fit[p] = (explained - (p - 1) / (len(a) - 1), means)  # above chance for p positions
        self._vote += self._ease * ((fit[3][0] - fit[4][0]) - self._vote)
        if self._vote > self._margin:
            self.beats_per_bar = 3
        elif self._vote < 0.0:
            self.beats_per_bar = 4
        means = fit[self.beats_per_bar][1]
        strongest = int(np.argmax(means))
        others = (means.sum() - means[strongest]) / (len(means) - 1)
        if means[strongest] > 1.05 * others:
            self.downbeat = strongest
