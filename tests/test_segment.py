import re

from hypothesis import given, settings, strategies as st

from app.segment import segment

ALNUM = re.compile(r"[^\W_]")


def check_invariants(text, paragraphs):
    last_end = 0
    for i, p in enumerate(paragraphs):
        assert p.index == i
        assert text[p.start:p.end] == p.text
        assert p.start >= last_end and p.end > p.start
        assert p.text == p.text.strip()
        last_end = p.end
    # every letter/digit of the input is in exactly one paragraph
    covered = [False] * len(text)
    for p in paragraphs:
        for k in range(p.start, p.end):
            assert not covered[k]
            covered[k] = True
    for k, ch in enumerate(text):
        if ALNUM.match(ch):
            assert covered[k], f"lost character {ch!r} at {k}"


def test_single_newline_lines_are_paragraphs():
    text = "Headline about chips\nFirst paragraph ends here.\nSecond paragraph, too."
    assert [p.text for p in segment(text)] == text.split("\n")


def test_blank_lines_crlf_and_offsets():
    text = "First para.\r\n\r\nThe second paragraph was hard-wrapped\r\nonto a new line.\r\n\r\n\r\nThird."
    ps = segment(text)
    assert [p.text for p in ps] == ["First para.", "The second paragraph was hard-wrapped\r\nonto a new line.", "Third."]
    check_invariants(text, ps)


def test_markdown_tables_lists_headings():
    text = "# Title\n\n| Area | Goal |\n|---|---|\n| Chips | Local fabs |\n- one item\n- two item\n\nCaption: TASS"
    texts = [p.text for p in segment(text)]
    assert texts == ["# Title", "| Area | Goal |", "| Chips | Local fabs |", "- one item", "- two item", "Caption: TASS"]


def test_cyrillic_hard_wrap_joins():
    text = "Правительство поддержит переход\nна отечественное программное обеспечение.\nНовая строка."
    texts = [p.text for p in segment(text)]
    assert texts == ["Правительство поддержит переход\nна отечественное программное обеспечение.", "Новая строка."]


def test_long_paragraph_split_at_sentences():
    sentence = "Sanctions have reshaped the supply of chips to regional plants. "
    text = sentence * 100
    ps = segment(text, max_chars=500)
    assert len(ps) > 1 and all(len(p.text) <= 500 for p in ps)
    assert all(p.text.endswith("plants.") for p in ps)
    check_invariants(text, ps)


def test_nothing_to_score():
    assert segment("") == [] and segment("  \n\n\t ") == [] and segment("|---|---|\n***") == []


def test_seed_documents_give_their_lines(seed_rows):
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "seeds"
    for path in sorted(root.glob("*.txt")):
        text = path.read_text("utf-8")
        ps = segment(text)
        lines = [r["text"] for r in seed_rows if r["doc"] == path.stem and re.search(r"[^\W_]", r["text"])]
        assert [p.text for p in ps] == lines


pieces = st.sampled_from(list("ab cdА Бя.!?,\n\r\t|-#") + ["\r\n", "\u2028", "é", "字", "Word ", "слово "])
texts = st.lists(pieces, max_size=200).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts, st.integers(min_value=5, max_value=200))
def test_property_offsets_and_coverage(text, max_chars):
    check_invariants(text, segment(text, max_chars=max_chars))


@settings(max_examples=300, deadline=None)
@given(texts, st.integers(min_value=5, max_value=200))
def test_property_idempotent(text, max_chars):
    for p in segment(text, max_chars=max_chars):
        again = segment(p.text, max_chars=max_chars)
        assert [q.text for q in again] == [p.text]
