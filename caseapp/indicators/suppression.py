"""Small-cell suppression for the anonymized statistics tables that leave the system (DESIGN §5).

A table is a grid of non-negative integer counts in which some cells are totals of other cells:
the total column of every row, the subtotal rows of a group of rows (communes → former district →
province). A count of one to four people in a commune can point at a person, so such a cell is not
published.

**Primary suppression.** Every cell whose value is 1 .. threshold-1 (threshold 5 by default) is
hidden. A zero is published: it points at nobody.

**Secondary (complementary) suppression.** Hiding the small cells alone is not enough, because the
totals give them away: if a row reads ``7, ?, 5 | 15``, the hidden cell is 3. So more cells are
hidden until no hidden cell can be worked out again from what is published:

1. A quick rule first. Whenever a relation (total = sum of parts) has exactly one hidden member,
   one more of its published members is hidden: the one with the smallest value, so as little
   information as possible is lost, a part rather than the total on a tie, then the first in
   table order (the result is deterministic). A non-zero cell is preferred to a zero: a hidden zero
   protects little (with ``2 + 0`` hidden next to a published total, a reader still learns that
   the small cell is at most 2), and a group of hidden zeros whose published total is 0 are known
   to be zeros. The rule is repeated until nothing changes.
2. An exact check. The rule only looks at one relation at a time; several relations together can
   still pin a hidden cell down (a district that has a single commune repeats that commune's row,
   and so on). So the relations are written as a linear system, ``total - sum(parts) = 0``, with the
   published values as constants and the hidden cells as unknowns. A hidden cell can be recovered
   exactly if and only if its unit vector lies in the row space of the system's coefficients, i.e.
   in the fully reduced row echelon form its variable stands alone in a row. The elimination is
   exact: integers modulo the prime 2**61 - 1 (the coefficients are only 0, 1 and -1). The check
   also applies the simplest consequence of counts never being negative: when the hidden parts of a
   relation add up to a known 0, they are all 0. Whenever a hidden cell is recoverable, one more
   published member of a relation it takes part in (the smallest, as above) is hidden, and steps 1
   and 2 start again. Each round hides at least one more cell, so this ends; at worst whole
   relations end up hidden.

The check proves that no hidden cell can be recomputed exactly; it does not guarantee a wide range
for each hidden cell (a reader who also uses the fact that counts are not negative may narrow some
of them down to an interval). The true values stay in :class:`Suppressed` for the caller; only
:meth:`Suppressed.shown` values may be published.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

CellKey = tuple[Hashable, Hashable]  # (row key, column key)
# The value mappings may be keyed more narrowly, e.g. dict[tuple[str, str], int] (a Mapping is
# invariant in its keys, so a plain Mapping[CellKey, int] parameter would refuse those).
_Key = TypeVar("_Key", bound=CellKey)
_Row = TypeVar("_Row", bound=Hashable)

DEFAULT_THRESHOLD = 5
_PRIME = 2**61 - 1  # exact elimination modulo a Mersenne prime; coefficients are 0, 1 and -1


@dataclass(frozen=True)
class Relation:
    """``total`` equals the sum of ``parts``."""

    total: CellKey
    parts: tuple[CellKey, ...]


@dataclass(frozen=True)
class Suppressed:
    """The outcome of :func:`suppress`: the true values and the cells that must not be published."""

    values: Mapping[CellKey, int]  # the true values (kept, never published)
    hidden: frozenset[CellKey]  # primary | secondary
    primary: frozenset[CellKey]

    @property
    def secondary(self) -> frozenset[CellKey]:
        """The cells hidden only to protect the primary ones."""
        return self.hidden - self.primary

    def shown(self, key: CellKey) -> int | None:
        """The value to publish for ``key``, or None when the cell is hidden."""
        value = self.values[key]
        return None if key in self.hidden else value


class _Table:
    """The cells numbered in table order and the relations as sparse equations over them."""

    def __init__(self, values: Mapping[_Key, int], relations: Sequence[Relation]) -> None:
        self.keys: list[CellKey] = []
        self.values: list[int] = []
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"cell {key!r}: {value!r} is not an integer count")
            if value < 0:
                raise ValueError(f"cell {key!r}: {value} is negative")
            self.keys.append(key)
            self.values.append(value)
        self.index: dict[CellKey, int] = {key: i for i, key in enumerate(self.keys)}
        # Each equation: cell number → coefficient (+1 for the total, -1 for every part).
        self.equations: list[dict[int, int]] = []
        self.relations_of: list[list[int]] = [[] for _ in self.keys]
        for relation in relations:
            if not relation.parts:
                raise ValueError(f"relation for {relation.total!r} has no parts")
            total = self._number(relation.total)
            parts = [self._number(part) for part in relation.parts]
            part_sum = sum(self.values[part] for part in parts)
            if self.values[total] != part_sum:
                raise ValueError(
                    f"relation does not hold: {relation.total!r} is {self.values[total]}, "
                    f"its parts add up to {part_sum}"
                )
            equation: dict[int, int] = {total: 1}
            for part in parts:
                equation[part] = equation.get(part, 0) - 1
            equation = {cell: c for cell, c in equation.items() if c}
            if not equation:
                continue
            number = len(self.equations)
            self.equations.append(equation)
            for cell in equation:
                self.relations_of[cell].append(number)

    def _number(self, key: CellKey) -> int:
        try:
            return self.index[key]
        except KeyError:
            raise ValueError(f"relation refers to {key!r}, which has no value") from None

    def rank(self, cell: int, equation: Mapping[int, int]) -> tuple[bool, int, bool, int]:
        """Order of preference for a complement: non-zero, smallest, a part, first in order."""
        value = self.values[cell]
        return (value == 0, value, equation[cell] > 0, cell)


def _check_threshold(threshold: int) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise ValueError(f"threshold must be an integer >= 1, not {threshold!r}")


def _linearly_determined(equations: Iterable[Mapping[int, int]], unknown: set[int]) -> set[int]:
    """The unknowns whose unit vector lies in the row space of the equations (restricted to the
    unknowns): Gauss-Jordan elimination modulo a large prime on sparse rows. ``holders`` indexes
    the pivot rows by the cells they hold, so a new pivot is cleared from the rows holding its
    column only (not from every row: a national table has thousands)."""
    pivots: dict[int, dict[int, int]] = {}  # pivot column → its row (1 at the pivot)
    holders: dict[int, set[int]] = {}  # cell → the pivot columns whose row holds it
    for equation in equations:
        row = {cell: c % _PRIME for cell, c in equation.items() if cell in unknown}
        if not row:
            continue
        # A pivot row holds no other pivot column, so one pass clears them all from the new row.
        for column in [cell for cell in row if cell in pivots]:
            factor = row[column]
            for cell, c in pivots[column].items():
                updated = (row.get(cell, 0) - factor * c) % _PRIME
                if updated:
                    row[cell] = updated
                else:
                    row.pop(cell, None)
        if not row:
            continue
        column = min(row)
        inverse = pow(row[column], -1, _PRIME)
        if inverse != 1:
            row = {cell: c * inverse % _PRIME for cell, c in row.items()}
        for pivot in list(holders.get(column, ())):
            other = pivots[pivot]
            factor = other[column]
            for cell, c in row.items():
                updated = (other.get(cell, 0) - factor * c) % _PRIME
                if updated:
                    if cell not in other:
                        holders.setdefault(cell, set()).add(pivot)
                    other[cell] = updated
                elif cell in other:
                    del other[cell]
                    holders[cell].discard(pivot)
        pivots[column] = row
        for cell in row:
            holders.setdefault(cell, set()).add(column)
    return {column for column, row in pivots.items() if len(row) == 1}


def _recoverable(table: _Table, hidden: Collection[int]) -> set[int]:
    """The hidden cells a reader can work out exactly from the published ones."""
    found: set[int] = set()
    while True:
        unknown = {cell for cell in hidden if cell not in found}
        # Counts are not negative: hidden parts (same sign) adding up to a known 0 are all 0.
        zeros: set[int] = set()
        for equation in table.equations:
            cells = [cell for cell in equation if cell in unknown]
            if not cells or len({equation[cell] > 0 for cell in cells}) != 1:
                continue
            known = sum(
                c * table.values[cell] for cell, c in equation.items() if cell not in unknown
            )
            if known == 0:
                zeros.update(cells)
        if zeros:
            found |= zeros
            continue
        determined = _linearly_determined(table.equations, unknown)
        if not determined:
            return found
        found |= determined


def _add_complements(table: _Table, hidden: set[int]) -> None:
    """Step 1: while a relation has exactly one hidden member, hide its best published member."""
    changed = True
    while changed:
        changed = False
        for equation in table.equations:
            if sum(1 for cell in equation if cell in hidden) != 1:
                continue
            published = [cell for cell in equation if cell not in hidden]
            if published:
                hidden.add(min(published, key=lambda cell: table.rank(cell, equation)))
                changed = True


def _complement_for(table: _Table, hidden: set[int], cell: int) -> int | None:
    """The published member to hide for a recoverable ``cell``: the best one in its relations, or
    failing that (all of them hidden) in the nearest relations reached through hidden cells."""
    frontier = [cell]
    seen_cells = {cell}
    seen_relations: set[int] = set()
    while frontier:
        best: tuple[tuple[bool, int, bool, int], int] | None = None
        next_frontier: list[int] = []
        for current in frontier:
            for number in table.relations_of[current]:
                if number in seen_relations:
                    continue
                seen_relations.add(number)
                equation = table.equations[number]
                for member in equation:
                    if member not in hidden:
                        key = table.rank(member, equation)
                        if best is None or key < best[0]:
                            best = (key, member)
                    elif member not in seen_cells:
                        seen_cells.add(member)
                        next_frontier.append(member)
        if best is not None:
            return best[1]
        frontier = sorted(next_frontier)
    return None


def suppress(
    values: Mapping[_Key, int],
    relations: Sequence[Relation],
    threshold: int = DEFAULT_THRESHOLD,
) -> Suppressed:
    """Hide the cells of 1 .. threshold-1 and enough others that none of them can be recomputed.

    Raises ValueError when a value is negative or not an integer, a relation does not hold on the
    values or names a cell without a value, or the threshold is below 1.
    """
    _check_threshold(threshold)
    table = _Table(values, relations)
    primary = {cell for cell, value in enumerate(table.values) if 0 < value < threshold}
    hidden = set(primary)
    while True:
        _add_complements(table, hidden)
        recoverable = _recoverable(table, hidden)
        if not recoverable:
            break
        added = False
        touched: set[int] = set()  # relations that just got a new hidden member
        for cell in sorted(recoverable):
            if touched.intersection(table.relations_of[cell]):
                continue  # give this round's new complement a chance first
            complement = _complement_for(table, hidden, cell)
            if complement is not None:
                hidden.add(complement)
                touched.update(table.relations_of[complement])
                added = True
        if not added:
            break  # everything connected is hidden: only degenerate relations can force a value
    return Suppressed(
        values=MappingProxyType(dict(zip(table.keys, table.values, strict=True))),
        hidden=frozenset(table.keys[cell] for cell in hidden),
        primary=frozenset(table.keys[cell] for cell in primary),
    )


def derivable(
    values: Mapping[_Key, int],
    relations: Sequence[Relation],
    hidden: Collection[CellKey],
) -> set[CellKey]:
    """The hidden cells a reader can recover exactly from the published cells and the relations:
    by linear algebra, and because counts are not negative (hidden parts adding up to a known 0).

    Raises ValueError as :func:`suppress` does, and when a hidden cell has no value.
    """
    table = _Table(values, relations)
    numbers: set[int] = set()
    for key in hidden:
        if key not in table.index:
            raise ValueError(f"hidden cell {key!r} has no value")
        numbers.add(table.index[key])
    return {table.keys[cell] for cell in _recoverable(table, numbers)}


def grid_relations(
    rows: Sequence[Hashable],
    columns: Sequence[Hashable],
    *,
    row_total: Hashable,
    column_total: Hashable,
    row_groups: Mapping[_Row, Sequence[Hashable]] | None = None,
) -> list[Relation]:
    """The relations of a grid whose cells are keyed ``(row, column)``.

    In every row, column ``column_total`` is the sum of the other columns. Each key of
    ``row_groups`` is a row that is, column by column, the sum of the rows listed under it, e.g.
    ``{"A": ["c1", "c2"], "B": ["c3"], "PROVINCE": ["A", "B"]}`` (communes c1, c2 in former
    district A, c3 alone in B).
    Row ``row_total`` is its group when it has one; otherwise it is the sum of every other row
    that is listed in no group. Other rows listed in no group are independent.

    Raises ValueError when a total is not among the rows or columns, a group names an unknown row
    or no row, or the groups contain themselves.
    """
    groups: dict[Hashable, Sequence[Hashable]] = dict(row_groups.items()) if row_groups else {}
    row_set = set(rows)
    if len(row_set) != len(rows) or len(set(columns)) != len(columns):
        raise ValueError("rows and columns must not repeat")
    if row_total not in row_set:
        raise ValueError(f"row total {row_total!r} is not one of the rows")
    if column_total not in set(columns):
        raise ValueError(f"column total {column_total!r} is not one of the columns")
    for group, members in groups.items():
        if group not in row_set:
            raise ValueError(f"row group {group!r} is not one of the rows")
        if not members:
            raise ValueError(f"row group {group!r} lists no rows")
        for member in members:
            if member not in row_set:
                raise ValueError(f"row group {group!r} lists {member!r}, not one of the rows")
    _check_acyclic(groups)
    if row_total not in groups:
        listed = {member for members in groups.values() for member in members}
        top = [row for row in rows if row not in listed and row != row_total]
        if top:
            groups[row_total] = top
    breakdown = [column for column in columns if column != column_total]
    relations: list[Relation] = []
    if breakdown:
        relations.extend(
            Relation((row, column_total), tuple((row, column) for column in breakdown))
            for row in rows
        )
    for row in rows:
        if row in groups:
            relations.extend(
                Relation((row, column), tuple((member, column) for member in groups[row]))
                for column in columns
            )
    return relations


def _check_acyclic(groups: Mapping[Hashable, Sequence[Hashable]]) -> None:
    state: dict[Hashable, bool] = {}  # False while being visited, True when done

    def visit(row: Hashable) -> None:
        if state.get(row) is True:
            return
        if row in state:
            raise ValueError(f"row group {row!r} contains itself")
        state[row] = False
        for member in groups.get(row, ()):
            visit(member)
        state[row] = True

    for group in groups:
        visit(group)
