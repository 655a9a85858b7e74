"""A progress bar of rows for multi-page pulls (tqdm: a widget in Jupyter, text elsewhere)."""

from __future__ import annotations

from typing import Any

__all__ = ["RowProgress"]


class RowProgress:
    """Rows fetched so far out of ``total`` (if known); a no-op when not ``enabled``.

    A pull that ends normally ends the bar as finished (green in Jupyter), also when the
    data ran out before ``total``; only a pull stopped by an error or an interrupt leaves
    it unfinished.
    """

    def __init__(self, label: str, *, total: int | None = None, enabled: bool = True) -> None:
        self._bar: Any = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=label[:60], unit=" rows", leave=False)

    def update(self, rows: int) -> None:
        """Set the count of rows fetched so far."""
        bar = self._bar
        if bar is not None and rows != bar.n:
            bar.update(rows - bar.n)

    def set_total(self, total: int | None) -> None:
        """Change the expected total (e.g. to the server's count, once known)."""
        bar = self._bar
        if bar is not None and total is not None and total != bar.total:
            rows = bar.n
            bar.reset(total=total)  # (unlike setting .total, this resizes a notebook bar too)
            bar.update(rows)

    def close(self, *, finished: bool) -> None:
        bar, self._bar = self._bar, None
        if bar is None:
            return
        if finished and bar.total is not None and bar.n < bar.total:
            self._bar = bar
            self.set_total(bar.n)  # the data ended early: that is a finished pull, not a failure
            self._bar = None
        bar.close()
