"""Rule-based entity extraction: prices, colours, sizes, types, quantities, contacts.

The rules are deliberately plain regular expressions over the user's text,
fed by the catalogue's own :class:`~core.commerce.catalog.Vocabulary` (so a new bot
with other colours or product types needs no code change) plus a small
colour synonym map (grey/gray, 红色...) and the bot's own type synonyms (hoody,
trainers, 卫衣: passed in, from the bot's data files). Spans that have been
understood are blanked before the next rule runs, so "#1001" is never also
a list index and "under 40" never also a quantity or a waist size.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from core.commerce.catalog import Vocabulary
from core.commerce.vocabulary import default_lexicon
from core.retrieval import deletions, edit_distance, stem, typo_budget

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a couple": 2, "a pair": 2, "a dozen": 12,
    "dozen": 12,
}
_ZH_NUMBERS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "last": -1,
}

#: Colour words → canonical colour (must also be in the catalogue vocabulary).
COLOR_SYNONYMS: dict[str, str] = {
    "gray": "Grey", "charcoal": "Grey", "dark blue": "Navy", "navy blue": "Navy", "maroon": "Burgundy",
    "wine": "Burgundy", "oxblood": "Burgundy", "khaki": "Tan", "beige": "Tan", "camel": "Tan",
    "ivory": "Cream", "off-white": "Cream", "off white": "Cream", "oatmeal": "Cream", "ecru": "Cream",
    "crimson": "Red", "scarlet": "Red", "army green": "Olive", "sage": "Green", "rose": "Pink",
    "红色": "Red", "红": "Red", "蓝色": "Blue", "蓝": "Blue", "黑色": "Black", "黑": "Black",
    "白色": "White", "白": "White", "灰色": "Grey", "灰": "Grey", "绿色": "Green", "绿": "Green",
    "黄色": "Yellow", "黄": "Yellow", "粉色": "Pink", "粉红": "Pink", "棕色": "Brown",
    "咖啡色": "Brown", "藏青": "Navy", "海军蓝": "Navy", "米色": "Cream", "米白": "Cream",
    "酒红": "Burgundy", "橄榄绿": "Olive", "军绿": "Olive", "卡其": "Tan", "奶油色": "Cream", "驼色": "Tan",
    "紫色": "Purple", "紫": "Purple", "橙色": "Orange", "橘色": "Orange", "金色": "Gold", "银色": "Silver",
    "紅色": "Red", "紅": "Red", "藍色": "Blue", "藍": "Blue", "綠色": "Green", "綠": "Green", "黃色": "Yellow",
    "黃": "Yellow", "粉紅": "Pink", "酒紅": "Burgundy", "軍綠": "Olive", "銀色": "Silver",
}

_SIZE_WORDS = {
    "extra small": ("XS",), "x-small": ("XS",), "xs": ("XS",), "small": ("S", "Small"),
    "medium": ("M",), "large": ("L", "Large"), "extra large": ("XL",), "x-large": ("XL",),
    "xl": ("XL",), "xxl": ("XXL",), "2xl": ("XXL",), "extra extra large": ("XXL",),
    "one size": ("One Size",), "均码": ("One Size",), "大号": ("L", "Large"), "中号": ("M",),
    "小号": ("S", "Small"), "加大号": ("XL",), "加大码": ("XL",), "特大号": ("XXL",), "加加大": ("XXL",),
    "超小号": ("XS",), "大碼": ("L", "Large"), "中碼": ("M",), "小碼": ("S", "Small"), "均碼": ("One Size",),
}

# Any currency: symbols, ISO codes and local abbreviations ("RM 35", "R500", "€90", "A$200").
_CUR = (r"(?:(?:us|a|au|nz|hk|s|c|r)\$|[$€£¥₹₩₱]|\b(?:usd|eur|gbp|aud|nzd|cad|myr|sgd|zar|chf|sek|nok|dkk"
        r"|jpy|cny|inr|rm|r)\s*(?=\d))")
_NUM = r"(\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d{1,6}(?:[.,]\d{1,2})?)"
_UNIT = (r"(?:\s*(?:dollars?|bucks|usd|euros?|eur|pounds?|gbp|ringgit|myr|rand|zar|aud|rupees?|yen"
         r"|元|块钱?|美元|美金|欧元))")
_MONEY = rf"(?:{_CUR}\s*{_NUM}|{_NUM}{_UNIT}?)"

_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE_RE = re.compile(r"(?<![\w#])(\+?\d[\d\s().-]{6,}\d)(?!\w)")
_ORDER_RES = (
    re.compile(r"\bSK-?\s*(\d{3,8})\b", re.IGNORECASE),
    re.compile(r"\border\s*(?:number|num|no\.?|#)?\s*:?\s*#?\s*(\d{3,8})\b", re.IGNORECASE),
    re.compile(r"订单号?\s*#?\s*(\d{3,8})"),
    re.compile(r"#\s?(\d{3,8})\b"),
    re.compile(r"#\s?([A-Za-z]{1,4}-\d{3,8})\b"),  # a shop's own order-name prefix: "#R-2231"
)
_RANGE_RES = (
    re.compile(rf"\bbetween\s+{_MONEY}\s+and\s+{_MONEY}", re.IGNORECASE),
    re.compile(rf"\bfrom\s+{_MONEY}\s+to\s+{_MONEY}", re.IGNORECASE),
    re.compile(rf"{_CUR}\s*{_NUM}\s*(?:-|–|to)\s*{_CUR}?\s*{_NUM}{_UNIT}?", re.IGNORECASE),
    re.compile(rf"\b{_NUM}\s*(?:-|–|to|到|至)\s*{_NUM}{_UNIT}", re.IGNORECASE),
    re.compile(rf"(?<![\d.,]){_NUM}{_UNIT}?\s*(?:-|–|~|～|到|至)\s*{_NUM}{_UNIT}"),
    re.compile(rf"(?<![\d.,]){_NUM}{_UNIT}?\s*(?:-|–|~|到|至|和)\s*{_NUM}{_UNIT}?\s*之间"),
)
_MAX_RE = re.compile(
    rf"\b(?:nothing\s+(?:over|above|more\s+than)|not\s+over|under|below|less\s+than|cheaper\s+than|max(?:imum)?"
    rf"|up\s+to|no\s+more\s+than|not\s+more\s+than"
    rf"|at\s+most|within|budget(?:\s+of|\s+is)?|<|<=)\s*{_MONEY}", re.IGNORECASE)
_MIN_RE = re.compile(
    rf"\b(?:over|above|more\s+than|at\s+least|min(?:imum)?|from|starting\s+at|>|>=)\s*{_MONEY}", re.IGNORECASE)
_AROUND_RE = re.compile(rf"(?:\b(?:around|about|approximately|roughly|circa)\s*|~\s*){_MONEY}", re.IGNORECASE)
# Chinese: a CJK character is a word character, so "价格50到80元" has no \b before the 5: these rules
# look behind for a digit instead.
_ZH_NUM = rf"(?<![\d.,]){_NUM}"
_ZH_MAX_RE = re.compile(
    rf"(?:{_ZH_NUM}{_UNIT}?\s*(?:以下|以内|之内|封顶)"
    rf"|(?:低于|不超过|不高于|不能超过|别超过|少于|不到|便宜于|最多|顶多|预算(?:是|在|为)?|控制在)\s*(?:{_CUR}\s*)?"
    rf"{_ZH_NUM}{_UNIT}?)")
_ZH_MIN_RE = re.compile(
    rf"(?:{_ZH_NUM}{_UNIT}?\s*以上|(?:高于|超过|多于|不低于|至少|贵于)\s*(?:{_CUR}\s*)?{_ZH_NUM}{_UNIT}?)")
_ZH_AROUND_RE = re.compile(rf"(?:大概|大约|差不多)?\s*{_ZH_NUM}{_UNIT}?\s*(?:左右|上下)|(?:大概|大约|差不多)\s*"
                           rf"{_ZH_NUM}{_UNIT}")
_BARE_PRICE_RE = re.compile(rf"{_CUR}\s*{_NUM}|\b{_NUM}\s*(?:dollars?|bucks)|{_ZH_NUM}\s*(?:美元|美金|元|块钱?)",
                            re.IGNORECASE)

#: Full-width forms (ＦＦ０１-ＦＦ５Ｅ: "６０元", "Ｍ码", "＄５０") read as their ASCII twins; one character
#: for one, so the spans the rules blank stay where they were.
FULLWIDTH = str.maketrans({chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)} | {"\u3000": " "})


def halfwidth(text: str) -> str:
    """``text`` with full-width digits, letters and signs as ASCII (same length)."""
    return text.translate(FULLWIDTH)

# Ordinary shop words one edit away from a product type ("stock" ~ "sock"):
# never read them as a misspelt type.
_REAL_WORDS = frozenset({"stock", "stocks", "stocked", "store", "stores", "shop", "shops", "shoot", "boats",
                         "beats", "hats", "cups", "caps", "bag", "bags", "bars", "shirts", "skirts", "tops"})

_NUMWORD = "|".join(sorted(map(re.escape, _NUMBER_WORDS), key=len, reverse=True))
_QTY_RES = (
    re.compile(r"(?<![\w$])[x×]\s?(\d{1,3})\b", re.IGNORECASE),
    re.compile(r"\b(\d{1,3})\s?[x×](?!\w)", re.IGNORECASE),
    re.compile(r"\b(?:qty|quantity)\s*[:=]?\s*(\d{1,3})\b", re.IGNORECASE),
    re.compile(rf"\b(\d{{1,3}}|{_NUMWORD})\s+(?:of\s+(?:them|these|those|it|this|that|each)|pairs?|pieces?|pcs"
               r"|units?|items?|copies)\b", re.IGNORECASE),
    re.compile(rf"\b(?:buy|take|add|order|get|want|need|have|give\s+me|i'?ll\s+take)\s+(\d{{1,3}}|{_NUMWORD})\b"
               r"(?!\s*(?:st|nd|rd|th|%))", re.IGNORECASE),
)
_ZH_QTY_RE = re.compile(r"(\d{1,3}|[一二两三四五六七八九十])\s*(?:件|个|双|条|顶|只|份|盒)")
_INDEX_RES = (
    re.compile(r"\b(?:number|no\.?|option|item|choice|result)\s*#?\s*(\d{1,2})\b", re.IGNORECASE),
    re.compile(r"#(\d{1,2})\b"),
    re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\b", re.IGNORECASE),
)
_ORD_WORD = "|".join(_ORDINALS)
_ORDINAL_RES = (
    re.compile(rf"\bthe\s+({_ORD_WORD})(?:\s+(?:one|item|option|product|choice|result))?\b", re.IGNORECASE),
    re.compile(rf"\b({_ORD_WORD})\s+(?:one|item|option|product|choice|result)\b", re.IGNORECASE),
)
_ZH_INDEX_RE = re.compile(r"第\s*(\d{1,2}|[一二两三四五六七八九十])\s*(?:个|件|款|条|双)?")
_IN_STOCK_RE = re.compile(r"\b(?:in[\s-]stock|available\s+now|available|ready\s+to\s+ship)\b|有货|现货", re.IGNORECASE)
_CHEAPER_RE = re.compile(r"\b(?:cheaper|cheapest|less\s+expensive|lower\s+price[ds]?|budget|affordable|inexpensive)\b"
                         r"|便宜", re.IGNORECASE)
_PRICIER_RE = re.compile(r"\b(?:pricier|more\s+expensive|most\s+expensive|higher\s+end|premium|fancier|luxury)\b"
                         r"|贵一点|更贵|高端", re.IGNORECASE)
_SIZE_KEY_RE = re.compile(r"\b(?:size|sz|waist|us\s+size|shoe\s+size)\s*:?\s*([0-9]{1,2}(?:\.5)?|[a-z0-9-]{1,4})\b"
                          r"|(?:尺码|尺寸|码数|号码|鞋码|腰围)\s*(?:是|要|为|:)?\s*([0-9a-zA-Z]{1,4})"
                          r"|(?<![A-Za-z0-9.])(?:([0-9]{1,2}(?:\.5)?)\s*码|([2-6]?X{0,3}[SML])\s*(?:码|号))",
                          re.IGNORECASE)
# ASCII look-arounds: "要M码" has a CJK character (a word character) right before the M.
_UPPER_SIZE_RE = re.compile(r"(?<![A-Za-z0-9_'])(XXS|XS|S|M|L|XL|XXL|XXXL|2XL|3XL)(?![A-Za-z0-9_'])")
_WORD_RE = re.compile(r"[a-z]+")

# Characters that re.IGNORECASE matches to an ASCII letter but str.lower() does
# not turn into it (checked over all of Unicode); see :func:`_fold`.
_ASCII_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})
#: Most misspelt product-type words remembered (per extractor) with their verdict.
TYPO_CACHE_SIZE = 4096


def _fold(text: str) -> str:
    """Lower-case such that every text an ASCII ``re.IGNORECASE`` pattern matches contains its needle."""
    return text.translate(_ASCII_FOLD).lower()


class _Word:
    """One vocabulary word and the pattern that finds it, with a cheap substring pre-check.

    A pattern can only match where its word occurs, so a substring search
    for ``needle`` (in the :func:`_fold`-ed text when ``folded``) skips most
    of the regular-expression searches; it never skips a word the pattern
    would have found.
    """

    __slots__ = ("folded", "needle", "pattern", "value")

    def __init__(self, word: str, pattern: re.Pattern[str], value: str) -> None:
        self.folded = word.isascii()
        self.needle = _fold(word) if self.folded else word
        self.pattern = pattern
        self.value = value


_SIZE_WORD_RES = tuple(
    _Word(w, re.compile(rf"\b{re.escape(w)}\b", re.IGNORECASE) if w.isascii() else re.compile(w), w)
    for w in sorted(_SIZE_WORDS, key=len, reverse=True)
)


class Entities(BaseModel):
    """What :class:`EntityExtractor` found in one text. Every field is optional."""

    model_config = ConfigDict(frozen=True)

    price_min: Decimal | None = None
    price_max: Decimal | None = None
    colors: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()
    product_types: tuple[str, ...] = ()
    quantity: int | None = None
    order_number: str | None = None
    email: str | None = None
    phone: str | None = None
    in_stock: bool = False
    list_index: int | None = None  # 1-based; -1 means "the last one"
    sort: Literal["cheaper", "pricier"] | None = None

    def as_dict(self) -> dict[str, Any]:
        """Only the fields that were found, JSON-ready (for ``Decision.entities``)."""
        return self.model_dump(mode="json", exclude_defaults=True)


def normalize_phone(raw: str, default_country: str = "1") -> str | None:
    """A phone number as E.164 (``+12065551001``), or None when it cannot be one."""
    digits = re.sub(r"\D", "", raw)
    if raw.strip().startswith("+"):
        return f"+{digits}" if 8 <= len(digits) <= 15 else None
    if raw.strip().startswith("00") and 10 <= len(digits) <= 17:
        return f"+{digits[2:]}"
    if len(digits) == 10:
        return f"+{default_country}{digits}"
    if len(digits) == 11 and digits.startswith(default_country):
        return f"+{digits}"
    return None


def _number(raw: str) -> int | None:
    raw = raw.strip().lower()
    if raw.isdigit():
        return int(raw)
    if raw in _NUMBER_WORDS:
        return _NUMBER_WORDS[raw]
    if raw in _ZH_NUMBERS:
        return _ZH_NUMBERS[raw]
    return None


def _money(*groups: str | None) -> Decimal | None:
    for g in groups:
        if g:
            return _amount(g)
    return None


def _amount(raw: str) -> Decimal:
    """"2,000" is two thousand, "19,99" is nineteen and change."""
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?", raw):
        return Decimal(raw.replace(",", ""))
    return Decimal(raw.replace(",", "."))


class _Text:
    """The text being read, with understood spans blanked out as rules consume them."""

    def __init__(self, text: str) -> None:
        self.value = text

    def take(self, pattern: re.Pattern[str], group: int = 0) -> re.Match[str] | None:
        match = pattern.search(self.value)
        if match:
            start, end = match.span(group)
            self.value = self.value[:start] + " " * (end - start) + self.value[end:]
        return match

    def blank(self, span: tuple[int, int]) -> None:
        start, end = span
        self.value = self.value[:start] + " " * (end - start) + self.value[end:]


class EntityExtractor:
    """Finds entities in a user's text, using the catalogue's vocabulary.

    Args:
        vocabulary: colours, sizes and product types that exist in the shop;
            only these are ever returned.
        default_country: calling code used to complete national phone numbers.
    """

    def __init__(self, vocabulary: Vocabulary, *, default_country: str = "1",
                 type_synonyms: Mapping[str, Sequence[str]] | None = None) -> None:
        self.vocabulary = vocabulary
        self.default_country = default_country
        self.type_synonyms = dict(type_synonyms or {})
        self._colors = self._color_patterns(vocabulary)
        self._types = self._type_forms(vocabulary)
        self._type_res = [_Word(f, re.compile(rf"(?<![\w-]){re.escape(f)}(?![\w-])", re.IGNORECASE)
                                if f.isascii() else re.compile(re.escape(f)), t) for f, t in self._types]
        # Typo tolerance: forms a misspelt word may stand for, found through a
        # deletion neighbourhood (two words within k edits share a string left
        # after at most k deletions from each) instead of an edit distance to
        # every form; each word's verdict is cached.
        self._typo_forms = [(f, t) for f, t in self._types if f.isascii() and " " not in f and len(f) > 3]
        self._typo_longest = max((len(f) for f, _ in self._typo_forms), default=0)
        self._typo_index: dict[str, set[int]] = {}
        for i, (form, _) in enumerate(self._typo_forms):
            for variant in set(deletions(form, 2)):
                self._typo_index.setdefault(variant, set()).add(i)
        self._typo_type = lru_cache(maxsize=TYPO_CACHE_SIZE)(self._typo_type_uncached)
        self._sizes = {s.lower(): s for s in vocabulary.sizes}
        ascii_forms = "|".join(re.escape(f) for f, _ in self._types if f.isascii())
        # "3 hoodies", "two red mugs": a count right before a product word.
        self._qty_type_re = re.compile(
            rf"\b(\d{{1,3}}|{_NUMWORD})\s+(?:[a-z]+\s+){{0,2}}(?:{ascii_forms or 'x^'})\b", re.IGNORECASE)

    @staticmethod
    def _color_patterns(vocabulary: Vocabulary) -> list[_Word]:
        known = {c.lower(): c for c in vocabulary.colors}
        words: dict[str, str] = dict(known)
        for word, target in COLOR_SYNONYMS.items():
            if target.lower() in known:
                words[word.lower()] = known[target.lower()]
        # Other languages' colour words from the shop-independent lexicon ("藏青", "紫色"), for any
        # catalogue: the word stands for the shop's colour of its family, the family's own name first.
        lexicon = default_lexicon()
        by_family: dict[str, str] = {}
        for c in sorted(vocabulary.colors, key=lambda c: (lexicon.colour_of(c) != c.lower(), c)):
            family = lexicon.colour_of(c)
            if family is not None:
                by_family.setdefault(family, c)
        for word, family in lexicon.colour_family.items():
            if not word.isascii() and word not in words and family in by_family:
                words[word] = by_family[family]
        ordered = sorted(words, key=len, reverse=True)  # "navy blue" before "blue"
        return [_Word(w, re.compile(rf"\b{re.escape(w)}\b", re.IGNORECASE) if w.isascii()
                      else re.compile(re.escape(w)), words[w]) for w in ordered]

    def _type_forms(self, vocabulary: Vocabulary) -> list[tuple[str, str]]:
        forms: dict[str, str] = {}
        for t in vocabulary.product_types:
            lower = t.lower()
            for form in (lower, stem(lower), lower.replace("-", ""), *self.type_synonyms.get(t, ())):
                forms.setdefault(form.lower(), t)
        return sorted(forms.items(), key=lambda kv: len(kv[0]), reverse=True)

    def extract(self, text: str) -> Entities:
        """Read every entity in ``text``; never raises on odd input."""
        text = halfwidth(text or "")
        work = _Text(text)
        found: dict[str, Any] = {}

        if m := work.take(_EMAIL_RE):
            found["email"] = m.group(0).lower()
        for pattern in _ORDER_RES:
            if order := work.take(pattern):
                found["order_number"] = f"#{order.group(1).upper()}"
                break
        while m := work.take(_PHONE_RE):
            if phone := normalize_phone(m.group(1), self.default_country):
                found["phone"] = phone
                break
        found.update(self._prices(work))
        if m := work.take(self._qty_type_re, group=1):
            found["quantity"] = _number(m.group(1))
        found["sizes"] = self._sizes_in(work, text)
        found["product_types"] = self._types_in(work)
        found["colors"] = tuple(dict.fromkeys(w.value for w in self._present(self._colors, work)
                                              if work.take(w.pattern)))
        found["list_index"] = self._list_index(work)
        found["quantity"] = found.get("quantity") or self._quantity(work) or self._bare_count(work)
        found["in_stock"] = bool(_IN_STOCK_RE.search(work.value))
        if _CHEAPER_RE.search(work.value):
            found["sort"] = "cheaper"
        elif _PRICIER_RE.search(work.value):
            found["sort"] = "pricier"
        return Entities(**{k: v for k, v in found.items() if v is not None})

    def without_prices(self, text: str) -> str:
        """``text`` (full-width forms as ASCII) with the prices and ranges it says blanked out."""
        work = _Text(halfwidth(text or ""))
        self._prices(work)
        return work.value

    def _prices(self, work: _Text) -> dict[str, Decimal]:
        for pattern in _RANGE_RES:
            if m := work.take(pattern):
                nums = [_amount(g) for g in m.groups() if g]
                if len(nums) >= 2:
                    lo, hi = sorted(nums[:2])
                    return {"price_min": lo, "price_max": hi}
        out: dict[str, Decimal] = {}
        for pattern, key in ((_MAX_RE, "price_max"), (_ZH_MAX_RE, "price_max"),
                             (_MIN_RE, "price_min"), (_ZH_MIN_RE, "price_min")):
            if key not in out and (m := work.take(pattern)):
                value = _money(*m.groups())
                if value is not None:
                    out[key] = value
        if out:
            return out
        for pattern in (_AROUND_RE, _ZH_AROUND_RE, _BARE_PRICE_RE):
            if m := work.take(pattern):
                value = _money(*m.groups())
                if value is not None:
                    return {"price_min": (value * Decimal("0.8")).quantize(Decimal("0.01")),
                            "price_max": (value * Decimal("1.2")).quantize(Decimal("0.01"))}
        return out

    def _sizes_in(self, work: _Text, original: str) -> tuple[str, ...]:
        sizes: list[str] = []
        for m in list(_SIZE_KEY_RE.finditer(work.value)):
            values = self._size_values(next((g for g in m.groups() if g), "").lower())
            if values:
                sizes.extend(values)
                work.blank(m.span())
        for word in self._present(_SIZE_WORD_RES, work):
            if work.take(word.pattern):
                sizes.extend(s for s in _SIZE_WORDS[word.value] if s.lower() in self._sizes)
        while upper := work.take(_UPPER_SIZE_RE):
            sizes.extend(self._size_values(upper.group(1).lower()))
        return tuple(dict.fromkeys(sizes))

    def _size_values(self, raw: str) -> list[str]:
        if raw in self._sizes:
            return [self._sizes[raw]]
        return [s for s in _SIZE_WORDS.get(raw, ()) if s.lower() in self._sizes]

    @staticmethod
    def _present(words: Sequence[_Word], work: _Text) -> list[_Word]:
        """The words (in their order) that occur in the text; the only ones worth a regex search.

        Checked once per rule: blanking a longer word's span never creates a
        shorter word that was not there (it only ever adds runs of spaces as
        long as the blanked word, and words are tried longest first).
        """
        text = work.value
        folded = _fold(text)
        return [w for w in words if w.needle in (folded if w.folded else text)]

    def _types_in(self, work: _Text) -> tuple[str, ...]:
        types = [w.value for w in self._present(self._type_res, work) if work.take(w.pattern)]
        if not types:  # typo tolerance: "snekers", "jaket", "hoodys"
            for token in _WORD_RE.findall(work.value.lower()):
                if (t := self._typo_type(token)) is not None:
                    types.append(t)
        return tuple(dict.fromkeys(types))

    def _typo_type_uncached(self, token: str) -> str | None:
        """The type of the first form (longest first) within the token's typo budget, if any."""
        budget = typo_budget(token)
        if not budget or token in _REAL_WORDS:
            return None
        stemmed = stem(token)
        if len(stemmed) - budget > self._typo_longest:  # no form within reach (and a long word is costly)
            return None
        candidates: set[int] = set()
        for variant in deletions(stemmed, budget):
            candidates.update(self._typo_index.get(variant, ()))
        for i in sorted(candidates):
            form, t = self._typo_forms[i]
            if edit_distance(stemmed, form, budget) <= budget:
                return t
        return None

    def _quantity(self, work: _Text) -> int | None:
        for pattern in (*_QTY_RES, _ZH_QTY_RE):
            if m := work.take(pattern):
                value = _number(m.group(1))
                if value is not None and 0 < value <= 999:
                    return value
        return None

    def _list_index(self, work: _Text) -> int | None:
        for pattern in _INDEX_RES:
            if m := work.take(pattern):
                value = int(m.group(1))
                if 1 <= value <= 50:
                    return value
        for pattern in _ORDINAL_RES:
            if m := work.take(pattern):
                return _ORDINALS[m.group(1).lower()]
        if m := work.take(_ZH_INDEX_RE):
            return _number(m.group(1))
        return None

    @staticmethod
    def _bare_count(work: _Text) -> int | None:
        """A reply that is only a number word ("three", "two please") is a quantity."""
        words = [w for w in re.findall(r"[a-z]+", work.value.lower()) if w not in ("please", "just", "ok", "okay")]
        if len(words) == 1 and words[0] in _NUMBER_WORDS:
            return _NUMBER_WORDS[words[0]]
        return None
