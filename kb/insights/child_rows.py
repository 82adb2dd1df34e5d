"""Rows that belong to postmortems, kept as numpy columns (the snapshot's action items,
services and theme memberships)."""

import numpy as np


class Children:
    """Rows that belong to postmortems (action items, services, theme memberships).

    Stored as columns; the rows of one postmortem are appended together, so replacing them
    marks the old range dead (owner -1) and appends the new rows. Dead rows are dropped when
    they outnumber the live ones.
    """

    def __init__(self, **dtypes):
        self.dtypes = {"owner": np.int32, **dtypes}
        self.columns = {name: np.empty(0, dtype) for name, dtype in self.dtypes.items()}
        self.span = {}  # slot -> (start, stop)
        self.dead = 0

    def __len__(self):
        return len(self.columns["owner"])

    def drop(self, slots):
        """Mark the rows of these slots dead."""
        owner = self.columns["owner"]
        for slot in slots:
            start, stop = self.span.pop(slot, (0, 0))
            owner[start:stop] = -1
            self.dead += stop - start

    def append(self, owners, **values):
        """Append rows; `owners` lists each row's slot, each slot's rows next to each other
        and for slots whose old rows were dropped."""
        if not owners:
            return
        base = len(self)
        new = {"owner": np.asarray(owners, dtype=np.int32)}
        new.update(
            {
                name: np.asarray(values[name], dtype=t)
                for name, t in self.dtypes.items()
                if name != "owner"
            }
        )
        for name, column in new.items():
            self.columns[name] = np.concatenate([self.columns[name], column])
        self._index(new["owner"], base)
        if self.dead > max(1000, len(self) // 2):
            self._compact()

    def live(self):
        """A mask of the rows that are not dead."""
        return self.columns["owner"] >= 0

    def _index(self, owners, base):
        if not len(owners):
            return
        starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        stops = np.r_[starts[1:], len(owners)]
        for slot, start, stop in zip(
            owners[starts].tolist(), starts.tolist(), stops.tolist(), strict=True
        ):
            if slot >= 0:
                self.span[slot] = (base + start, base + stop)

    def _compact(self):
        keep = self.live()
        self.columns = {name: column[keep] for name, column in self.columns.items()}
        self.span, self.dead = {}, 0
        self._index(self.columns["owner"], 0)
