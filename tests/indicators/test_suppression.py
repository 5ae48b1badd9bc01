"""Small-cell suppression: hand-worked tables, an independent exactness check, random grids."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence
from fractions import Fraction
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caseapp.indicators.suppression import (
    CellKey,
    Relation,
    derivable,
    grid_relations,
    suppress,
)

_Key = TypeVar("_Key", bound=CellKey)


def _grid(
    rows: Sequence[Hashable], columns: Sequence[Hashable], data: Sequence[Sequence[int]]
) -> dict[CellKey, int]:
    assert len(rows) == len(data)
    values: dict[CellKey, int] = {}
    for row, line in zip(rows, data, strict=True):
        for column, value in zip(columns, line, strict=True):
            values[(row, column)] = value
    return values


def _recover(
    values: Mapping[_Key, int], relations: Sequence[Relation], hidden: Collection[CellKey]
) -> dict[CellKey, Fraction]:
    """What a reader can work out: the hidden cells whose value the published cells and the
    relations pin down, with that value. Gauss-Jordan elimination with Fractions on the augmented
    system ``total - sum(parts) = 0``, published cells moved to the right-hand side; a hidden cell
    is pinned when it ends up alone in a row. Written independently of the module under test.
    """
    published: dict[CellKey, int] = dict(values.items())
    order: list[CellKey] = list(published)
    unknowns = sorted(hidden, key=order.index)
    column = {cell: j for j, cell in enumerate(unknowns)}
    width = len(unknowns)
    matrix: list[list[Fraction]] = []
    for relation in relations:
        line = [Fraction(0)] * (width + 1)
        for cell, coefficient in [(relation.total, 1)] + [(part, -1) for part in relation.parts]:
            if cell in column:
                line[column[cell]] += coefficient
            else:
                line[width] -= coefficient * published[cell]
        matrix.append(line)
    pivot_row = 0
    pivots: list[int] = []
    for j in range(width):
        chosen = next((i for i in range(pivot_row, len(matrix)) if matrix[i][j] != 0), None)
        if chosen is None:
            continue
        matrix[pivot_row], matrix[chosen] = matrix[chosen], matrix[pivot_row]
        lead = matrix[pivot_row][j]
        matrix[pivot_row] = [x / lead for x in matrix[pivot_row]]
        for i in range(len(matrix)):
            if i != pivot_row and matrix[i][j] != 0:
                factor = matrix[i][j]
                matrix[i] = [
                    x - factor * y for x, y in zip(matrix[i], matrix[pivot_row], strict=True)
                ]
        pivots.append(j)
        pivot_row += 1
    for line in matrix[pivot_row:]:
        assert line[width] == 0, "the published values contradict the relations"
    recovered: dict[CellKey, Fraction] = {}
    for i, j in enumerate(pivots):
        if all(matrix[i][k] == 0 for k in range(width) if k != j):
            recovered[unknowns[j]] = matrix[i][width]
    return recovered


def _hierarchy(
    communes: Sequence[Sequence[int]], districts: Sequence[int]
) -> tuple[list[str], list[str], dict[CellKey, int], list[Relation]]:
    """Communes c0.. with their breakdown counts, grouped in districts D0.. (``districts[i]`` is
    the district of commune i), a total column T and a province row P."""
    width = len(communes[0])
    columns = [f"k{j}" for j in range(width)] + ["T"]
    groups: dict[Hashable, list[Hashable]] = {}
    data: dict[str, list[int]] = {}
    for i, line in enumerate(communes):
        data[f"c{i}"] = [*line, sum(line)]
        groups.setdefault(f"D{districts[i]}", []).append(f"c{i}")
    district_names = sorted(groups, key=lambda name: int(str(name)[1:]))
    for name in district_names:
        members = [data[str(member)] for member in groups[name]]
        data[str(name)] = [sum(column) for column in zip(*members, strict=True)]
    data["P"] = [
        sum(column) for column in zip(*(data[str(d)] for d in district_names), strict=True)
    ]
    groups["P"] = list(district_names)
    rows = list(data)
    values = _grid(rows, columns, [data[row] for row in rows])
    relations = grid_relations(rows, columns, row_total="P", column_total="T", row_groups=groups)
    return rows, columns, values, relations


def test_the_checker_recovers_a_lone_hidden_cell() -> None:
    # Row 7, ?, 5 | 15: the hidden cell is 15 - 7 - 5 = 3; the checker must see it.
    values = {("r", "a"): 7, ("r", "b"): 3, ("r", "c"): 5, ("r", "T"): 15}
    relations = [Relation(("r", "T"), (("r", "a"), ("r", "b"), ("r", "c")))]
    assert _recover(values, relations, {("r", "b")}) == {("r", "b"): 3}
    assert derivable(values, relations, {("r", "b")}) == {("r", "b")}
    assert _recover(values, relations, {("r", "b"), ("r", "c")}) == {}


@pytest.mark.plan("P2")
def test_two_by_two_table_hides_the_rectangle() -> None:
    #        c1   c2 |  T
    #   r1    3    9 | 12
    #   r2    8   10 | 18
    #   T    11   19 | 30
    # Primary: the 3. Row r1 then has one hidden cell: hide its smallest published member, the 9
    # (not the total 12). Column c1 (3 + 8 = 11): hide the 8. Column c2 (9 + 10 = 19): hide the 10.
    # Row r2 now has 8 and 10 hidden: stable. The four inner cells form the classic rectangle: any
    # 3 + t, 9 - t, 8 - t, 10 + t fits every published total, so nothing can be recovered.
    rows = ["r1", "r2", "T"]
    columns = ["c1", "c2", "T"]
    values = _grid(rows, columns, [[3, 9, 12], [8, 10, 18], [11, 19, 30]])
    relations = grid_relations(rows, columns, row_total="T", column_total="T")
    result = suppress(values, relations)
    assert ("r1", "c1") in result.hidden
    assert result.primary == {("r1", "c1")}
    assert len(result.hidden) >= 4
    assert result.hidden == {("r1", "c1"), ("r1", "c2"), ("r2", "c1"), ("r2", "c2")}
    assert _recover(values, relations, result.hidden) == {}
    assert result.shown(("r1", "c1")) is None
    assert result.shown(("r1", "T")) == 12
    assert result.shown(("T", "T")) == 30


@pytest.mark.plan("P2")
def test_a_lone_small_cell_gets_the_smallest_other_part_as_complement() -> None:
    # Row 7, 2, 5, 9 | 23: the 2 is primary; the smallest other part is the 5 (not the 7, the 9
    # or the total 23). Hiding 2 and 5 leaves 2 + 5 = 7 known and neither cell alone.
    cells = [("r", c) for c in ("a", "b", "c", "d")]
    values = dict(zip(cells, [7, 2, 5, 9], strict=True)) | {("r", "T"): 23}
    relations = [Relation(("r", "T"), tuple(cells))]
    result = suppress(values, relations)
    assert result.primary == {("r", "b")}
    assert result.hidden == {("r", "b"), ("r", "c")}
    assert [result.shown(cell) for cell in [*cells, ("r", "T")]] == [7, None, None, 9, 23]
    assert _recover(values, relations, result.hidden) == {}


def test_a_non_zero_complement_is_preferred_to_a_zero() -> None:
    # Row 7, 2, 0, 6 | 15: hiding the 0 with the 2 would tell the reader 2 + 0 = 2, so the small
    # cell is at most 2. The 6 is hidden instead (2 + 6 = 8); the zero stays published.
    cells = [("r", c) for c in ("a", "b", "c", "d")]
    values = dict(zip(cells, [7, 2, 0, 6], strict=True)) | {("r", "T"): 15}
    relations = [Relation(("r", "T"), tuple(cells))]
    result = suppress(values, relations)
    assert result.hidden == {("r", "b"), ("r", "d")}
    assert result.shown(("r", "c")) == 0


@pytest.mark.plan("P2")
def test_zeros_are_published_and_the_threshold_is_configurable() -> None:
    #        a   b   c   d |  T
    #   r    0   1   2   3 |  6
    #   s    0   5   0   4 |  9
    #   T    0   6   2   7 | 15
    rows = ["r", "s", "T"]
    columns = ["a", "b", "c", "d", "T"]
    values = _grid(rows, columns, [[0, 1, 2, 3, 6], [0, 5, 0, 4, 9], [0, 6, 2, 7, 15]])
    relations = grid_relations(rows, columns, row_total="T", column_total="T")

    # Threshold 1: no count is below 1 and above 0, nothing is hidden.
    nothing = suppress(values, relations, threshold=1)
    assert nothing.hidden == frozenset()
    assert all(nothing.shown(cell) == value for cell, value in values.items())

    # Threshold 3: only the 1 and the 2s are primary (the 2 in row r and its column total); the
    # 3 and the 4 are not. Zeros never are.
    three = suppress(values, relations, threshold=3)
    assert three.primary == {("r", "b"), ("r", "c"), ("T", "c")}
    assert ("r", "d") not in three.primary
    assert ("s", "d") not in three.primary
    assert _recover(values, relations, three.hidden) == {}

    # Default threshold 5: the 3 and the 4s too; the zeros stay published as 0.
    five = suppress(values, relations)
    assert five.primary == {("r", "b"), ("r", "c"), ("r", "d"), ("s", "d"), ("T", "c")}
    for cell in [("r", "a"), ("s", "a"), ("T", "a")]:
        assert cell not in five.primary
    assert _recover(values, relations, five.hidden) == {}

    # A table of zeros and large counts hides nothing.
    quiet = _grid(rows, columns, [[0, 10, 0, 6, 16], [0, 5, 0, 9, 14], [0, 15, 0, 15, 30]])
    assert suppress(quiet, relations).hidden == frozenset()


def test_a_district_with_a_single_commune_repeats_its_small_cell() -> None:
    # Communes c0, c1 in district D0; c2 alone in D1; province P = D0 + D1.
    #          k0   k1   k2 |  T
    #   c0     10    7    6 | 23
    #   c1      8    9    5 | 22
    #   c2      6    2    7 | 15
    #   D0     18   16   11 | 45
    #   D1      6    2    7 | 15    (= c2: the district shows the commune's 2 again)
    #   P      24   18   18 | 60
    # Primary: c2/k1 and D1/k1 (both 2). Relations in order: the rows, then D0, D1, P by column.
    # Pass 1: row c2 → hide c2/k0 (6, the smallest other part); row D1 → D1/k0 (6);
    #   D1 columns: k0 and k1 each have both members hidden. Province column k0 (24 = 18 + 6) has
    #   only D1/k0 hidden → hide D0/k0 (18, a part before the total 24); province column k1
    #   (18 = 16 + 2) → hide D0/k1 (16).
    # Pass 2: D0 column k0 (18 = 10 + 8) → hide c1/k0 (8); D0 column k1 (16 = 7 + 9) → c0/k1 (7).
    # Pass 3: row c0 → c0/k2 (6); row c1 → c1/k2 (5); D0 column k2 (11 = 6 + 5) is then covered.
    # Check: with c2/k1 = t the published cells give c2/k0 = D1/k0 = 8 - t, D1/k1 = t,
    #   D0/k0 = 16 + t, D0/k1 = 18 - t, c1/k0 = 6 + t, c1/k2 = 7 - t, c0/k2 = 4 + t, c0/k1 = 9 - t:
    #   one free parameter, so no hidden cell is recoverable.
    rows, columns, values, relations = _hierarchy([[10, 7, 6], [8, 9, 5], [6, 2, 7]], [0, 0, 1])
    assert rows == ["c0", "c1", "c2", "D0", "D1", "P"]
    assert values[("D1", "k1")] == values[("c2", "k1")] == 2
    result = suppress(values, relations)
    assert result.primary == {("c2", "k1"), ("D1", "k1")}
    assert result.secondary == {
        ("c2", "k0"),
        ("D1", "k0"),
        ("D0", "k0"),
        ("D0", "k1"),
        ("c1", "k0"),
        ("c0", "k1"),
        ("c0", "k2"),
        ("c1", "k2"),
    }
    # The province relation of the small column has a second hidden member.
    assert {("D0", "k1"), ("D1", "k1")} <= result.hidden
    assert all(result.shown(("P", column)) == values[("P", column)] for column in columns)
    assert _recover(values, relations, result.hidden) == {}
    assert derivable(values, relations, result.hidden) == set()


def test_derivable_follows_a_chain_of_relations() -> None:
    # Same table; hide only the two 2s and the obvious row complements c2/k0 and D1/k0. The rows
    # and the D1 columns all have two hidden members, but the province column k1 (18 = 16 + D1/k1,
    # D0/k1 published) gives D1/k1 = 2, then c2/k1 = D1/k1, then c2/k0 = 15 - 2 - 7 = 6 from row c2
    # and D1/k0 = 6 from row D1.
    _, _, values, relations = _hierarchy([[10, 7, 6], [8, 9, 5], [6, 2, 7]], [0, 0, 1])
    hidden = {("c2", "k1"), ("D1", "k1"), ("c2", "k0"), ("D1", "k0")}
    expected = {("c2", "k1"): 2, ("D1", "k1"): 2, ("c2", "k0"): 6, ("D1", "k0"): 6}
    assert _recover(values, relations, hidden) == expected
    assert derivable(values, relations, hidden) == set(expected)


def test_the_exact_check_catches_what_single_relations_miss() -> None:
    # Nested totals: S = x + y (a district) and R = x + y + z (a wider area), with
    # x = 6, y = 7, z = 3, S = 13, R = 16.
    # Primary: z. Quick rule: R has one hidden member → hide x (6, the smallest); then S has one
    # hidden member → hide y (7). Now every relation has at least two hidden members, yet
    # R - S = z = 16 - 13 = 3. The exact check finds it and hides the smallest published member
    # of a relation of z: R (16, the only one left). Then z = R - 13 with R unknown: safe.
    values: dict[CellKey, int] = {
        ("x", "n"): 6,
        ("y", "n"): 7,
        ("z", "n"): 3,
        ("S", "n"): 13,
        ("R", "n"): 16,
    }
    relations = [
        Relation(("S", "n"), (("x", "n"), ("y", "n"))),
        Relation(("R", "n"), (("x", "n"), ("y", "n"), ("z", "n"))),
    ]
    quick = {("z", "n"), ("x", "n"), ("y", "n")}
    assert _recover(values, relations, quick) == {("z", "n"): 3}
    assert derivable(values, relations, quick) == {("z", "n")}
    result = suppress(values, relations)
    assert result.hidden == quick | {("R", "n")}
    assert _recover(values, relations, result.hidden) == {}
    assert result.shown(("S", "n")) == 13


def test_a_hierarchy_with_several_small_cells() -> None:
    # Five communes in three districts (D2 has the single commune c4, whose only small cell, the
    # 3, reappears in D2), small cells elsewhere too.
    communes = [[10, 1, 6], [8, 9, 4], [12, 6, 0], [2, 7, 9], [11, 3, 8]]
    _, _, values, relations = _hierarchy(communes, [0, 0, 1, 1, 2])
    result = suppress(values, relations)
    small = {cell for cell, value in values.items() if 0 < value < 5}
    assert {("c4", "k1"), ("D2", "k1"), ("c0", "k1"), ("c1", "k2"), ("c3", "k0")} <= small
    assert result.primary == small
    assert small <= result.hidden
    assert _recover(values, relations, result.hidden) == {}
    assert all(
        result.shown(cell) == value for cell, value in values.items() if cell not in result.hidden
    )
    assert suppress(values, relations) == result  # deterministic


def test_hidden_zeros_adding_up_to_a_published_zero_are_recoverable() -> None:
    # Row 0, 0 | 0 with both zeros hidden: linear algebra alone leaves one free parameter, but
    # counts are not negative, so both are 0.
    values = {("r", "a"): 0, ("r", "b"): 0, ("r", "T"): 0}
    relations = [Relation(("r", "T"), (("r", "a"), ("r", "b")))]
    hidden = {("r", "a"), ("r", "b")}
    assert _recover(values, relations, hidden) == {}
    assert derivable(values, relations, hidden) == hidden


@st.composite
def _tables(draw: st.DrawFn) -> tuple[list[list[int]], list[int]]:
    n_rows = draw(st.integers(2, 6))
    n_groups = draw(st.integers(1, min(3, n_rows)))
    width = draw(st.integers(2, 4))
    # Every district gets at least one commune: districts 0..n_groups-1 first, then any.
    extra = draw(
        st.lists(
            st.integers(0, n_groups - 1), min_size=n_rows - n_groups, max_size=n_rows - n_groups
        )
    )
    districts = sorted([*range(n_groups), *extra])
    communes = draw(
        st.lists(
            st.lists(st.integers(0, 12), min_size=width, max_size=width),
            min_size=n_rows,
            max_size=n_rows,
        )
    )
    return communes, districts


@settings(max_examples=150, deadline=None)
@given(_tables())
def test_random_hierarchies_leave_nothing_recoverable(
    table: tuple[list[list[int]], list[int]],
) -> None:
    communes, districts = table
    _, _, values, relations = _hierarchy(communes, districts)
    result = suppress(values, relations)
    for cell, value in values.items():
        if 0 < value < 5:
            assert cell in result.hidden
            assert result.shown(cell) is None
        if cell not in result.hidden:
            assert result.shown(cell) == value
    assert result.primary <= result.hidden
    assert _recover(values, relations, result.hidden) == {}


@settings(max_examples=100, deadline=None)
@given(_tables(), st.data())
def test_derivable_agrees_with_the_checker_on_positive_tables(
    table: tuple[list[list[int]], list[int]], data: st.DataObject
) -> None:
    # Without zeros the non-negativity rule never applies: both must find the same cells.
    communes, districts = table
    positive = [[value + 1 for value in line] for line in communes]
    _, _, values, relations = _hierarchy(positive, districts)
    hidden = data.draw(st.sets(st.sampled_from(sorted(values, key=str))))
    assert derivable(values, relations, hidden) == set(_recover(values, relations, hidden))


def test_grid_relations_shapes() -> None:
    relations = grid_relations(["a", "b", "T"], ["x", "y", "S"], row_total="T", column_total="S")
    assert relations == [
        Relation(("a", "S"), (("a", "x"), ("a", "y"))),
        Relation(("b", "S"), (("b", "x"), ("b", "y"))),
        Relation(("T", "S"), (("T", "x"), ("T", "y"))),
        Relation(("T", "x"), (("a", "x"), ("b", "x"))),
        Relation(("T", "y"), (("a", "y"), ("b", "y"))),
        Relation(("T", "S"), (("a", "S"), ("b", "S"))),
    ]
    # A row outside every group is independent when the total row is a group.
    grouped = grid_relations(
        ["a", "b", "c", "T"],
        ["x", "S"],
        row_total="T",
        column_total="S",
        row_groups={"T": ["a", "b"]},
    )
    assert Relation(("T", "x"), (("a", "x"), ("b", "x"))) in grouped
    mentioning_c = [
        relation
        for relation in grouped
        if "c" in {relation.total[0], *(part[0] for part in relation.parts)}
    ]
    assert mentioning_c == [Relation(("c", "S"), (("c", "x"),))]


@pytest.mark.parametrize(
    ("values", "relations", "threshold", "message"),
    [
        ({("r", "a"): -1, ("r", "T"): -1}, [], 5, "negative"),
        (
            {("r", "a"): 2, ("r", "b"): 3, ("r", "T"): 6},
            [Relation(("r", "T"), (("r", "a"), ("r", "b")))],
            5,
            "does not hold",
        ),
        ({("r", "a"): 2}, [Relation(("r", "T"), (("r", "a"),))], 5, "has no value"),
        ({("r", "a"): 2}, [Relation(("r", "a"), ())], 5, "no parts"),
        ({("r", "a"): 2}, [], 0, "threshold"),
        ({("r", "a"): 2}, [], -3, "threshold"),
    ],
)
def test_invalid_input_is_rejected(
    values: dict[CellKey, int], relations: list[Relation], threshold: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        suppress(values, relations, threshold=threshold)


def test_derivable_rejects_bad_input() -> None:
    values = {("r", "a"): 2, ("r", "b"): 3, ("r", "T"): 5}
    relations = [Relation(("r", "T"), (("r", "a"), ("r", "b")))]
    with pytest.raises(ValueError, match="has no value"):
        derivable(values, relations, {("r", "zzz")})
    with pytest.raises(ValueError, match="does not hold"):
        derivable(values | {("r", "T"): 6}, relations, set())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"row_total": "nope", "column_total": "S"}, "row total"),
        ({"row_total": "T", "column_total": "nope"}, "column total"),
        ({"row_total": "T", "column_total": "S", "row_groups": {"T": ["a", "zzz"]}}, "zzz"),
        ({"row_total": "T", "column_total": "S", "row_groups": {"zzz": ["a"]}}, "zzz"),
        ({"row_total": "T", "column_total": "S", "row_groups": {"T": []}}, "lists no rows"),
        (
            {"row_total": "T", "column_total": "S", "row_groups": {"T": ["a"], "a": ["T"]}},
            "contains itself",
        ),
    ],
)
def test_grid_relations_rejects_bad_shapes(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        grid_relations(["a", "b", "T"], ["x", "S"], **kwargs)  # type: ignore[arg-type]
