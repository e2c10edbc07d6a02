"""Word labels, validation status, merge presets and the label policy applied before training."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

OUTSIDE = "O"

CORE_LABELS: dict[str, str] = {
    "MERCHANT_NAME": "Trading name or brand of the store issuing the receipt",
    "STORE_HOURS": "Printed business hours or opening times for the merchant",
    "PHONE_NUMBER": "Telephone or fax number of the store",
    "WEBSITE": "Web or email address printed on the receipt",
    "LOYALTY_ID": "Customer loyalty, rewards or membership identifier",
    "ADDRESS_LINE": "Full or partial street address of the merchant",
    "DATE": "Calendar date of the transaction",
    "TIME": "Time of the transaction",
    "PAYMENT_METHOD": "Payment instrument summary (card brand, last digits, cash)",
    "COUPON": "Coupon code or description that reduces price",
    "DISCOUNT": "Any non-coupon discount line item",
    "PRODUCT_NAME": "Descriptive text of a purchased product",
    "QUANTITY": "Numeric count or weight of an item",
    "UNIT_PRICE": "Price per single unit or weight before tax",
    "LINE_TOTAL": "Extended price for one line before tax",
    "SUBTOTAL": "Sum of all line totals before tax and discounts",
    "TAX": "Any tax line (sales tax, VAT, bottle deposit)",
    "GRAND_TOTAL": "Final amount due after all discounts, taxes and fees",
}

AMOUNT_LABELS = ("LINE_TOTAL", "SUBTOTAL", "TAX", "GRAND_TOTAL")

MERGE_PRESETS: dict[str, dict[str, tuple[str, ...]]] = {
    "amounts": {"AMOUNT": AMOUNT_LABELS},
    "date_time": {"DATE": ("TIME",)},
    "address_phone": {"ADDRESS": ("ADDRESS_LINE", "PHONE_NUMBER")},
    "sroie": {
        "AMOUNT": AMOUNT_LABELS,
        "DATE": ("TIME",),
        "ADDRESS": ("PHONE_NUMBER", "ADDRESS_LINE"),
    },
}

MERGED_LABELS: frozenset[str] = frozenset(
    target for preset in MERGE_PRESETS.values() for target in preset
) - frozenset(CORE_LABELS)

KNOWN_LABELS: frozenset[str] = frozenset(CORE_LABELS) | MERGED_LABELS


class ValidationStatus(StrEnum):
    VALID = "VALID"
    INVALID = "INVALID"
    NEEDS_REVIEW = "NEEDS_REVIEW"


def label_of(tag: str) -> str:
    """The label of a BIO tag ("B-DATE" → "DATE"); "O" stays "O"."""
    return tag[2:] if tag[:2] in ("B-", "I-") else tag


def entity_labels_of(tags: Iterable[str]) -> tuple[str, ...]:
    """The labels a model's BIO tags name, sorted (O excluded)."""
    return tuple(sorted({label_of(tag) for tag in tags} - {OUTSIDE}))


def unknown_labels(labels: Iterable[str]) -> list[str]:
    return sorted({label for label in labels if label not in KNOWN_LABELS and label != OUTSIDE})


def merge_map(presets: Iterable[str]) -> dict[str, str]:
    """Source label -> merged label for the given presets, applied in order."""
    mapping: dict[str, str] = {}
    for name in presets:
        for target, sources in MERGE_PRESETS[name].items():
            for source in sources:
                mapping[source] = target
    return mapping


def bio_tags(labels: Iterable[str]) -> list[str]:
    """`O` then `B-X`, `I-X` for each entity label, sorted for a stable id order."""
    tags = [OUTSIDE]
    for label in sorted(set(labels) - {OUTSIDE}):
        tags += [f"B-{label}", f"I-{label}"]
    return tags
