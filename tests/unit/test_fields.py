"""Field extraction from labelled words, line items, and SROIE-style field scoring."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receipts.domain.fields import (
    LabelledWord,
    extract_fields,
    line_items,
    normalize_field,
    score_fields,
    words_with_labels,
)


def words(*specs: tuple[str, str] | tuple[str, str, int]) -> list[LabelledWord]:
    return [LabelledWord(text=s[0], label=s[1], line_id=s[2] if len(s) == 3 else 0) for s in specs]


# -- extract_fields --------------------------------------------------------------------------


def test_company_and_address_join_all_their_words_in_reading_order() -> None:
    fields = extract_fields(
        words(
            ("Corner", "MERCHANT_NAME"),
            ("Mart", "MERCHANT_NAME"),
            ("12", "ADDRESS_LINE", 1),
            ("Main St", "ADDRESS_LINE", 1),
            ("Springfield", "ADDRESS", 2),
            ("(555) 123-4567", "PHONE_NUMBER", 3),
        )
    )

    assert fields["company"] == "Corner Mart"
    assert fields["address"] == "12 Main St Springfield"
    assert fields["phone"] == "(555) 123-4567"


def test_a_field_is_one_block_of_consecutive_lines() -> None:
    fields = extract_fields(
        words(
            ("BIG", "MERCHANT_NAME", 0),  # a logo line, apart from the name
            ("GST", "O", 1),
            ("BENS", "MERCHANT_NAME", 2),
            ("GROCER", "MERCHANT_NAME", 2),
            ("SDN BHD", "MERCHANT_NAME", 3),
            ("TOTAL", "O", 9),
            ("2", "MERCHANT_NAME", 12),
        )
    )

    assert fields["company"] == "BENS GROCER SDN BHD"


def test_the_block_a_model_is_surest_of_wins() -> None:
    fields = extract_fields(
        [
            LabelledWord(text="KIKU", label="MERCHANT_NAME", line_id=0, confidence=0.99),
            LabelledWord(text="TK", label="MERCHANT_NAME", line_id=2, confidence=0.6),
            LabelledWord(text="KITCHEN", label="MERCHANT_NAME", line_id=2, confidence=0.6),
        ]
    )

    assert fields["company"] == "TK KITCHEN"  # 1.2 summed beats 0.99


def merchant_lines(*lines: str) -> list[LabelledWord]:
    return [
        LabelledWord(text=text, label="MERCHANT_NAME", line_id=i)
        for i, line in enumerate(lines)
        for text in line.split()
    ]


@pytest.mark.parametrize(
    ("lines", "company"),
    [
        # a brand or logo line above a whole legal name is the trading name
        (
            ("KIKU JAPANESE RESTAURANT", "TK DIVISION KITCHEN SDN BHD"),
            "TK DIVISION KITCHEN SDN BHD",
        ),
        (("GEOVENTURE", "TASTE OF THE WORLD SDN BHD"), "TASTE OF THE WORLD SDN BHD"),
        # an outlet line after it too
        (("ANEKA INTERTRADE MARKETING SDN BHD", "WELLMART"), "ANEKA INTERTRADE MARKETING SDN BHD"),
        # a legal name that wraps keeps the lines it needs
        (("WESTERN EASTERN", "STATIONERY SDN. BHD"), "WESTERN EASTERN STATIONERY SDN. BHD"),
        (
            ("THE COFFEE BEAN &", "TEA LEAF (M) SDN. BHD."),
            "THE COFFEE BEAN & TEA LEAF (M) SDN. BHD.",
        ),
        (
            ("AIK HUAT HARDWARE", "ENTERPRISE (SETIA", "ALAM) SDN BHD"),
            "AIK HUAT HARDWARE ENTERPRISE (SETIA ALAM) SDN BHD",
        ),
        (("BENS GROCER", "SDN BHD"), "BENS GROCER SDN BHD"),
        # an "owned by:" lead-in starts the name
        (("OLD ASIA", "OWNED BY: CHEF LEE SDN BHD"), "CHEF LEE SDN BHD"),
        (("BANH MI", "DIMILIKI: BANH MI CAFE SDN BHD"), "BANH MI CAFE SDN BHD"),
        # other legal forms
        (("Corner Mart", "Harbour Fresh Foods Ltd"), "Harbour Fresh Foods Ltd"),
        # no legal form: the block stays whole
        (("NOODLE HOUSE", "FTOF NOODLE HOUSE"), "NOODLE HOUSE FTOF NOODLE HOUSE"),
        (("SYARIKAT PERNIAGAAN", "GIN KEE"), "SYARIKAT PERNIAGAAN GIN KEE"),
        # one line: whatever it holds
        (("OWNED BY: CHEF LEE SDN BHD",), "OWNED BY: CHEF LEE SDN BHD"),
    ],
)
def test_the_company_is_the_legal_name_in_a_block_of_merchant_lines(
    lines: tuple[str, ...], company: str
) -> None:
    assert extract_fields(merchant_lines(*lines))["company"] == company


@given(
    st.lists(
        st.lists(
            st.sampled_from(["KIKU", "TK", "SDN", "BHD", "LTD", "(M)", "BY:", "CO.", "ALAM)", "X"]),
            min_size=1,
            max_size=5,
        ),
        min_size=1,
        max_size=5,
    )
)
def test_the_company_is_a_run_of_the_merchant_words_in_their_order(
    lines: list[list[str]],
) -> None:
    block = merchant_lines(*(" ".join(line) for line in lines))

    company = extract_fields(block)["company"].split()

    texts = [w.text for w in block]
    assert company
    assert any(texts[start : start + len(company)] == company for start in range(len(texts)))


def test_date_and_time_are_the_first_span_only() -> None:
    fields = extract_fields(
        words(
            ("01/02/2024", "DATE"),
            ("Tue", "DATE"),
            ("TOTAL", "O"),
            ("09:15", "TIME"),
            ("x", "O"),
            ("03/04/2024", "DATE"),
            ("10:00", "TIME"),
        )
    )

    assert fields["date"] == "01/02/2024"  # the numeric date of the first span ("Tue" dropped)
    assert fields["time"] == "09:15"


def test_total_is_the_grand_total_when_there_is_one() -> None:
    fields = extract_fields(
        words(("5.00", "AMOUNT"), ("5.00", "AMOUNT"), ("5.00", "AMOUNT"), ("12.40", "GRAND_TOTAL"))
    )

    assert fields["total"] == "12.40"


def test_total_is_the_most_frequent_amount_without_a_grand_total() -> None:
    fields = extract_fields(words(("3.00", "AMOUNT"), ("9.90", "AMOUNT"), ("3.00", "AMOUNT")))

    assert fields["total"] == "3.00"


def test_a_tie_between_amounts_goes_to_the_largest() -> None:
    fields = extract_fields(words(("7.00", "AMOUNT"), ("$1,205.50", "AMOUNT"), ("80.10", "AMOUNT")))

    assert fields["total"] == "$1,205.50"


def test_a_models_grand_total_is_the_value_it_is_surest_of_not_the_largest() -> None:
    fields = extract_fields(
        [
            LabelledWord(text="26.11", label="GRAND_TOTAL", line_id=7, confidence=0.83),
            LabelledWord(text="26.10", label="GRAND_TOTAL", line_id=8, confidence=0.99),
        ]
    )

    assert fields["total"] == "26.10"


def test_merged_amounts_give_the_largest_price_whatever_the_confidence() -> None:
    fields = extract_fields(
        [
            LabelledWord(text="2.50", label="AMOUNT", line_id=4, confidence=0.99),
            LabelledWord(text="7.25", label="AMOUNT", line_id=5, confidence=0.99),
            LabelledWord(text="9.75", label="AMOUNT", line_id=9, confidence=0.97),
        ]
    )

    assert fields["total"] == "9.75"


def test_an_amount_on_several_rows_outweighs_one_sure_row() -> None:
    fields = extract_fields(
        [
            LabelledWord(text="51.00", label="AMOUNT", line_id=3, confidence=0.95),
            LabelledWord(text="15.90", label="AMOUNT", line_id=8, confidence=0.6),
            LabelledWord(text="15.90", label="AMOUNT", line_id=9, confidence=0.6),
        ]
    )

    assert fields["total"] == "15.90"


def test_without_a_total_label_the_likeliest_money_word_is_the_total() -> None:
    fields = extract_fields(
        [
            LabelledWord(text="TOTAL", label="O", scores={"O": 0.9, "AMOUNT": 0.1}),
            LabelledWord(text="RM96.20", label="O", scores={"O": 0.7, "AMOUNT": 0.3}),
            LabelledWord(text="12.00", label="O", scores={"O": 0.8, "AMOUNT": 0.2}),
        ]
    )

    assert fields["total"] == "RM96.20"


def test_a_total_label_on_a_word_without_digits_is_no_total() -> None:
    fields = extract_fields(
        [
            LabelledWord(text="AMOUNT", label="AMOUNT", confidence=0.55, scores={"AMOUNT": 0.55}),
            LabelledWord(text="50.00", label="O", line_id=3, scores={"O": 0.9, "AMOUNT": 0.1}),
        ]
    )

    assert fields["total"] == "50.00"


def test_the_fallback_needs_a_money_word_and_some_belief() -> None:
    unsure = [
        LabelledWord(text="96.20", label="O", scores={"O": 0.99, "AMOUNT": 0.01}),
        LabelledWord(text="TOTAL", label="O", scores={"O": 0.2, "AMOUNT": 0.8}),
    ]
    assert "total" not in extract_fields(unsure)
    # labels a person gave (no scores) never invent a total
    assert "total" not in extract_fields(words(("96.20", "O")))


@pytest.mark.parametrize(
    ("texts", "date"),
    [
        (["5.04", "28/02/2018"], "28/02/2018"),  # a neighbour taken along
        (["21/05/2018TIME:"], "21/05/2018"),  # glued to the next key
        (["02/06/18", "02/06/18"], "02/06/18"),
        (["2018-05-12"], "2018-05-12"),
        (["12", "JAN", "2018"], "12 JAN 2018"),  # no numeric date: the entity as it is
    ],
)
def test_a_numeric_date_is_read_out_of_its_entity(texts: list[str], date: str) -> None:
    fields = extract_fields(words(*[(text, "DATE") for text in texts]))

    assert fields["date"] == date


@pytest.mark.parametrize(
    ("line", "date"),
    [
        (["24", "MAR", "18", "09:12:41"], "24 MAR 18"),  # the year the model left out
        (["MAR", "24,", "2018"], "MAR 24, 2018"),
        (["24", "MAR", "09:12:41"], "24 MAR"),  # a time is no year
        (["24", "MAR", "2018", "7"], "24 MAR 2018"),  # a complete date takes nothing more
    ],
)
def test_a_day_and_month_take_the_year_that_follows_on_their_line(
    line: list[str], date: str
) -> None:
    labelled = [
        LabelledWord(text=text, label="DATE" if i < 2 else "O", line_id=10)
        for i, text in enumerate(line)
    ]

    assert extract_fields(labelled)["date"] == date


def test_the_date_is_the_entity_a_model_is_surest_of() -> None:
    fields = extract_fields(
        [
            LabelledWord(text="27", label="DATE", line_id=38, confidence=0.6),
            LabelledWord(text="MARCH,", label="O", line_id=38),
            LabelledWord(text="27/03/2018", label="DATE", line_id=52, confidence=0.99),
        ]
    )

    assert fields["date"] == "27/03/2018"


@pytest.mark.parametrize(
    ("texts", "date"),
    [
        ([":17/04/18", "8.00"], "17/04/18"),  # glued to "DATE :", labelled O
        (["03-3279-1851", "2018-04-17"], "2018-04-17"),  # a phone number is no date
        (["45/17/18", "12.50"], ""),  # neither order is a calendar date
    ],
)
def test_without_a_date_label_the_likeliest_calendar_date_is_the_date(
    texts: list[str], date: str
) -> None:
    scored = [
        LabelledWord(text=text, label="O", scores={"O": 0.999, "DATE": 0.001}) for text in texts
    ]

    assert extract_fields(scored).get("date", "") == date
    # labels a person gave (no scores) never invent a date
    assert "date" not in extract_fields(words(*[(text, "O") for text in texts]))


@pytest.mark.parametrize(
    ("lines", "company"),
    [
        (("BROADVIEW MARKETING SDN BHD(728384-M)",), "BROADVIEW MARKETING SDN BHD"),
        (("GARDENIA BAKERIES (KL) SDN BHD (139386 X)",), "GARDENIA BAKERIES (KL) SDN BHD"),
        (("KEDAI (CO. REG NO: 001234567-P) MAJU",), "KEDAI MAJU"),
        (("(12345-X)",), "(12345-X)"),  # nothing else: kept as read
    ],
)
def test_a_registration_number_is_not_part_of_the_company(
    lines: tuple[str, ...], company: str
) -> None:
    assert extract_fields(merchant_lines(*lines))["company"] == company


def test_a_year_on_the_next_line_is_not_taken() -> None:
    fields = extract_fields(words(("24", "DATE", 1), ("MAR", "DATE", 1), ("18", "O", 2)))

    assert fields["date"] == "24 MAR"


def test_no_labelled_words_no_fields() -> None:
    assert extract_fields(words(("hello", "O"))) == {}
    assert extract_fields([]) == {}


def test_words_with_labels_strips_bio_prefixes() -> None:
    labelled = words_with_labels(
        ["Mart", "1.00", "x"], ["B-MERCHANT_NAME", "I-AMOUNT", "O"], [0, 1, 1]
    )

    assert [(w.text, w.label, w.line_id) for w in labelled] == [
        ("Mart", "MERCHANT_NAME", 0),
        ("1.00", "AMOUNT", 1),
        ("x", "O", 1),
    ]


# -- line items ------------------------------------------------------------------------------


def test_line_items_pair_product_words_with_their_line_amount() -> None:
    items = line_items(
        words(
            ("Corner", "MERCHANT_NAME", 0),
            ("Milk", "PRODUCT_NAME", 1),
            ("2%", "PRODUCT_NAME", 1),
            ("1.99", "LINE_TOTAL", 1),
            ("Bread", "PRODUCT_NAME", 2),
            ("TOTAL", "O", 3),
            ("1.99", "GRAND_TOTAL", 3),
        )
    )

    assert items == [{"product": "Milk 2%", "amount": "1.99"}, {"product": "Bread", "amount": ""}]


def test_a_line_item_takes_the_last_amount_of_its_line() -> None:
    items = line_items(
        words(("Eggs", "PRODUCT_NAME"), ("2.00", "AMOUNT"), ("@", "O"), ("4.00", "AMOUNT"))
    )

    assert items == [{"product": "Eggs", "amount": "4.00"}]


# -- scoring ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "normal"),
    [
        ("  corner   MART ", "company", "CORNER MART"),
        ("$1,205.50", "total", "1205.50"),
        ("1205.5", "total", "1205.50"),
        ("TOTAL: 12", "total", "12.00"),
        ("no number", "total", "NO NUMBER"),
    ],
)
def test_normalize_field(text: str, name: str, normal: str) -> None:
    assert normalize_field(text, name) == normal


def test_exact_match_after_normalisation_counts() -> None:
    scores = score_fields(
        [{"company": "corner  mart", "date": "01/02/2024"}],
        [{"company": "CORNER MART", "date": "01/02/2024"}],
        fields=("company", "date"),
    )

    assert (scores.precision, scores.recall, scores.f1) == (1.0, 1.0, 1.0)


def test_totals_compare_by_number() -> None:
    scores = score_fields([{"total": "$1,205.50"}], [{"total": "1205.50"}], fields=("total",))

    assert scores.f1 == 1.0


def test_a_wrong_value_is_a_false_positive_and_a_false_negative() -> None:
    scores = score_fields([{"company": "Corner"}], [{"company": "Corner Mart"}], ("company",))

    assert (scores.precision, scores.recall, scores.f1) == (0.0, 0.0, 0.0)


def test_missing_and_extra_fields() -> None:
    # truth: company, date, total; guessed: company right, date missing, total wrong, address extra
    scores = score_fields(
        [{"company": "Mart", "total": "9.00", "address": "1 Main St"}],
        [{"company": "Mart", "date": "01/02/2024", "total": "8.00"}],
    )

    # tp 1; fp: total, address = 2; fn: date, total = 2
    assert scores.precision == pytest.approx(1 / 3)
    assert scores.recall == pytest.approx(1 / 3)
    assert scores.f1 == pytest.approx(1 / 3)


def test_per_field_accuracy_covers_only_fields_that_have_a_truth() -> None:
    scores = score_fields(
        [{"company": "A", "total": "1.00"}, {"company": "X", "total": "2.00"}],
        [{"company": "A", "total": "1.00"}, {"company": "B", "total": "2"}],
    )

    assert scores.per_field == {"company": 0.5, "total": 1.0}
    assert scores.receipts == 2


def test_scoring_needs_as_many_guesses_as_truths() -> None:
    with pytest.raises(ValueError):
        score_fields([{}], [{}, {}])


def test_nothing_to_score_scores_zero() -> None:
    scores = score_fields([{}], [{}])

    assert (scores.precision, scores.recall, scores.f1, scores.per_field) == (0.0, 0.0, 0.0, {})
