import numpy as np

from t2igan.data import text


def test_tokenize_lowercase_words_ascii():
    assert text.tokenize("This bird's crown is BRIGHT red,\ufffd\ufffdand café-brown!") == \
        ["this", "bird", "s", "crown", "is", "bright", "red", "and", "caf", "brown"]
    assert text.tokenize("... ,, !") == []
    assert text.tokenize("naïve") == ["nave"]  # non-ASCII letters dropped inside the word, as AttnGAN


def test_vocab_end_token_first_then_frequency():
    vocab = text.build_vocab([["b", "a", "b"], ["c", "b", "a"]])
    assert vocab == ["<end>", "b", "a", "c"]
    ids = text.encode(["c", "zzz", "b"], {w: i for i, w in enumerate(vocab)})
    assert ids == [3, 1]


def test_select_words_pads_short_captions():
    ids = np.array([5, 6, 7])
    out, n = text.select_words(ids, 18, np.random.default_rng(0))
    assert n == 3 and out.dtype == np.int64 and out.shape == (18,)
    assert out[:3].tolist() == [5, 6, 7] and not out[3:].any()


def test_select_words_keeps_random_words_in_order():
    ids = np.arange(1, 31)
    firsts = set()
    for seed in range(20):
        out, n = text.select_words(ids, 18, np.random.default_rng(seed))
        assert n == 18 and len(set(out.tolist())) == 18
        assert (np.diff(out) > 0).all()  # order preserved
        firsts.add(tuple(out.tolist()))
    assert tuple(range(1, 19)) not in firsts or len(firsts) > 1  # not simply the first 18
    assert len(firsts) > 15
