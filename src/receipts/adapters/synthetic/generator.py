"""Seeded synthetic receipts with word boxes, labels, fields, and their rendered image.

Every receipt is a pure function of (seed, index): the same call gives the same words,
boxes and pixels on any machine (the font is Pillow's bundled one).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from receipts.adapters.synthetic import vocabulary as v
from receipts.domain.boxes import BoundingBox
from receipts.domain.labels import OUTSIDE, ValidationStatus
from receipts.domain.receipt import Receipt, Word

Token = tuple[str, str]
"""(text, label) of one word."""


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


@dataclass
class _Layout:
    rng: random.Random
    width: int
    font_size: int
    margin: int
    y: float = 0.0
    line_id: int = 0
    words: list[Word] = field(default_factory=list)
    placed: list[tuple[str, tuple[float, float], int]] = field(default_factory=list)

    @property
    def line_height(self) -> float:
        return self.font_size * 1.45

    def text_width(self, text: str) -> float:
        return float(_font(self.font_size).getlength(text))

    def line(
        self, tokens: list[Token], align: str = "left", right: list[Token] | None = None
    ) -> None:
        """One printed line: `tokens` aligned left/center, optional `right` tokens flush right."""
        space = self.text_width(" ")
        left_width = sum(self.text_width(t) for t, _ in tokens) + space * max(0, len(tokens) - 1)
        x = (self.width - left_width) / 2 if align == "center" else float(self.margin)
        self._place(tokens, x, space)
        if right:
            right_width = sum(self.text_width(t) for t, _ in right) + space * (len(right) - 1)
            self._place(right, self.width - self.margin - right_width, space)
        self.y += self.line_height * self.rng.uniform(0.95, 1.1)
        self.line_id += 1

    def gap(self, lines: float = 0.6) -> None:
        self.y += self.line_height * lines

    def _place(self, tokens: list[Token], x: float, space: float) -> None:
        for text, label in tokens:
            width = self.text_width(text)
            jitter = self.rng.uniform(-1.5, 1.5)
            top = self.y + jitter
            box = BoundingBox(x0=x, y0=top, x1=x + width, y1=top + self.font_size * 1.15)
            status = ValidationStatus.VALID
            if label != OUTSIDE and self.rng.random() < 0.01:
                status = self.rng.choice((ValidationStatus.NEEDS_REVIEW, ValidationStatus.INVALID))
            self.words.append(
                Word(
                    word_id=len(self.words),
                    line_id=self.line_id,
                    text=text,
                    box=box,
                    label=label,
                    validation_status=status,
                )
            )
            self.placed.append((text, (x, top), self.font_size))
            x += width + space


def _date_text(rng: random.Random) -> str:
    year, month, day = rng.randint(2019, 2026), rng.randint(1, 12), rng.randint(1, 28)
    return (
        f"{year}-{month:02d}-{day:02d}",
        f"{month:02d}/{day:02d}/{year}",
        f"{day:02d}.{month:02d}.{year % 100:02d}",
        f"{day:02d}/{month:02d}/{year}",
    )[rng.randrange(4)]


def _time_text(rng: random.Random) -> str:
    hour, minute = rng.randint(6, 22), rng.randint(0, 59)
    if rng.random() < 0.5:
        return f"{hour:02d}:{minute:02d}"
    return f"{(hour - 1) % 12 + 1}:{minute:02d}{'PM' if hour >= 12 else 'AM'}"


def _words(text: str, label: str) -> list[Token]:
    return [(part, label) for part in text.split()]


def generate_receipt(
    seed: int, index: int
) -> tuple[Receipt, list[tuple[str, tuple[float, float], int]]]:
    """The receipt and what to draw (text, top-left, font size) for `render`."""
    rng = random.Random(f"receipt:{seed}:{index}")
    font_size = rng.choice((16, 18, 20, 22))
    width = rng.randint(520, 760)
    layout = _Layout(rng=rng, width=width, font_size=font_size, margin=rng.randint(24, 48))
    layout.y = rng.uniform(20, 60)
    fields = _header(layout, align="center" if rng.random() < 0.7 else "left")
    fields |= _date_and_time(layout)
    grand = _totals_and_payment(layout, subtotal=_products(layout))
    fields["total"] = f"{grand:.2f}"
    layout.line([(w, OUTSIDE) for w in rng.choice(v.FOOTERS)], "center")
    height = int(layout.y + rng.uniform(20, 60))
    receipt = Receipt(
        receipt_id=f"synthetic-{seed}-{index:05d}",
        source="synthetic",
        width=width,
        height=height,
        words=tuple(layout.words),
        fields=fields,
    )
    return receipt, layout.placed


def _header(layout: _Layout, align: str) -> dict[str, str]:
    """Merchant, address and phone lines; their fields."""
    rng = layout.rng
    merchant = f"{rng.choice(v.MERCHANT_FIRST)} {rng.choice(v.MERCHANT_SECOND)}"
    suffix = rng.choice(v.MERCHANT_SUFFIX)
    merchant = f"{merchant} {suffix}".strip()
    if rng.random() < 0.5:
        merchant = merchant.upper()
    layout.line(_words(merchant, "MERCHANT_NAME"), align)
    street = f"{rng.randint(1, 9999)} {rng.choice(v.STREETS)}"
    city, state, zip_code = rng.choice(v.CITIES)
    layout.line(_words(street, "ADDRESS_LINE"), align)
    layout.line(_words(f"{city}, {state} {zip_code}", "ADDRESS_LINE"), align)
    phone = f"({rng.randint(200, 989)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
    phone_prefix = rng.choice((["TEL:"], ["Phone:"], []))
    layout.line([(p, OUTSIDE) for p in phone_prefix] + _words(phone, "PHONE_NUMBER"), align)
    layout.gap()
    return {"company": merchant, "address": f"{street} {city}, {state} {zip_code}", "phone": phone}


def _date_and_time(layout: _Layout) -> dict[str, str]:
    rng = layout.rng
    date, time = _date_text(rng), _time_text(rng)
    if rng.random() < 0.5:
        layout.line(
            [("Date:", OUTSIDE), (date, "DATE")], right=[("Time:", OUTSIDE), (time, "TIME")]
        )
    else:
        layout.line(
            [(date, "DATE"), (time, "TIME")], right=[("#" + str(rng.randint(1000, 99999)), OUTSIDE)]
        )
    layout.gap(0.4)
    return {"date": date, "time": time}


def _products(layout: _Layout) -> float:
    """Two to nine product lines; their subtotal."""
    rng = layout.rng
    subtotal = 0.0
    for product in rng.sample(v.PRODUCTS, rng.randint(2, 9)):
        quantity = rng.choice((1, 1, 1, 2, 3))
        unit = round(rng.uniform(0.5, 25), 2)
        total = round(quantity * unit, 2)
        subtotal += total
        left = _words(product.upper() if rng.random() < 0.5 else product, "PRODUCT_NAME")
        if quantity > 1:
            left += [(str(quantity), "QUANTITY"), ("@", OUTSIDE), (f"{unit:.2f}", "UNIT_PRICE")]
        layout.line(left, "left", right=[(f"{total:.2f}", "LINE_TOTAL")])
    layout.gap(0.4)
    return round(subtotal, 2)


def _totals_and_payment(layout: _Layout, subtotal: float) -> float:
    """Subtotal, tax, total and payment lines; the grand total."""
    rng = layout.rng
    tax = round(subtotal * rng.choice((0.05, 0.07, 0.0825, 0.1)), 2)
    grand = round(subtotal + tax, 2)
    currency = rng.choice(("", "$"))
    layout.line([("SUBTOTAL", OUTSIDE)], right=[(f"{currency}{subtotal:.2f}", "SUBTOTAL")])
    layout.line([("TAX", OUTSIDE)], right=[(f"{currency}{tax:.2f}", "TAX")])
    layout.line([("TOTAL", OUTSIDE)], right=[(f"{currency}{grand:.2f}", "GRAND_TOTAL")])
    layout.gap(0.5)
    payment = rng.choice(v.PAYMENTS)
    pay_tokens = _words(payment, "PAYMENT_METHOD")
    if payment != "CASH":
        pay_tokens.append((f"****{rng.randint(0, 9999):04d}", "PAYMENT_METHOD"))
    layout.line(pay_tokens, "left", right=[(f"{grand:.2f}", OUTSIDE)])
    layout.gap()
    return grand


def generate_receipts(count: int, seed: int = 0) -> list[Receipt]:
    return [generate_receipt(seed, index)[0] for index in range(count)]


def render(seed: int, index: int, noise: float = 0.02) -> Image.Image:
    """The receipt as a grayscale photo-like image: text where its word boxes say."""
    receipt, placed = generate_receipt(seed, index)
    rng = random.Random(f"render:{seed}:{index}")
    image = Image.new("L", (receipt.width, receipt.height), color=rng.randint(235, 255))
    draw = ImageDraw.Draw(image)
    ink = rng.randint(0, 50)
    for text, (x, y), size in placed:
        draw.text((x, y), text, fill=ink, font=_font(size))
    if noise > 0:
        pixels = image.load()
        assert pixels is not None
        for _ in range(int(receipt.width * receipt.height * noise)):
            px, py = rng.randrange(receipt.width), rng.randrange(receipt.height)
            pixels[px, py] = rng.randint(120, 255)
        image = image.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.0, 0.6)))
    return image
