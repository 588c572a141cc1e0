"""The dataset interface every reader implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

from gee_flood.data.chip import Chip, ModalitySpec


class ChipDataset(ABC):
    """A sequence of :class:`~gee_flood.data.chip.Chip` with declared modalities.

    A map-style dataset as ``torch.utils.data.DataLoader`` expects (``__len__`` + ``__getitem__``), kept free of a
    torch import so that data-only commands (download, fetch, evaluate with Otsu) start quickly.

    Subclasses set :attr:`name` and :attr:`modalities` (what every chip carries, by name) and implement
    :meth:`__len__`, :meth:`chip_ids` and :meth:`__getitem__`.
    """

    #: Short dataset name (``"sen1floods11"``, ``"ombria"``...).
    name: str = "dataset"
    #: Modalities each chip carries, by name, with their band names and units.
    modalities: dict[str, ModalitySpec]

    @abstractmethod
    def __len__(self) -> int:
        """Return the number of chips."""

    @abstractmethod
    def chip_ids(self) -> list[str]:
        """Return chip ids in index order."""

    @abstractmethod
    def __getitem__(self, index: int) -> Chip:
        """Read chip ``index``."""

    def __iter__(self) -> Iterator[Chip]:
        for index in range(len(self)):
            yield self[index]
