"""The offline agent's reply templates in English and Arabic; a tenant overrides any of them.

Override with the app setting ``ai_templates``: JSON ``{"en": {"greeting": "…"}, "ar": {…}}``; placeholders are
``string.Template``'s (``$name``, ``$price``, …). Every number in a template comes from a tool result.
"""

from __future__ import annotations

import json
from string import Template

from sqlalchemy.ext.asyncio import AsyncSession

from souk.core.service import setting

DEFAULTS: dict[str, dict[str, str]] = {
    "en": {
        "greeting": "Hello! I can help you find products, check prices and stock, place an order or follow one up. "
        "What are you looking for?",
        "thanks": "You're welcome! Anything else I can help with?",
        "price": "$name costs $price $currency.",
        "in_stock": "$name is in stock ($stock available).",
        "out_of_stock": "$name is out of stock at the moment.",
        "price_stock": "$name costs $price $currency and is in stock ($stock available).",
        "price_no_stock": "$name costs $price $currency, but it is out of stock at the moment.",
        "no_product": 'I couldn\'t find a product matching "$query". Could you describe it differently?',
        "options": "Here is what I found:\n$lines",
        "option_line": "• $name: $price $currency",
        "bestsellers": "Our bestsellers right now:\n$lines",
        "no_bestsellers": "I don't have bestsellers to suggest right now; tell me what you're looking for.",
        "confirm_order": "$quantity × $name at $price $currency each, total $total $currency. "
        "Shall I place the order? (yes / no)",
        "not_enough_stock": "Sorry, only $stock of $name are left. Would you like $stock?",
        "order_placed": "Your order $order_number is placed: $lines. Total $total $currency. We'll confirm it shortly.",
        "order_line": "$quantity × $name",
        "order_dropped": "No problem, I didn't place the order. Anything else?",
        "order_failed": "I couldn't place the order: $reason. A colleague will help you.",
        "order_status": "Your order $order_number ($date) is $status. Total $total $currency.",
        "no_order": "I couldn't find an order of yours$ref. Could you check the order number?",
        "history": "Your recent orders:\n$lines",
        "history_line": "• $order_number ($date): $status, $total $currency",
        "no_history": "You have no orders with us yet.",
        "kb_answer": "$content",
        "not_understood": "Sorry, I didn't understand. I can help with products, prices, orders and our policies.",
        "handoff": "I'm passing you to a colleague who will reply here shortly.",
        "handoff_complaint": "I'm sorry about this. A colleague will look into it and reply here shortly.",
        "status_pending": "pending",
        "status_confirmed": "confirmed",
        "status_paid": "paid",
        "status_shipped": "shipped",
        "status_delivered": "delivered",
        "status_cancelled": "cancelled",
        "status_refunded": "refunded",
    },
    "ar": {
        "greeting": "أهلاً بك! أستطيع مساعدتك في البحث عن المنتجات ومعرفة الأسعار والتوفر وإتمام طلبك أو متابعته. "
        "عن ماذا تبحث؟",
        "thanks": "العفو! هل أستطيع مساعدتك بشيء آخر؟",
        "price": "سعر $name هو $price $currency.",
        "in_stock": "$name متوفر (الكمية المتاحة: $stock).",
        "out_of_stock": "$name غير متوفر حالياً.",
        "price_stock": "سعر $name هو $price $currency وهو متوفر (الكمية المتاحة: $stock).",
        "price_no_stock": "سعر $name هو $price $currency، لكنه غير متوفر حالياً.",
        "no_product": 'لم أجد منتجاً يطابق "$query". هل يمكنك وصفه بطريقة أخرى؟',
        "options": "هذا ما وجدته:\n$lines",
        "option_line": "• $name: $price $currency",
        "bestsellers": "الأكثر مبيعاً لدينا الآن:\n$lines",
        "no_bestsellers": "لا توجد منتجات مقترحة حالياً؛ أخبرني عمّا تبحث عنه.",
        "confirm_order": "$quantity × $name بسعر $price $currency للقطعة، الإجمالي $total $currency. "
        "هل أؤكد الطلب؟ (نعم / لا)",
        "not_enough_stock": "عذراً، المتبقي من $name هو $stock فقط. هل تريد $stock؟",
        "order_placed": "تم تسجيل طلبك $order_number: $lines. الإجمالي $total $currency. سنؤكده لك قريباً.",
        "order_line": "$quantity × $name",
        "order_dropped": "لا مشكلة، لم أسجل الطلب. هل من شيء آخر؟",
        "order_failed": "لم أتمكن من تسجيل الطلب: $reason. سيساعدك أحد زملائي.",
        "order_status": "طلبك $order_number ($date) حالته: $status. الإجمالي $total $currency.",
        "no_order": "لم أجد طلباً باسمك$ref. هل يمكنك التأكد من رقم الطلب؟",
        "history": "طلباتك الأخيرة:\n$lines",
        "history_line": "• $order_number ($date): $status، $total $currency",
        "no_history": "لا توجد لديك طلبات بعد.",
        "kb_answer": "$content",
        "not_understood": "عذراً، لم أفهم. أستطيع مساعدتك في المنتجات والأسعار والطلبات وسياساتنا.",
        "handoff": "سأحولك إلى أحد زملائي وسيرد عليك هنا قريباً.",
        "handoff_complaint": "نعتذر عن ذلك. سيتابع أحد زملائي الأمر ويرد عليك هنا قريباً.",
        "status_pending": "قيد المراجعة",
        "status_confirmed": "مؤكد",
        "status_paid": "مدفوع",
        "status_shipped": "تم الشحن",
        "status_delivered": "تم التوصيل",
        "status_cancelled": "ملغى",
        "status_refunded": "تم رد المبلغ",
    },
}


class Templates:
    def __init__(self, overrides: dict[str, dict[str, str]] | None = None) -> None:
        self.overrides = overrides or {}

    @classmethod
    async def load(cls, session: AsyncSession) -> Templates:
        raw = await setting(session, "ai_templates")
        try:
            overrides = json.loads(raw) if raw else {}
        except ValueError:
            overrides = {}
        return cls(overrides if isinstance(overrides, dict) else {})

    def render(self, language: str, template: str, /, **values: object) -> str:
        lang = language if language in DEFAULTS else "en"
        text = (self.overrides.get(lang) or {}).get(template) or DEFAULTS[lang][template]
        return Template(text).safe_substitute({k: str(v) for k, v in values.items()})
