"""Quantities as the API server stores them (known answers from apimachinery's resource.Quantity and its docs)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from h1bot_operator.quantity import canonical, canonical_resources, parse

KNOWN = [  # written → stored
    (1, "1"), ("1", "1"), (0.5, "500m"), ("0.5", "500m"), ("1000m", "1"), ("1.5", "1500m"), ("100m", "100m"),
    ("1Gi", "1Gi"), ("0.5Gi", "512Mi"), ("1.5Gi", "1536Mi"), ("2048Ki", "2Mi"), ("1Ki", "1Ki"), ("0.5Ki", "512"),
    ("1500", "1500"), ("15000", "15k"), ("1000000", "1M"), ("1e3", "1e3"), ("1E3", "1e3"), ("12e6", "12e6"),
    ("0", "0"), ("0Mi", "0"), ("0.0000000001", "1n"), ("-1", "-1"), (".5", "500m"), ("128Mi", "128Mi"),
    ("0.1Gi", "107374182400m"), ("1E", "1E"),
]


@pytest.mark.parametrize(("written", "stored"), KNOWN)
def test_known_canonical_forms(written, stored):
    assert canonical(written) == stored


@pytest.mark.parametrize("bad", ["lots", "", "1Kb", "1K", "Mi", "1.2.3", "1 Gi", True, None, ["1"]])
def test_what_is_not_a_quantity_is_left_for_the_api_server_to_reject(bad):
    assert canonical(bad) is None
    assert canonical_resources({"requests": {"memory": bad}}) == {"requests": {"memory": bad}}


@given(st.decimals(min_value=-10**12, max_value=10**12, places=3, allow_nan=False, allow_infinity=False),
       st.sampled_from(["", "m", "k", "M", "Ki", "Mi", "Gi"]))
def test_the_canonical_form_keeps_the_amount_and_is_its_own_canonical_form(number, suffix):
    written = f"{number}{suffix}"
    stored = canonical(written)
    assert stored is not None and parse(stored)[0] == parse(written)[0]
    assert canonical(stored) == stored
