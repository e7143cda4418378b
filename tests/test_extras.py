import pytest

from handhold.extras import MissingExtraError, require


def test_present_module_is_returned():
    assert require("json", "x").dumps([1]) == "[1]"


def test_missing_module_names_the_extra():
    with pytest.raises(ImportError, match=r"pip install 'handhold\[dashboard\]'") as info:
        require("surely_not_a_module_xyz", "dashboard")
    assert isinstance(info.value, MissingExtraError)
