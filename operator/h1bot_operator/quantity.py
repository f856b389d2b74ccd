"""Kubernetes resource quantities in the canonical form the API server stores them in (pure).

The API server parses every quantity (`cpu: 1`, `memory: 0.5Gi`) and stores it in canonical form (`"1"`,
`"512Mi"`): no fractional digits, the largest suffix that loses no precision, in the family of the suffix written
(binary `Ki`..`Ei`, decimal `n`..`E`, or an `e` exponent), rounded up to nano units. Rendering children with the
canonical form means what the operator sends is what it reads back, so a resync finds nothing to patch.

Mirrors apimachinery's resource.Quantity (ParseQuantity, CanonicalizeBytes); the `kubernetes` package's
`utils.parse_quantity` gives the amount but not the form. Anything that does not parse is left to the API server to
reject with its own message.
"""

import decimal
import re
from typing import Any

# What resource.Quantity accepts: a signed decimal number, then a binary or decimal suffix, or an exponent.
_QUANTITY = re.compile(r"([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+|[numkMGTPE])?")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIX = {power: suffix for suffix, power in _BINARY.items()} | {0: ""}
_DECIMAL_SUFFIX = {power: suffix for suffix, power in _DECIMAL.items()}
_NANO = decimal.Decimal("1e-9")


def parse(value: Any) -> tuple[decimal.Decimal, str] | None:
    """(amount, family) with family `binary`, `decimal` or `exponent`; None when it is not a quantity."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    match = _QUANTITY.fullmatch(str(value))
    if match is None:
        return None
    sign, number, suffix = match[1], match[2], match[3] or ""
    with decimal.localcontext(prec=80):
        amount = decimal.Decimal(sign + number)
        if suffix in _BINARY:
            return amount * (2 ** _BINARY[suffix]), "binary"
        if suffix[:1] in ("e", "E") and len(suffix) > 1:
            return amount.scaleb(int(suffix[1:])), "exponent"
        return amount.scaleb(_DECIMAL[suffix]), "decimal"


def canonical(value: Any) -> str | None:
    """The string the API server stores for this quantity; None when it is not a quantity."""
    parsed = parse(value)
    if parsed is None:
        return None
    amount, family = parsed
    with decimal.localcontext(prec=80):
        if amount.as_tuple().exponent < -9:  # type: ignore[operator]
            amount = amount.quantize(_NANO, rounding=decimal.ROUND_CEILING)
        if amount == 0:
            return "0"
        if family == "binary" and abs(amount) >= 1024 and amount == amount.to_integral_value():
            number, power = int(amount), 0
            while number % 1024 == 0 and power < 60:
                number, power = number // 1024, power + 10
            return f"{number}{_BINARY_SUFFIX[power]}"
        sign, digits, exponent = amount.normalize().as_tuple()
        mantissa = int("".join(map(str, digits))) * (-1 if sign else 1)
        shift = int(exponent) % 3  # the exponent goes down to a multiple of 3, the mantissa up
        mantissa, exponent = mantissa * 10 ** shift, int(exponent) - shift
        if family == "exponent" or exponent not in _DECIMAL_SUFFIX:
            return f"{mantissa}e{exponent}" if exponent else str(mantissa)
        return f"{mantissa}{_DECIMAL_SUFFIX[exponent]}"


def canonical_resources(resources: Any) -> Any:
    """A container's `resources` with every request and limit in canonical form (what does not parse is kept)."""
    if not isinstance(resources, dict):
        return resources
    result = dict(resources)
    for field in ("requests", "limits"):
        if isinstance(resources.get(field), dict):
            result[field] = {name: _or(canonical(value), value) for name, value in resources[field].items()}
    return result


def _or(canonical_form: str | None, original: Any) -> Any:
    return original if canonical_form is None else canonical_form
