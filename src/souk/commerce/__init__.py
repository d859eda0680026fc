"""Commerce: products, orders and the knowledge base the conversations talk about (seeds 003 and 000).

Importing the package fills the CRM's order hooks (merge moves, scoring's order counter, attribution's order
totals): the one place they are registered, so any process that loads commerce has them.
"""

from souk.commerce.crm_hooks import register as _register_crm_hooks

_register_crm_hooks()
