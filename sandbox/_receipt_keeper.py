"""The client's side of receipts: keep every signed receipt a live server hands out, one file each.

A client that keeps its receipts can later prove what the server acknowledged, whatever
becomes of the server's database: ``flagship verify --trial ID --receipts DIR`` checks each
one against the trial's log (see :mod:`flagship.telemetry._receipts`).
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import orjson

from flagship.telemetry._receipts import RECEIPT_HEADER, Receipt

__all__ = ["ReceiptKeeper"]


class ReceiptKeeper:
    """Stores the ``Flagship-Receipt`` of responses in ``directory`` as ``<trial>-<seq>.json``.

    Use it as an ``httpx.Client`` response hook (``event_hooks={"response": [keeper]}``), or
    call :meth:`keep` with any response (an ``httpx.AsyncClient``'s too). A receipt for a seq
    already kept replaces it (a replayed request's receipt names the same entry). Each file
    is written whole, then renamed into place, so a crash never leaves half a receipt.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def keep(self, response: httpx.Response) -> Receipt | None:
        """Store the response's receipt, if it has one; returns it. ValueError if it is malformed."""
        value = response.headers.get(RECEIPT_HEADER)
        if value is None:
            return None
        receipt = Receipt.from_header(value)
        path = self.directory / f"{receipt.trial}-{receipt.seq:012d}.json"
        partial = path.with_suffix(".part")
        partial.write_bytes(orjson.dumps(receipt.to_json()))
        os.replace(partial, path)
        return receipt

    def __call__(self, response: httpx.Response) -> None:
        """An ``httpx.Client`` response event hook."""
        self.keep(response)
