"""Field extraction: word labels → field strings, and SROIE-style field scoring."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

from pydantic import Field

from receipts.domain.aggregate import ValueObject
from receipts.domain.labels import label_of

FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "company": ("MERCHANT_NAME",),
    "address": ("ADDRESS_LINE", "ADDRESS"),
    "phone": ("PHONE_NUMBER",),
    "date": ("DATE",),
    "time": ("TIME",),
    "total": ("GRAND_TOTAL", "AMOUNT"),
}
_AMOUNT = re.compile(r"-?\d[\d,]*\.?\d*")
_NUMERIC_DATE = re.compile(r"\d{1,4}[/.\-]\d{1,2}[/.\-]\d{2,4}")
_DIGIT = re.compile(r"\d")
_MONEY = re.compile(r"\d[.,]\d{2}(?!\d)")
_LEGAL_FORM = re.compile(
    r"(?<![A-Z])(SDN\.?\s*BHD|S/B|BHD|BERHAD|PLT|ENTERPRISES?|TRADING|LTD|LIMITED|LLC|INC"
    r"|CORP|CORPORATION|GMBH|PTE|CO\.)(?![A-Z])",
    re.IGNORECASE,
)
"""A registered company's legal form (Malaysian, British, US, German, Singaporean)."""
LEGAL_NAME_WORDS = 3
"""A legal name holds at least this many words besides its form, or wraps to the line above."""
_REGISTRATION = re.compile(r"\(\s*(CO\.?\s*)?(REG\.?\s*)?(NO\.?\s*)?:?\s*\d{3,}[\w\s-]*\)", re.I)
"""A company registration number ("(728384-M)"): printed beside the name, not part of it."""
_DAY_MONTH = re.compile(r"^(\d{1,2}\s*[A-Z]{3,9}\.?|[A-Z]{3,9}\.?\s*\d{1,2},?)$", re.IGNORECASE)
_YEAR = re.compile(r"^'?(\d{2}|\d{4})$")
TOTAL_FALLBACK_MIN = 0.05
"""A total nobody labelled is read from the likeliest money word only at this probability."""


class LabelledWord(ValueObject):
    text: str
    label: str
    line_id: int = 0
    confidence: float = Field(1.0, ge=0, le=1)
    """How sure the labeller is of `label` (a model's probability; 1 for a person's label)."""
    scores: dict[str, float] = Field(default_factory=dict)
    """A model's probability of every label, when it gave them."""


def extract_fields(words: Sequence[LabelledWord]) -> dict[str, str]:
    """The fields a receipt's labelled words spell out (reading order kept).

    company, address, phone: their words joined, from one block of consecutive lines (a
    receipt prints each once: in SROIE's labels the company is one block in 520 of 526
    receipts, and the words elsewhere are a logo line or a stray word); where the words fall
    into several blocks, the block with the most confidence summed over its words (for labels
    a person gave: the most words), the first on ties. The company is the legal name in its
    block where a line names a legal form (`_legal_name`: a brand line above "TK DIVISION
    KITCHEN SDN BHD" is the trading name), without a registration number ("(728384-M)").
    time: the first entity. date: the entity with the most confidence per word (for labels a
    person gave: the first); where a word of it holds a numeric date ("12/05/2018",
    "2018-05-12"), that date alone (a neighbour the model took along, or "DATE:" glued to it,
    is not part of the value); a day and month ("24 MAR") take the year printed right after
    them on their line ("18"). Where a model labelled no date, the calendar date it found
    likeliest to be one.
    total: among words holding a digit, the GRAND_TOTAL value with the most confidence summed
    over its words (for labels a person gave: the most frequent), ties to the largest; without
    GRAND_TOTAL words, the most frequent AMOUNT value, ties to the largest (AMOUNT may merge
    every price; SROIE labels every row carrying the total as AMOUNT). When no word carries
    either label but a model scored them, the money word it found likeliest to be the total
    (at least `TOTAL_FALLBACK_MIN`): a receipt has a total even where the model doubts it.
    """
    fields: dict[str, str] = {}
    company = _company(words)
    if company:
        fields["company"] = company
    for name in ("address", "phone"):
        block = _surest_block([w for w in words if w.label in FIELD_LABELS[name]])
        if block:
            fields[name] = _text(block)
    times = _spans(words, FIELD_LABELS["time"])
    if times:
        start, stop = times[0]
        fields["time"] = _text(words[start:stop])
    date = _date(words)
    if date:
        fields["date"] = date
    total = _total(words)
    if total:
        fields["total"] = total
    return fields


def _company(words: Sequence[LabelledWord]) -> str:
    block = _legal_name(_surest_block([w for w in words if w.label in FIELD_LABELS["company"]]))
    text = _text(block)
    return " ".join(_REGISTRATION.sub(" ", text).split()) or text


def _date(words: Sequence[LabelledWord]) -> str:
    spans = _spans(words, FIELD_LABELS["date"])
    if not spans:
        return _likeliest_date(words)
    start, stop = max(
        spans,
        key=lambda span: sum(w.confidence for w in words[span[0] : span[1]]) / (span[1] - span[0]),
    )
    text = _text(words[start:stop])
    numeric = _NUMERIC_DATE.search(text)
    if numeric:
        return numeric.group()
    after = words[stop] if stop < len(words) else None
    if (
        _DAY_MONTH.match(text)
        and after is not None
        and after.line_id == words[stop - 1].line_id
        and _YEAR.match(after.text)
    ):
        return f"{text} {after.text}"  # the year printed right after "24 MAR" on its line
    return text


def _likeliest_date(words: Sequence[LabelledWord]) -> str:
    """The calendar date (numeric) the model found likeliest to be the date, when it labelled
    none: a receipt is dated even where the model doubts it."""
    dates = [
        (w.scores["DATE"], match.group())
        for w in words
        if "DATE" in w.scores
        for match in [_NUMERIC_DATE.search(w.text)]
        if match and _is_calendar_date(match.group())
    ]
    return max(dates, key=lambda pair: pair[0])[1] if dates else ""


def _is_calendar_date(text: str) -> bool:
    a, b, c = (int(part) for part in re.split(r"[/.\-]", text))
    if a > 31:  # year first
        return 1 <= b <= 12 and 1 <= c <= 31
    return 1 <= a <= 31 and 1 <= b <= 31 and min(a, b) <= 12 and (c < 100 or c >= 1900)


def _surest_block(words: Sequence[LabelledWord]) -> list[LabelledWord]:
    blocks: list[list[LabelledWord]] = []
    for word in words:
        if blocks and word.line_id - blocks[-1][-1].line_id in (0, 1):
            blocks[-1].append(word)
        else:
            blocks.append([word])
    return max(blocks, key=lambda block: sum(w.confidence for w in block), default=[])


def _total(words: Sequence[LabelledWord]) -> str:
    values = [w for w in words if _DIGIT.search(w.text)]  # never "TOTAL" itself
    grand: dict[str, float] = {}
    for word in values:
        if word.label == "GRAND_TOTAL":
            grand[word.text] = grand.get(word.text, 0.0) + word.confidence
    if grand:
        return max(grand, key=lambda text: (grand[text], _value(text)))
    # AMOUNT may hold every price (the `amounts` preset on itemised data): the total is the
    # value repeated most (total, paid, ...), else the largest
    counts = Counter(w.text for w in values if w.label == "AMOUNT")
    if counts:
        return max(counts, key=lambda text: (counts[text], _value(text)))
    for label in ("GRAND_TOTAL", "AMOUNT"):
        scored = [(w.scores[label], w.text) for w in words if label in w.scores]
        money = [(p, text) for p, text in scored if _MONEY.search(text)]
        if money:
            probability, text = max(money, key=lambda pair: (pair[0], _value(pair[1])))
            return text if probability >= TOTAL_FALLBACK_MIN else ""
    return ""


def line_items(words: Sequence[LabelledWord]) -> list[dict[str, str]]:
    """Product lines: product words of a line with the line's amount."""
    items = []
    for line_id in sorted({w.line_id for w in words}):
        line = [w for w in words if w.line_id == line_id]
        product = " ".join(w.text for w in line if w.label == "PRODUCT_NAME")
        amount = [w.text for w in line if w.label in ("LINE_TOTAL", "AMOUNT")]
        if product:
            items.append({"product": product, "amount": amount[-1] if amount else ""})
    return items


def _spans(words: Sequence[LabelledWord], labels: tuple[str, ...]) -> list[tuple[int, int]]:
    """(start, stop) of each run of consecutive words holding one of `labels`, in reading order."""
    spans: list[tuple[int, int]] = []
    for index, word in enumerate(words):
        if word.label not in labels:
            continue
        if spans and spans[-1][1] == index:
            spans[-1] = (spans[-1][0], index + 1)
        else:
            spans.append((index, index + 1))
    return spans


def _legal_name(block: Sequence[LabelledWord]) -> list[LabelledWord]:
    """The registered company in a block of merchant lines.

    The name ends with the last line naming a legal form ("... SDN BHD", "... LTD") and starts
    after an "OWNED BY:" lead-in, or as many lines up as it takes to hold `LEGAL_NAME_WORDS`
    words besides the form (a legal name wraps: "WESTERN EASTERN" / "STATIONERY SDN. BHD").
    A brand or outlet line printed around a whole legal name is the trading name, not the
    company. Blocks without a legal form stay whole."""
    lines: list[list[LabelledWord]] = []
    for word in block:
        if lines and lines[-1][-1].line_id == word.line_id:
            lines[-1].append(word)
        else:
            lines.append([word])
    legal = [i for i, line in enumerate(lines) if _LEGAL_FORM.search(_text(line))]
    if len(lines) < 2 or not legal:
        return list(block)
    end = legal[-1]
    name: list[LabelledWord] = []
    for start in range(end, -1, -1):
        name = [w for line in lines[start : end + 1] for w in line]
        lead = max((i + 1 for i, w in enumerate(name[:-1]) if w.text.endswith(":")), default=0)
        if lead:
            return name[lead:]
        if _name_words(_text(name)) >= LEGAL_NAME_WORDS:
            break
    return name


def _text(words: Sequence[LabelledWord]) -> str:
    return " ".join(w.text for w in words)


def _name_words(text: str) -> int:
    """Words of a company name besides its legal form and bracketed parts ("(M)")."""
    bare = re.sub(r"\([^)]*\)?", " ", _LEGAL_FORM.sub(" ", text))
    return len(re.findall(r"[A-Za-z][\w'&.-]*", bare))


def _value(text: str) -> float:
    match = _AMOUNT.search(text.replace(",", ""))
    try:
        return float(match.group()) if match else 0.0
    except ValueError:
        return 0.0


def normalize_field(text: str, name: str = "") -> str:
    """Case and spacing never matter; a total compares by its number ("$1,205.50" = "1205.50")."""
    if name == "total":
        match = _AMOUNT.search(text.replace(",", "").replace(" ", ""))
        if match:
            try:
                return f"{float(match.group()):.2f}"
            except ValueError:
                pass
    return " ".join(text.upper().split())


class FieldScores(ValueObject):
    precision: float
    recall: float
    f1: float
    per_field: dict[str, float]
    receipts: int


def score_fields(
    predicted: Sequence[Mapping[str, str]],
    truth: Sequence[Mapping[str, str]],
    fields: Sequence[str] = ("company", "date", "address", "total"),
) -> FieldScores:
    """Exact-match field precision/recall/F1 after case and whitespace normalisation."""
    tp = fp = fn = 0
    per_field_hits: Counter[str] = Counter()
    per_field_total: Counter[str] = Counter()
    for guess, gold in zip(predicted, truth, strict=True):
        for name in fields:
            want = normalize_field(gold.get(name, ""), name)
            got = normalize_field(guess.get(name, ""), name)
            if want:
                per_field_total[name] += 1
            if want and got == want:
                tp += 1
                per_field_hits[name] += 1
                continue
            if got:
                fp += 1
            if want:
                fn += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return FieldScores(
        precision=precision,
        recall=recall,
        f1=f1,
        per_field={
            name: per_field_hits[name] / per_field_total[name]
            for name in fields
            if per_field_total[name]
        },
        receipts=len(truth),
    )


def words_with_labels(
    texts: Sequence[str],
    labels: Sequence[str],
    lines: Sequence[int],
    confidences: Sequence[float] | None = None,
    scores: Sequence[Mapping[str, float]] | None = None,
) -> list[LabelledWord]:
    """Words from parallel sequences (labels may carry BIO prefixes); without confidences
    every label counts as certain."""
    return [
        LabelledWord(
            text=t,
            label=label_of(label),
            line_id=line,
            confidence=1.0 if confidences is None else min(1.0, max(0.0, confidences[i])),
            scores={} if scores is None else dict(scores[i]),
        )
        for i, (t, label, line) in enumerate(zip(texts, labels, lines, strict=True))
    ]
