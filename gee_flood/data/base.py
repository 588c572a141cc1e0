"""The dataset interface every reader implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

from gee_flood.data.chip import Chip, ModalitySpec
from gee_flood.errors import DataError


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


class ChipListDataset(ChipDataset):
    """A :class:`ChipDataset` over chips already in memory (tests, synthetic scenes).

    Args:
        chips: The chips (all with the same modalities).
        name: Dataset name.
    """

    def __init__(self, chips: Sequence[Chip], name: str = "memory") -> None:
        if not chips:
            raise DataError(f"dataset {name!r} has no chips")
        self._chips = list(chips)
        self.name = name
        self.modalities = dict(self._chips[0].specs)

    def __len__(self) -> int:
        return len(self._chips)

    def chip_ids(self) -> list[str]:
        """Return chip ids in index order."""
        return [chip.chip_id for chip in self._chips]

    def __getitem__(self, index: int) -> Chip:
        return self._chips[index]
