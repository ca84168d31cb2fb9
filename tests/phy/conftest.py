"""PHY tests run torch single-threaded.

Sionna's BP decoder issues thousands of small ops; on a shared, oversubscribed 2-core machine
intra-op threading makes them up to 10x slower (threads wait on each other), so each test here pins
torch to one thread and restores the previous setting afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
