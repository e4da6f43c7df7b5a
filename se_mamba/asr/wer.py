"""Word and character error rates with one text normalisation for all systems.

The normalisation lower-cases, maps every character that is not a letter,
digit, apostrophe or whitespace to a space, spells out whole numbers below
1000 ("6 spoons" -> "six spoons": Whisper writes digits where references and
other recognisers write words), writes British spellings the American way
("harbour" -> "harbor": Whisper writes American spelling whatever the
speaker's, and the corpus texts are British; the 1,739-word map of Whisper's
English text normaliser, Radford et al. 2022, Appendix C, from the
``whisper-normalizer`` package) and collapses whitespace, so "Hello, World!"
and "hello world" are the same transcript. Rates are corpus
level (total edits / total reference words), as sclite and ESPnet report.
"""
import functools
import re

_NOT_WORD = re.compile(r"[^\w'\s]|_")


_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_NUMBER = re.compile(r"\b\d{1,3}\b")


@functools.lru_cache(maxsize=1)
def _american_spelling():
    from ..extras import require

    return require("whisper_normalizer.english", "asr", "WER normalisation").EnglishSpellingNormalizer().mapping


def number_words(n):
    """English words of ``0 <= n < 1000``.

    >>> number_words(6), number_words(42), number_words(305)
    ('six', 'forty two', 'three hundred five')
    """
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_words(n % 100))


def normalise_text(text):
    """Lower case, punctuation removed, small numbers spelt out, American
    spelling, single spaces.

    >>> normalise_text("  Six balloons, of FRESH snow-peas! ")
    'six balloons of fresh snow peas'
    >>> normalise_text("6 spoons, 5 thick slabs near the Harbour")
    'six spoons five thick slabs near the harbor'
    """
    text = _NOT_WORD.sub(" ", text.lower())
    text = _NUMBER.sub(lambda m: number_words(int(m.group())), text)
    spelling = _american_spelling()
    return " ".join(spelling.get(w, w) for w in text.split())


def error_rates(references, hypotheses):
    """Corpus WER and CER (fractions) and the word edit counts.

    Empty references are skipped (no words to get wrong); an empty
    hypothesis counts every reference word as deleted.

    >>> r = error_rates(["the cat sat"], ["the cat sat down"])
    >>> round(r["wer"], 4), r["insertions"], r["ref_words"]
    (0.3333, 1, 3)
    """
    from ..extras import require

    jiwer = require("jiwer", "asr", "WER")

    pairs = [(normalise_text(r), normalise_text(h)) for r, h in zip(references, hypotheses)]
    pairs = [(r, h) for r, h in pairs if r]
    if not pairs:
        raise ValueError("error_rates: no non-empty reference transcript")
    refs = [r for r, _ in pairs]
    hyps = [h for _, h in pairs]
    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_characters(refs, hyps)
    n_ref = sum(len(r.split()) for r in refs)
    return {"wer": words.wer, "cer": chars.cer, "substitutions": words.substitutions,
            "deletions": words.deletions, "insertions": words.insertions, "ref_words": n_ref,
            "utterances": len(refs)}
