"""Offline intent detection and slot filling: cue words in English and Arabic, scored; no model, no network.

The cue lists are matched on :func:`souk.commerce.search.normalize`'d text (case, diacritics and Arabic letter
variants folded), as whole words or phrases. Each intent's score is its number of matched cues; the winner's share
of the total is the confidence the agent uses to decide between answering and handing over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from souk.agent.language import western_digits
from souk.commerce.search import normalize, strip_arabic_prefix

# fmt: off
CUES: dict[str, list[str]] = {
    "human": [
        "human", "person", "real person", "agent", "representative", "someone", "staff", "talk to", "speak to",
        "customer service", "call me", "موظف", "شخص", "انسان", "بشري", "خدمه العملاء", "مندوب", "ممثل", "اكلم",
        "اتكلم مع", "كلمني", "حولني", "لخدمه العملاء",
    ],
    "complaint": [
        "complaint", "complain", "angry", "terrible", "worst", "awful", "scam", "fraud", "unacceptable",
        "disappointed", "broken", "damaged", "never arrived", "wrong item", "rude", "ridiculous", "useless", "شكوي",
        "سيء", "سيئ", "اسوا", "نصب", "احتيال", "غاضب", "زعلان", "تالف", "مكسور", "غير مقبول", "مش مقبول", "خربان",
        "وصلني غلط", "سرقه",
    ],
    "order_status": [
        "where is my order", "order status", "status of my order", "track", "tracking", "my order", "when will",
        "arrive", "shipped yet", "delivered yet", "وين طلبي", "اين طلبي", "حاله الطلب", "حاله طلبي", "طلبي", "تتبع",
        "شحنتي", "متي يوصل", "متي يصل", "وصل طلبي",
    ],
    "order_history": [
        "my orders", "order history", "past orders", "previous orders", "what did i order", "orders i made", "طلباتي",
        "طلباتي السابقه", "سجل الطلبات", "مشترياتي",
    ],
    "confirm": [
        "yes", "yes please", "confirm", "confirmed", "ok", "okay", "sure", "go ahead", "deal", "place it", "نعم",
        "اكد", "اكيد", "تمام", "موافق", "ايوه", "اي", "طيب", "ماشي",
    ],
    "decline": [
        "no", "cancel", "nevermind", "never mind", "not now", "لا", "الغاء", "الغي", "مش الان",
    ],
    "price": [
        "price", "cost", "how much", "prices", "costs", "cheap", "cheaper", "سعر", "بكم", "كم سعر", "اسعار", "الثمن",
        "ثمن", "كم يكلف", "بكام",
    ],
    "stock": [
        "in stock", "available", "availability", "stock", "do you have", "have any", "left", "sold out", "متوفر",
        "متاح", "موجود", "المخزون", "عندكم", "فيه",
    ],
    "order_create": [
        "buy", "order", "i want", "i would like", "i'd like", "purchase", "add to cart", "i'll take", "get me",
        "send me", "اشتري", "ابغي", "ابي", "اريد", "اطلب", "بدي", "عايز", "عاوز", "احجز", "خذ",
    ],
    "recommend": [
        "recommend", "best seller", "bestseller", "bestsellers", "best sellers", "popular", "suggest",
        "what do you have", "what do you sell", "catalog", "catalogue", "products", "gift", "الاكثر مبيعا", "اقترح",
        "انصح", "تنصحني", "افضل", "منتجاتكم", "ايش عندكم", "شو عندكم", "هديه",
    ],
    "policy": [
        "return", "returns", "refund", "refunds", "exchange", "shipping", "delivery", "deliver", "payment", "pay",
        "warranty", "guarantee", "policy", "hours", "open", "cash on delivery", "cod", "address", "location",
        "استرجاع", "ارجاع", "استرداد", "استبدال", "شحن", "الشحن", "توصيل", "التوصيل", "دفع", "الدفع", "ضمان", "سياسه",
        "مواعيد", "الدفع عند الاستلام", "عنوان", "فرع",
    ],
    "greeting": [
        "hi", "hello", "hey", "good morning", "good evening", "salam", "start", "مرحبا", "السلام عليكم", "اهلا",
        "هلا", "صباح الخير", "مساء الخير",
    ],
    "thanks": [
        "thanks", "thank you", "thx", "شكرا", "مشكور", "يعطيك العافيه",
    ],
}
# fmt: on
STOP_WORDS = (
    "the a an is are of for me my your you i it this that please pls much many some any to do does can what which "
    "with and or in on at piece pieces pcs x product products item items something thing know tell "
    "من في على عن هل لو سمحت ممكن كم هذا هذه ال الي لي عندك و يا ما هو هي ماذا شو ايش اعرف منتج منتجات شي"
)
#: which agent handles which intent (the rest is sales)
SUPPORT_INTENTS = frozenset({"order_status", "order_history", "policy", "complaint", "human"})
#: words that say what the customer wants to do, not what they want: left out of a product query
_COMMAND_WORDS = {normalize(w) for cues in CUES.values() for cue in cues for w in cue.split()} | {
    normalize(w) for w in STOP_WORDS.split()
}
NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "واحد": 1, "واحده": 1, "اثنين": 2, "اثنان": 2, "ثنين": 2, "ثلاث": 3, "ثلاثه": 3, "اربع": 4, "اربعه": 4,
    "خمس": 5, "خمسه": 5, "سته": 6, "ست": 6, "سبع": 7, "سبعه": 7, "ثمان": 8, "ثمانيه": 8, "تسع": 9, "تسعه": 9,
    "عشر": 10, "عشره": 10,
}  # fmt: skip
_CUE_PATTERNS = {
    intent: [re.compile(r"(?<!\w)" + re.escape(normalize(cue)) + r"(?!\w)") for cue in cues]
    for intent, cues in CUES.items()
}
ORDER_REF = re.compile(
    r"(?<![0-9a-z])#?([0-9a-f]{8})(?:-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?(?![0-9a-z])"
)
QUANTITY = re.compile(r"(?<![\d.])(\d{1,3})(?![\d.])")
ANGER_MARKS = re.compile(r"[!؟?]{3,}")


@dataclass
class Understanding:
    intent: str
    confidence: float
    scores: dict[str, int]
    quantity: int | None = None
    order_ref: str | None = None
    product_query: str = ""
    angry: bool = False
    words: list[str] = field(default_factory=list)

    @property
    def agent(self) -> str:
        return "support" if self.intent in SUPPORT_INTENTS else "sales"


def understand(text: str) -> Understanding:
    """The intent of one message, its confidence in [0, 1], and the slots it fills."""
    plain = western_digits(text)
    norm = normalize(plain)
    scores = {intent: sum(1 for p in patterns if p.search(norm)) for intent, patterns in _CUE_PATTERNS.items()}
    # longer phrases say more than single words: "where is my order" beats "order"
    if scores["order_status"] and scores["order_create"]:
        scores["order_create"] -= 1
    if scores["order_history"]:
        scores["order_status"] = max(0, scores["order_status"] - 1)
    upper = [w for w in re.findall(r"[A-Za-z]{3,}", plain)]
    angry = bool(ANGER_MARKS.search(plain)) or (len(upper) >= 3 and all(w.isupper() for w in upper))
    if angry:
        scores["complaint"] += 1
    total = sum(scores.values())
    if total == 0:
        intent, confidence = "unknown", 0.0
    else:
        intent = max(scores, key=lambda k: (scores[k], -list(CUES).index(k)))
        confidence = scores[intent] / total
    quantity = None
    words = norm.split()
    for w in words:
        if w in NUMBER_WORDS:
            quantity = NUMBER_WORDS[w]
            break
    ref = ORDER_REF.search(plain.lower())
    if quantity is None:
        match = QUANTITY.search(ORDER_REF.sub(" ", plain.lower()))
        quantity = int(match.group(1)) if match else None
    stems = (strip_arabic_prefix(w) for w in words if w not in _COMMAND_WORDS)
    query = " ".join(w for w in stems if w not in _COMMAND_WORDS and w not in NUMBER_WORDS and not w.isdigit())
    return Understanding(
        intent=intent,
        confidence=round(confidence, 3),
        scores={k: v for k, v in scores.items() if v},
        quantity=quantity,
        order_ref=ref.group(1) if ref else None,
        product_query=query,
        angry=angry,
        words=words,
    )
