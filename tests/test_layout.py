"""The house rules of tests/check_imports.py hold for the product, and the checker finds breaches."""

from tests.check_imports import breaches, cycles


def test_no_import_cycle_no_upward_import_and_no_module_too_long():
    assert breaches() == []


def test_the_checker_finds_a_cycle_through_three_modules_and_not_a_chain():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
