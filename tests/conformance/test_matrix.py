"""Parameter grids: readable ids, exclusions, and a quick subset covering every value."""

from __future__ import annotations

from azihsm_conformance.conformance.matrix import Named, covering, grid, label, single


def _ids(params):
    return [p.id for p in params]


def _quick(params):
    return [p.id for p in params if any(m.name == "quick" for m in p.marks)]


def test_grid_ids_values_and_exclusions():
    params = grid(
        curve=("P-256", "P-384"),
        digest=("sha1", "sha512"),
        exclude=lambda curve, digest: curve == "P-384" and digest == "sha1",
    )
    assert _ids(params) == ["P-256-sha1", "P-256-sha512", "P-384-sha512"]
    assert params[0].values == ("P-256", "sha1")


def test_named_values_reach_the_test_unwrapped():
    [param] = grid(salt=(Named("no_salt", None),))
    assert param.id == "no_salt" and param.values == (None,)
    assert label(True) == "yes" and label(4096) == "4096"


def test_quick_subset_covers_every_value():
    axes = {"bits": (2048, 3072, 4096), "digest": ("sha1", "sha256", "sha384", "sha512"), "mode": ("stream", "oneshot")}
    params = grid(**axes)
    quick = [p for p in params if any(m.name == "quick" for m in p.marks)]
    assert len(quick) <= 4 < len(params)
    for position, values in enumerate(axes.values()):
        assert {p.values[position] for p in quick} == set(values)


def test_covering_ignores_values_only_in_excluded_combinations():
    combos = [("a", 1), ("b", 1)]
    chosen = covering(combos, [["a", "b"], [1, 2]])
    assert chosen == {("a", 1), ("b", 1)}


def test_single_axis_quick_defaults_to_first():
    assert _quick(single(["x", "y"])) == ["x"]
    assert _quick(single(["x", "y", "z"], quick=("z",))) == ["z"]
