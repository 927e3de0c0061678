"""Chinese word segmentation for BM25: jieba in search mode with the domain dictionary."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import jieba

jieba.setLogLevel(logging.WARNING)

# Function words and question words that carry no legal meaning. Words such as 不得, 应当 stay.
STOPWORDS = set(
    "的 了 和 与 及 或 是 在 对 把 被 给 就 都 也 还 又 而 并 从 向 于 以 之 其 这 那 这种 那些 这样 "
    "什么 怎么 怎么办 怎样 如何 哪些 哪个 哪天 多少 几 吗 呢 吧 啊 呀 么 嘛 我 我们 你 你们 他 他们 "
    "自己 要 会 能 能不能 可以 可不可以 有 没有 是不是 一个 一下 一些 那个 这个 时候 ， 。 、 ？ ！".split()
)
_WORD = re.compile(r"\w", re.UNICODE)


class Tokenizer:
    """A jieba tokenizer of its own (no global state) with extra user words."""

    def __init__(self, user_words: Iterable[str] = ()) -> None:
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        for word in user_words:
            self._jieba.add_word(word, freq=20000)

    def tokens(self, text: str) -> list[str]:
        """Search-mode tokens, lower-cased, without punctuation and stopwords."""
        out = []
        for token in self._jieba.lcut_for_search(text):
            token = token.strip().lower()
            if token and token not in STOPWORDS and _WORD.search(token):
                out.append(token)
        return out
